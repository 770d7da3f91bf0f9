"""Large photos: the strip-by-strip merge (colorize_levels) gives the bytes the whole-picture merge
gave, in 8 bits, and within one level in 16 bits; read_levels, encode in place."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from framecolor.color_cpu import RowUpsampler, strips
from framecolor.images import encode_image, picture_from_array, read_levels, to_array
from framecolor.inference import load_colorizer


@pytest.fixture(scope="module")
def engine():
    return load_colorizer("koala-effnet-lite0", device="cpu", size=64)


@pytest.fixture(scope="module")
def big(astronaut) -> np.ndarray:
    """A real photo upscaled to 2.2 MP, odd sides, so that the merge runs in several strips."""
    return cv2.resize(astronaut, (1713, 1291), interpolation=cv2.INTER_CUBIC)


def _whole(engine, arr: np.ndarray) -> np.ndarray:
    """The whole-picture path: a float Picture, colorize_picture, to_array."""
    out = engine.colorize_picture(picture_from_array(arr))
    return to_array(out.rgb, out.alpha, out.bit_depth)


@pytest.mark.parametrize("channels", ["grey", "rgb", "rgba", "grey+alpha"])
def test_strip_merge_is_bit_exact_in_8_bits(engine, big, channels):
    grey = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY)
    alpha = np.linspace(0, 255, big.shape[1], dtype=np.uint8)[None].repeat(big.shape[0], 0)
    arr = {"grey": grey, "rgb": big, "rgba": np.dstack([big, alpha]),
           "grey+alpha": np.dstack([grey, alpha])}[channels]
    assert len(strips(*arr.shape[:2])) > 3
    want = _whole(engine, arr)
    got = engine.colorize_levels(arr.copy(), in_place=True)
    assert got.dtype == np.uint8 and got.shape == want.shape
    assert np.array_equal(got, want)
    assert np.array_equal(engine.colorize_levels(arr), want)  # not in place: the input is left alone


def test_strip_merge_16_bit_within_one_level(engine, big):
    arr = big.astype(np.uint16) * 257 + np.random.default_rng(0).integers(0, 257, big.shape, dtype=np.uint16)
    want = _whole(engine, arr)
    got = engine.colorize_levels(arr.copy(), in_place=True)
    assert got.dtype == np.uint16
    diff = np.abs(got.astype(np.int32) - want)
    assert diff.max() <= 1 and diff.mean() < 0.01


def test_row_upsampler_is_cv2_resize():
    rng = np.random.default_rng(1)
    for h, w, H, W in [(64, 86, 1291, 1713), (40, 24, 417, 255), (8, 8, 9, 8)]:
        ab = rng.normal(0, 30, (h, w, 2)).astype(np.float32)
        up = RowUpsampler(ab, (H, W))
        rows = np.concatenate([up.rows(r0, r1) for r0, r1 in strips(H, W, 50_000)])
        assert np.array_equal(rows, cv2.resize(ab, (W, H), interpolation=cv2.INTER_LINEAR))


def test_file_path_matches_whole_picture_bytes(engine, big, tmp_path):
    """colorize_file's PNG and JPEG are the bytes the whole-picture path encodes."""
    from framecolor.inference import colorize_file

    src = tmp_path / "scan.png"
    cv2.imwrite(str(src), big[..., ::-1])
    for suffix in (".png", ".jpg"):
        colorize_file(engine, src, tmp_path / f"out{suffix}")
        want = encode_image(_whole(engine, read_levels(src)[0]), suffix)
        assert (tmp_path / f"out{suffix}").read_bytes() == want


def test_encode_in_place_gives_the_same_bytes(big):
    want = encode_image(big, ".png")
    assert encode_image(big.copy(), ".png", in_place=True) == want


def test_workers_are_sized_by_the_largest_photos():
    from framecolor.parallel import PHOTO_BYTES_PER_PIXEL, workers_for_sizes

    mp = 1_000_000
    budget = 4 << 30
    assert workers_for_sizes([mp] * 10, 4, budget) == 4  # small photos keep every worker
    assert workers_for_sizes([300 * mp, 300 * mp, mp], 4, budget) == 1  # two 300 MP scans never side by side
    assert workers_for_sizes([200 * mp, 150 * mp, 100 * mp], 4, budget) == 2  # the third would not fit
    assert workers_for_sizes([0, 0], 2, budget) == 2  # unknown sizes (unreadable files) do not hold a worker back
    assert workers_for_sizes([10**12], 3, budget) == 1  # never fewer than one
    assert 350 * mp * PHOTO_BYTES_PER_PIXEL <= budget < 450 * mp * PHOTO_BYTES_PER_PIXEL


def test_image_pixels_reads_the_header_only(tmp_path, big):
    from framecolor.images import image_pixels

    src = tmp_path / "scan.png"
    cv2.imwrite(str(src), big)
    assert image_pixels(src) == big.shape[0] * big.shape[1]
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert image_pixels(tmp_path / "bad.png") == 0  # the read proper reports the problem
