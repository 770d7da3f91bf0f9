"""The CPU path for 8-bit photos (L* from a table, merge in OpenCV) gives the torch path's picture to
within one 8-bit level, keeps alpha and size, and leaves 16-bit photos to the torch functions."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from framecolor.images import picture_from_array, to_array
from framecolor.inference import load_colorizer


@pytest.fixture(scope="module")
def colorizer():
    return load_colorizer("koala-effnet-lite0", device="cpu", size=64)


def _torch_path(colorizer, pic):
    """The general path: the one 16-bit pictures and GPUs take (bit depth only labels the output)."""
    return colorizer.colorize_picture(dataclasses.replace(pic, bit_depth=16)).rgb


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "camera"])
def test_cpu_path_matches_the_torch_path_on_real_photos(colorizer, name, request):
    img = request.getfixturevalue(name)
    pic = picture_from_array(img)
    fast = colorizer.colorize_picture(pic)
    assert fast.rgb.shape == (*img.shape[:2], 3) and fast.bit_depth == 8
    ours, ref = to_array(fast.rgb, None, 8).astype(int), to_array(_torch_path(colorizer, pic), None, 8).astype(int)
    diff = np.abs(ours - ref)
    assert diff.max() <= 1 and diff.mean() < 0.02
    assert np.abs(ours[..., 0] - ours[..., 2]).mean() > 1  # it is a colour picture, not the grey input


def test_cpu_path_keeps_alpha_and_16_bit_photos_take_the_torch_path(colorizer, chelsea):
    rgba = np.dstack([chelsea, np.linspace(0, 255, chelsea.shape[1], dtype=np.uint8)[None].repeat(300, 0)])
    out = colorizer.colorize(rgba)
    assert out.shape == rgba.shape and out.dtype == np.uint8
    assert np.array_equal(out[..., 3], rgba[..., 3])
    deep = colorizer.colorize(chelsea.astype(np.uint16) * 257)
    assert deep.dtype == np.uint16
    assert np.abs(deep.astype(int) / 257 - colorizer.colorize(chelsea)).max() <= 1.5
