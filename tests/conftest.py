"""Shared fixtures: small real images from scikit-image; CPU only; no network, no training data."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    import skimage.data
    return skimage.data.chelsea()  # (300, 451, 3) uint8, real photo


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    import skimage.data
    return skimage.data.astronaut()  # (512, 512, 3) uint8


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    import skimage.data
    return skimage.data.camera()  # (512, 512) uint8 grey


@contextlib.contextmanager
def script_module(name: str):
    """Import scripts/<name>.py as a module for the duration of a test module."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(spec.name, None)
