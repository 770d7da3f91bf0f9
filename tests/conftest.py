"""Shared fixtures: small real images from scikit-image; CPU only; no network, no training data."""
from __future__ import annotations

import os

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
