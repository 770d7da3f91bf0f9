"""Import Keras for a test module, or skip the module when the keras extra is not installed.

Keras must come through framecolor.keras.require_keras(): it loads triton before TensorFlow
(the reverse order crashes Python).
"""
import pytest


def keras_or_skip():
    fk = pytest.importorskip("framecolor.keras")
    try:
        return fk.require_keras()
    except ImportError:
        pytest.skip("the keras extra is not installed", allow_module_level=True)
