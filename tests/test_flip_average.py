"""Flip averaging (`--flip-average`): a photo's colours are the mean of its own and its mirror image's
a*b*, on photos only; off by default (no shipped card turns it on: docs/notes/loss_choice_plan.md)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from framecolor.cli import main
from framecolor.inference import film_colorizer, load_colorizer

SAMPLE = "samples/chelsea_gray.jpg"


@pytest.fixture(scope="module")
def engines():
    return load_colorizer("unet-lite2", device="cpu", flip_average=True), load_colorizer("unet-lite2", device="cpu")


def _l() -> torch.Tensor:
    import skimage.data
    from framecolor.color_cpu import l_from_pixels

    grey = skimage.data.coffee()[::2, ::2][:128, :192]  # a real photo, working-size (multiples of 8)
    return torch.from_numpy(l_from_pixels(np.ascontiguousarray(grey)))[None, None]


def test_it_is_off_unless_asked_for_and_film_runs_one_pass(engines):
    flip, single = engines
    assert flip.flip_average and not single.flip_average
    film = film_colorizer(flip)
    assert not film.flip_average and film.chroma_gain == 0.6  # the film gain, one prediction a frame


def test_it_is_the_mean_of_both_views_and_mirror_symmetric(engines):
    flip, single = engines
    L = _l()
    both = flip.predict_ab(L)
    expected = (single.predict_ab(L) + single.predict_ab(L.flip(-1)).flip(-1)) / 2
    assert torch.allclose(both, expected, atol=1e-3)  # a batch of 2 vs two of 1: float order only
    assert torch.allclose(flip.predict_ab(L.flip(-1)), both.flip(-1), atol=1e-3)  # mirrored in, mirrored out
    assert (both - single.predict_ab(L)).abs().mean() > 0.1  # and it does change the colours


def test_cli_flip_average_flag(tmp_path, engines):
    from pathlib import Path

    from framecolor.inference import colorize_file

    on, off, api = tmp_path / "on.jpg", tmp_path / "off.jpg", tmp_path / "api.jpg"
    assert main(["colorize", SAMPLE, "-o", str(on), "--no-progress", "--flip-average"]) == 0
    assert main(["colorize", SAMPLE, "-o", str(off), "--no-progress"]) == 0
    colorize_file(engines[0], Path(SAMPLE), api)
    assert on.read_bytes() == api.read_bytes()  # the flag reaches the model
    assert on.read_bytes() != off.read_bytes()
