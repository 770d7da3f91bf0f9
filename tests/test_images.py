"""Reading and writing images: the formats, bit depths, alpha and EXIF orientation a user's scans come in."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from framecolor.images import ImageError, encode_image, find_images, read_image, to_array


def _marked(h: int = 48, w: int = 80) -> np.ndarray:
    """A colour image with a bright top-left block, so any flip or rotation is visible."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 2] = 90
    arr[: h // 3, : w // 4] = (250, 200, 30)
    return arr


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_upright_pixels(tmp_path, orientation):
    upright = _marked()
    # Store pixels so that applying `orientation` brings back `upright` (what a camera does).
    inverse = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
               7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}[orientation]
    stored = Image.fromarray(upright)
    stored = stored.transpose(inverse) if inverse is not None else stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    stored.save(path, quality=95, exif=exif)
    pic = read_image(path)
    assert pic.rgb.shape == upright.shape
    assert np.abs(pic.rgb * 255 - upright).mean() < 4  # JPEG noise only


def test_16_bit_png_keeps_16_bits(tmp_path):
    arr = (np.random.default_rng(0).random((20, 30, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), arr[..., ::-1])
    pic = read_image(tmp_path / "deep.png")
    assert pic.bit_depth == 16
    assert np.array_equal(to_array(pic.rgb, pic.alpha, 16), arr)


def test_16_bit_grey_png(tmp_path):
    arr = (np.linspace(0, 65535, 20 * 30).reshape(20, 30)).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "grey16.png")
    pic = read_image(tmp_path / "grey16.png")
    assert pic.bit_depth == 16 and pic.was_gray
    assert np.allclose(pic.rgb[..., 0] * 65535, arr, atol=0.5)


def test_alpha_channel_is_read(tmp_path):
    rgba = np.dstack([_marked(), np.tile(np.arange(80, dtype=np.uint8) * 3, (48, 1))])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    pic = read_image(tmp_path / "a.png")
    assert pic.alpha is not None and np.array_equal(np.round(pic.alpha * 255).astype(np.uint8), rgba[..., 3])


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif", ".webp", ".bmp"])
def test_formats_round_trip(tmp_path, suffix):
    arr = _marked()
    path = tmp_path / f"x{suffix}"
    path.write_bytes(encode_image(arr, suffix))
    pic = read_image(path)
    assert pic.rgb.shape == arr.shape
    assert np.abs(pic.rgb * 255 - arr).mean() < 4


def test_palette_and_grey_images(tmp_path, camera):
    Image.fromarray(camera).save(tmp_path / "grey.png")
    Image.fromarray(_marked()).convert("P").save(tmp_path / "pal.png")
    grey = read_image(tmp_path / "grey.png")
    assert grey.was_gray and grey.rgb.shape == camera.shape + (3,)
    assert read_image(tmp_path / "pal.png").rgb.shape == (48, 80, 3)


@pytest.mark.parametrize("content, message", [(b"", "empty file"), (b"hello, not a picture\n", "not an image")])
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as err:
        read_image(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_jpeg_is_an_error(tmp_path, chelsea):
    data = encode_image(chelsea, ".jpg")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.jpg"):
        read_image(path)


def test_find_images_recurses_and_skips_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["a.jpg", "sub/b.PNG", "notes.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"x")
    files, errors = find_images([tmp_path, tmp_path / "missing.jpg"])
    assert [f.name for f in files] == ["a.jpg", "b.PNG"]
    assert errors == [f"{tmp_path / 'missing.jpg'}: no such file or folder"]


def test_png_with_a_bad_checksum_is_called_corrupt(tmp_path):
    path = tmp_path / "scan.png"
    Image.fromarray(_marked()).save(path)
    data = bytearray(path.read_bytes())
    data[29] ^= 0xFF  # the IHDR chunk's CRC
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError) as err:
        read_image(path)
    message = str(err.value)
    assert message.startswith(f"{path}: corrupt or truncated PNG file") and "not an image" not in message


def test_truncated_png_is_called_corrupt_or_truncated(tmp_path):
    path = tmp_path / "half.png"
    noise = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    Image.fromarray(noise).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError, match="corrupt or truncated PNG"):
        read_image(path)


def test_hidden_folders_are_not_searched(tmp_path):
    for name in ["a.jpg", ".thumbnails/a.jpg", "sub/.cache/b.png", "sub/c.png", ".x.mp4.framecolor/d.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    files, _ = find_images([tmp_path])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.jpg", "sub/c.png"]
    hidden_root, _ = find_images([tmp_path / ".thumbnails"])  # a hidden folder named itself is searched
    assert [f.name for f in hidden_root] == ["a.jpg"]


@pytest.fixture(scope="module")
def colorizer():
    import torch

    from framecolor.config import ColorizerConfig
    from framecolor.inference import ImageColorizer
    from framecolor.models.registry import build_model

    return ImageColorizer(build_model(ColorizerConfig(name="basic-cnn", embedder=None)).eval(), torch.device("cpu"), 32)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0, 3), (0, 0)])
def test_api_refuses_an_empty_array_clearly(colorizer, shape):
    with pytest.raises(ValueError, match="empty image"):
        colorizer.colorize(np.zeros(shape, np.uint8))


def test_api_refuses_floats_on_the_0_255_scale(colorizer):
    grey = np.linspace(0, 255, 24 * 32, dtype=np.float32).reshape(24, 32)
    with pytest.raises(ValueError, match=r"float pixels must be in \[0, 1\]"):
        colorizer.colorize(grey)
    with pytest.raises(ValueError, match="NaN"):
        colorizer.colorize(np.full((8, 8), np.nan))
    out = colorizer.colorize(grey / 255)  # the same picture on the right scale
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8 and out.min() < 50 and out.max() > 200
