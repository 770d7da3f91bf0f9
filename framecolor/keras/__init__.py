"""Keras 3 / TensorFlow bridge (the optional extra: ``pip install framecolor[keras]``).

- ``models``: the thesis's colorizers written in Keras 3 (fusion, Appendix B.1; basic CNN, B.2).
- ``transfer``: the explicit layer mapping between the Keras and the PyTorch colorizer, both ways.
- ``convert``: Keras colorizer files (.h5 / .keras) <-> framecolor checkpoints (.safetensors + JSON).
- ``backbone``: Keras's InceptionResNetV2 weights (.h5) -> timm ``inception_resnet_v2`` state dict.

Nothing here is imported by ``import framecolor``. Importing this package selects the TensorFlow
backend unless KERAS_BACKEND is already set; it imports neither Keras nor TensorFlow by itself.
"""
from __future__ import annotations

import importlib.util
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

INSTALL_HINT = "the Keras bridge needs the keras extra: pip install 'framecolor[keras]'"


def require_keras():
    """Import and return keras, or raise an ImportError that says how to install it."""
    _import_triton_first()
    try:
        import keras
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from e
    return keras


def _import_triton_first() -> None:
    """Importing TensorFlow and then triton (which torch and timm load lazily) segfaults in triton's
    C extension; triton first, then TensorFlow works. Load triton now if it is installed."""
    if "triton" in sys.modules or importlib.util.find_spec("triton") is None:
        return
    if "tensorflow" in sys.modules:
        raise ImportError("TensorFlow was imported before triton (torch's compiler), and importing triton now "
                          "would crash the interpreter: import framecolor.keras (or timm) before tensorflow")
    import triton  # noqa: F401
