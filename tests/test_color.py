"""Colour science: framecolor.color agrees with scikit-image, and the a*b* scaling is what users are told."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import lab2rgb, rgb2lab

from framecolor.color import denormalize_ab, l_to_rgb, lab_to_rgb, normalize_ab, normalize_l, rgb_to_gray, rgb_to_lab

TOL = 0.05  # issue 2: within 0.05 in L*, a*, b*


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) -> (1, 3, H, W) float64 tensor."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].double()


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).double().numpy()


def _random_rgb(seed: int = 0, shape=(64, 80, 3)) -> np.ndarray:
    rgb = np.random.default_rng(seed).random(shape)
    rgb[:4] = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 0, 1]])[:, None, :]  # extremes included
    return rgb


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "coffee", "random"])
def test_rgb_to_lab_matches_skimage(name):
    import skimage.data
    rgb = _random_rgb() if name == "random" else getattr(skimage.data, name)() / 255.0
    ours = _to_numpy(rgb_to_lab(_to_tensor(rgb)))
    assert np.abs(ours - rgb2lab(rgb)).max(axis=(0, 1)).max() < TOL


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "coffee", "random"])
def test_lab_to_rgb_matches_skimage_in_lab(name):
    """Round-trip real Lab values through both converters and compare in Lab units."""
    import skimage.data
    rgb = _random_rgb(1) if name == "random" else getattr(skimage.data, name)() / 255.0
    lab = rgb2lab(rgb)
    ours = _to_numpy(lab_to_rgb(_to_tensor(lab)))
    theirs = lab2rgb(lab)
    assert np.abs(rgb2lab(ours) - rgb2lab(theirs)).max() < TOL
    assert np.abs(ours - rgb).max() < 1e-3  # and the round trip gives the photo back


def test_lab_to_rgb_out_of_gamut_is_clipped_like_skimage():
    rng = np.random.default_rng(2)
    lab = np.stack([rng.uniform(0, 100, (32, 32)), rng.uniform(-128, 127, (32, 32)),
                    rng.uniform(-128, 127, (32, 32))], axis=-1)
    ours = _to_numpy(lab_to_rgb(_to_tensor(lab)))
    with pytest.warns(UserWarning):  # skimage warns about negative Z values it clips
        theirs = lab2rgb(lab)
    assert ours.min() >= 0 and ours.max() <= 1
    assert np.abs(rgb2lab(ours) - rgb2lab(theirs)).max() < TOL


def test_batched_and_unbatched_agree():
    rgb = torch.rand(3, 3, 16, 24)
    batched = rgb_to_lab(rgb)
    single = torch.stack([rgb_to_lab(x) for x in rgb])
    assert torch.allclose(batched, single, atol=1e-5)
    assert batched.dtype == torch.float32


def test_grey_has_zero_chroma_and_same_lightness(chelsea):
    rgb = _to_tensor(chelsea / 255.0).float()
    lab = rgb_to_lab(rgb)
    grey = rgb_to_gray(rgb)
    grey_lab = rgb_to_lab(grey)
    assert (grey - grey.mean(dim=1, keepdim=True)).abs().max() < 1e-4  # three equal channels
    assert (grey_lab[:, 1:].abs() < 0.05).all()
    assert (grey_lab[:, 0] - lab[:, 0]).abs().max() < 0.05
    assert torch.equal(l_to_rgb(lab[:, :1]), grey)


def test_normalisation_ranges_and_chroma_gain():
    L = torch.tensor([0.0, 50.0, 100.0])
    assert torch.allclose(normalize_l(L), torch.tensor([-1.0, 0.0, 1.0]))
    ab = torch.tensor([-128.0, 0.0, 64.0])
    assert torch.allclose(denormalize_ab(normalize_ab(ab)), ab)  # gain 1 is the exact inverse
    assert torch.allclose(denormalize_ab(normalize_ab(ab), chroma_gain=2.0), 2 * ab)  # the thesis's x256
