"""The CPU video path's OpenCV colour conversion gives the numbers of the torch reference (color.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from framecolor.color import lab_to_rgb, rgb_to_lab
from framecolor.color_cpu import L_OF_GRAY, lab_to_rgb8
from framecolor.color_cpu import l_from_rgb8_array as l_from_rgb8
from framecolor.inference import working_shape
from framecolor.color import l_from_rgb8_tensor as l_from_rgb8_torch
from framecolor.film.stream import StreamColorizer

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "traffic_short.mp4"


def _frames(n: int = 3) -> list[np.ndarray]:
    import av

    with av.open(str(SAMPLE)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0))]


def _images() -> list[np.ndarray]:
    import skimage.data

    return _frames(2) + [skimage.data.astronaut(), skimage.data.coffee()]


def _reference(L: torch.Tensor, ab_small: torch.Tensor) -> np.ndarray:
    """The torch merge: (1, 1, H, W) L*, (1, 2, h, w) a*b* -> (H, W, 3) uint8."""
    ab = F.interpolate(ab_small, size=L.shape[-2:], mode="bilinear", align_corners=False)
    rgb = lab_to_rgb(torch.cat((L, ab), dim=1)).clamp(0, 1).mul(255).round().to(torch.uint8)
    return rgb[0].permute(1, 2, 0).numpy()


def _l_torch(rgb: np.ndarray) -> torch.Tensor:
    return l_from_rgb8_torch(torch.from_numpy(rgb).permute(2, 0, 1)[None])


@pytest.mark.parametrize("index", range(4))
def test_l_star_from_uint8_matches_torch_and_color_module(index):
    rgb = _images()[index]
    ours = l_from_rgb8(rgb)
    assert ours.shape == rgb.shape[:2] and ours.dtype == np.float32
    assert np.abs(ours - _l_torch(rgb)[0, 0].numpy()).max() < 1e-3
    exact = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).double() / 255)[0].numpy()
    assert np.abs(ours - exact).max() < 1e-3


def test_grey_table_is_l_star_of_each_grey_level():
    levels = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    assert np.abs(L_OF_GRAY - l_from_rgb8(levels)[0]).max() < 1e-3
    assert L_OF_GRAY[0] == 0 and abs(L_OF_GRAY[255] - 100) < 1e-3


def _real_ab(rgb: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """a*b* of a real colour photo at the working size: what a colorizer predicts, roughly."""
    lab = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
    return F.interpolate(lab[:, 1:], size=shape, mode="bilinear", antialias=True)


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("chroma", ["real", "extreme"])
def test_fast_merge_agrees_with_torch_lab_to_rgb(index, chroma):
    """Within one 8-bit level everywhere, and equal on all but a few pixels (float rounding)."""
    import skimage.data

    rgb = _images()[index]
    L = _l_torch(rgb)
    shape = working_shape(*rgb.shape[:2], 64)
    if chroma == "real":
        ab = _real_ab(skimage.data.coffee(), shape)
    else:  # anything a tanh head can output, out-of-gamut corners included
        ab = torch.empty(1, 2, *shape).uniform_(-128, 127, generator=torch.Generator().manual_seed(index))
    ours = lab_to_rgb8(L[0, 0].numpy(), ab[0].permute(1, 2, 0).contiguous().numpy())
    ref = _reference(L, ab)
    assert ours.shape == ref.shape and ours.dtype == np.uint8
    diff = np.abs(ours.astype(int) - ref)
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.01


def test_dark_very_yellow_pixels_are_clipped_like_the_reference():
    """Where b* pushes f(Z) below 0 the reference clips it (as scikit-image does); OpenCV alone does not."""
    L = np.full((8, 8), 10.0, np.float32)
    ab = np.zeros((8, 8, 2), np.float32)
    ab[..., 0], ab[..., 1] = 60.0, 120.0
    ref = _reference(torch.from_numpy(L)[None, None], torch.from_numpy(ab).permute(2, 0, 1)[None])
    assert np.abs(lab_to_rgb8(L, ab).astype(int) - ref).max() <= 1


@dataclass
class _ContentEngine:
    """Deterministic stand-in for a colorizer: a*b* follow L*, so every pixel gets a colour."""

    size: int = 64
    batch_size: int = 2
    device: torch.device = torch.device("cpu")
    model: object = field(default_factory=lambda: type("M", (), {"temporal": None})())

    def predict_ab(self, L: torch.Tensor) -> torch.Tensor:
        return torch.cat(((L - 50) * 1.2, (60 - L) * 0.9), dim=1)


def test_stream_colorizer_on_cpu_matches_the_torch_path():
    frames = _frames(2)
    out = StreamColorizer(_ContentEngine())(frames)
    assert out.shape == (2, *frames[0].shape) and out.dtype == np.uint8
    for frame, got in zip(frames, out):
        L = _l_torch(frame)
        small = F.interpolate(L, size=working_shape(*frame.shape[:2], 64), mode="bilinear", antialias=True)
        ref = _reference(L, _ContentEngine().predict_ab(small))
        diff = np.abs(got.astype(int) - ref)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_grey_video_frames_come_as_their_grey_level_with_the_decoders_numbers():
    import av

    from framecolor.video import probe
    from framecolor.video.reader import read_frames

    frames = list(read_frames(probe(SAMPLE)))
    with av.open(str(SAMPLE)) as c:
        truth = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == len(truth) == 60
    assert all(f.pixels.shape == truth[0].shape[:2] for f in frames)  # the real grey film: luma only
    assert all(np.array_equal(f.rgb, t) for f, t in zip(frames, truth))


def test_colour_video_frames_stay_rgb(tmp_path):
    import video_clips as vc

    from framecolor.video import probe
    from framecolor.video.reader import read_frames

    frames = list(read_frames(probe(vc.make_clip(tmp_path / "colour.mp4", n=4))))
    assert len(frames) == 4 and all(f.pixels.ndim == 3 and f.rgb is f.pixels for f in frames)


def test_grey_levels_and_their_rgb_colorize_alike():
    frames = [f[..., 0].copy() for f in _frames(2)]  # the sample is grey film: R = G = B
    grey = StreamColorizer(_ContentEngine())(frames)
    rgb = StreamColorizer(_ContentEngine())([np.repeat(f[..., None], 3, axis=2) for f in frames])
    assert grey.shape == rgb.shape == (2, *frames[0].shape, 3)
    assert np.abs(grey.astype(int) - rgb).max() <= 1
