"""Metrics: the numbers in the evaluation table mean what their names say."""
from __future__ import annotations

import numpy as np
import pytest

from framecolor.metrics import cdc, colorfulness, psnr, ssim, warp_error


def test_psnr_known_values():
    a = np.zeros((8, 8, 3))
    assert psnr(a, a) == float("inf")
    assert psnr(a + 0.1, a) == pytest.approx(20.0)  # mse 0.01 -> 20 dB
    assert psnr(a + 0.01, a) == pytest.approx(40.0)


def test_ssim_identical_and_degraded(chelsea):
    x = chelsea / 255.0
    noisy = np.clip(x + np.random.default_rng(0).normal(0, 0.1, x.shape), 0, 1)
    assert ssim(x, x) == pytest.approx(1.0)
    assert 0 < ssim(noisy, x) < 0.9


def test_colorfulness_hasler_suesstrunk():
    grey = np.full((16, 16, 3), 0.5)
    assert colorfulness(grey) == pytest.approx(0.0)
    red = np.zeros((16, 16, 3))
    red[..., 0] = 1.0
    # rg = 255, yb = 127.5, no spread: M = 0.3 * hypot(255, 127.5)
    assert colorfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))


def test_colorfulness_orders_real_photos(chelsea, astronaut):
    from skimage.color import rgb2gray
    vivid, grey = astronaut / 255.0, np.repeat(rgb2gray(astronaut)[..., None], 3, axis=2)
    assert colorfulness(vivid) > 30 > colorfulness(grey)
    assert colorfulness(vivid) > colorfulness(chelsea / 255.0)  # the astronaut's suit and flag beat a tabby cat


def test_cdc_is_zero_for_a_still_and_grows_with_flicker(chelsea):
    x = chelsea[::4, ::4] / 255.0
    still = [x] * 6
    flicker = [x if t % 2 else x[..., ::-1] for t in range(6)]
    assert cdc(still) == pytest.approx(0.0)
    assert cdc(flicker) > 0.01
    with pytest.raises(ValueError):
        cdc([x])


def test_warp_error_is_low_for_a_pan_and_high_for_flicker(chelsea):
    base = chelsea / 255.0
    pan = [np.ascontiguousarray(base[:200, t * 2:t * 2 + 300]) for t in range(4)]
    flicker = [f * (0.6 if t % 2 else 1.0) for t, f in enumerate(pan)]
    greys = [(f.mean(-1) * 255).astype(np.uint8) for f in pan]
    assert warp_error(pan, greys) < 0.2 * warp_error(flicker, greys)
