"""MNIST experiments: ResNet-34 against a plain ConvNet-34 (thesis chapter 3), done reproducibly.

Shares nothing with ``framecolor`` except style. Nothing runs at import.
"""
__version__ = "0.1.0"
