"""`framecolor colorize` end to end on CPU with a small untrained checkpoint: what a user sees on disk."""
from __future__ import annotations

import json
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from framecolor.cli import main
from framecolor.config import ColorizerConfig
from framecolor.images import encode_image, read_image
from framecolor.models.registry import BUNDLED_DIR, COLORIZERS, build_model, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def basic_ckpt(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "basic.safetensors"
    return str(save_checkpoint(build_model(ColorizerConfig(name="basic-cnn", embedder=None)), path))


@pytest.fixture(scope="module")
def fusion_ckpt(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "fusion.safetensors"
    return str(save_checkpoint(build_model(ColorizerConfig()), path))


def run(ckpt: str, *args: str) -> int:
    return main(["colorize", *map(str, args), "--model", ckpt, "--size", "64", "--no-progress"])


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lightness(arr: np.ndarray) -> np.ndarray:
    """uint8/uint16 (H, W, 3|4) RGB -> L* in [0, 100]."""
    from skimage.color import rgb2lab
    return rgb2lab(arr[..., :3] / np.iinfo(arr.dtype).max)[..., 0]


def _read(path: Path) -> np.ndarray:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert arr is not None, f"{path} was not written"
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return arr


def test_fusion_model_keeps_size_and_sharpness(tmp_path, fusion_ckpt, chelsea):
    src = tmp_path / "cat.png"
    Image.fromarray(chelsea).save(src)
    assert run(fusion_ckpt, src) == 0
    out = _read(tmp_path / "cat_color.png")
    assert out.shape == chelsea.shape  # full size, although the model ran at 64 px
    # the full-resolution L* of the input is kept: fine detail survives
    assert np.abs(_lightness(out) - _lightness(chelsea)).mean() < 1.0


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif", ".webp", ".bmp"])
def test_grey_input_in_every_format(tmp_path, basic_ckpt, camera, suffix):
    src = tmp_path / f"scan{suffix}"
    small = camera[::4, ::3]  # (128, 171): not a multiple of 8
    src.write_bytes(encode_image(np.dstack([small] * 3), suffix))
    assert run(basic_ckpt, src) == 0
    out = read_image(tmp_path / f"scan_color{suffix}")
    assert out.rgb.shape == small.shape + (3,)


def test_colour_input_is_made_grey_first(tmp_path, basic_ckpt, chelsea):
    from skimage.color import lab2rgb, rgb2lab
    lab = rgb2lab(chelsea)
    lab[..., 1:] = 0
    grey = np.round(lab2rgb(lab) * 255).astype(np.uint8)
    Image.fromarray(chelsea).save(tmp_path / "colour.png")
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert run(basic_ckpt, tmp_path / "colour.png", tmp_path / "grey.png") == 0
    a, b = _read(tmp_path / "colour_color.png"), _read(tmp_path / "grey_color.png")
    assert np.abs(a.astype(int) - b).mean() < 1.0  # the original colours never leak into the result


def test_chroma_gain_option_makes_colours_stronger(tmp_path, basic_ckpt, chelsea):
    from framecolor.metrics import colorfulness
    Image.fromarray(chelsea).save(tmp_path / "cat.png")
    assert run(basic_ckpt, tmp_path / "cat.png", "-o", tmp_path / "g1.png") == 0
    assert run(basic_ckpt, tmp_path / "cat.png", "-o", tmp_path / "g2.png", "--chroma-gain", "2") == 0
    plain, vivid = colorfulness(_read(tmp_path / "g1.png") / 255), colorfulness(_read(tmp_path / "g2.png") / 255)
    assert plain > 0.5 and vivid > 1.5 * plain


def test_alpha_is_kept(tmp_path, basic_ckpt):
    rgba = np.zeros((40, 56, 4), np.uint8)
    rgba[..., :3] = np.linspace(0, 255, 56, dtype=np.uint8)[None, :, None]
    rgba[..., 3] = np.linspace(0, 255, 40, dtype=np.uint8)[:, None]
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    assert run(basic_ckpt, tmp_path / "logo.png") == 0
    out = _read(tmp_path / "logo_color.png")
    assert out.shape == rgba.shape and np.array_equal(out[..., 3], rgba[..., 3])


def test_16_bit_png_in_16_bit_out(tmp_path, basic_ckpt):
    ramp = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert run(basic_ckpt, tmp_path / "deep.png") == 0
    out = _read(tmp_path / "deep_color.png")
    assert out.dtype == np.uint16 and out.shape == (48, 64, 3)
    assert len(np.unique(out[..., 1])) > 256  # more levels than 8 bits can hold


def test_exif_rotated_jpeg_gives_upright_output(tmp_path, basic_ckpt):
    upright = np.zeros((80, 48), np.uint8)
    upright[:20, :12] = 255  # bright top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.jpg", exif=exif)
    assert run(basic_ckpt, tmp_path / "phone.jpg") == 0
    L = _lightness(_read(tmp_path / "phone_color.jpg"))
    assert L.shape == upright.shape
    assert L[:20, :12].mean() > 90 and L[40:, 24:].mean() < 10


def test_side_by_side_shows_before_and_after(tmp_path, basic_ckpt, camera):
    Image.fromarray(camera[:96, :128]).save(tmp_path / "g.png")
    assert run(basic_ckpt, tmp_path / "g.png", "--side-by-side", "-o", tmp_path / "out") == 0
    out = _read(tmp_path / "out" / "g_color.png")
    assert out.shape == (96, 256, 3)
    assert np.abs(out[:, :128].astype(int) - camera[:96, :128, None]).max() <= 1  # left: the input


def test_folder_layout_is_kept_under_output(tmp_path, basic_ckpt, camera):
    (tmp_path / "in" / "1950s").mkdir(parents=True)
    Image.fromarray(camera[:64, :64]).save(tmp_path / "in" / "a.jpg")
    Image.fromarray(camera[:64, :64]).save(tmp_path / "in" / "1950s" / "b.png")
    assert run(basic_ckpt, tmp_path / "in", "-o", tmp_path / "out") == 0
    assert (tmp_path / "out" / "a_color.jpg").is_file()
    assert (tmp_path / "out" / "1950s" / "b_color.png").is_file()


# ---- bad inputs: one-line error naming the file, the rest still done, non-zero exit, inputs untouched ----

@pytest.fixture
def mixed_folder(tmp_path, chelsea, camera) -> Path:
    folder = tmp_path / "box"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(chelsea).save(folder / "good.jpg")
    Image.fromarray(camera[:64, :96]).save(folder / "sub" / "good2.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "fake.jpg").write_text("this is a text file with an image name\n")
    data = encode_image(chelsea, ".jpg")
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    (folder / "readme.txt").write_text("not an image, and not named like one\n")
    return folder


def _errors(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


def _hashes(folder: Path) -> dict[Path, str]:
    return {p: _hash(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_mixed_folder_reports_each_bad_file_and_does_the_rest(mixed_folder, basic_ckpt, capsys, tmp_path):
    before = _hashes(mixed_folder)
    assert run(basic_ckpt, mixed_folder, "-o", tmp_path / "out") == 1
    errors = _errors(capsys)
    assert len(errors) == 3
    for name, why in [("empty.png", "empty"), ("fake.jpg", "not an image"), ("cut.jpg", "")]:
        assert any(name in e and why in e for e in errors), (name, errors)
    assert (tmp_path / "out" / "good_color.jpg").is_file()
    assert (tmp_path / "out" / "sub" / "good2_color.png").is_file()
    assert _hashes(mixed_folder) == before  # inputs never modified
    assert not list((tmp_path / "out").rglob(".*"))  # no half-written temporary files left


@pytest.mark.parametrize("name, why", [("empty.png", "empty"), ("fake.jpg", "not an image"),
                                       ("cut.jpg", "cut.jpg"), ("readme.txt", "not an image")])
def test_single_bad_file_given_by_name(mixed_folder, basic_ckpt, capsys, name, why):
    assert run(basic_ckpt, mixed_folder / name, mixed_folder / "good.jpg") == 1
    errors = _errors(capsys)
    assert len(errors) == 1 and name in errors[0] and why in errors[0]
    assert (mixed_folder / "good_color.jpg").is_file()


def test_missing_input_is_reported(tmp_path, basic_ckpt, capsys, camera):
    Image.fromarray(camera[:64, :64]).save(tmp_path / "ok.png")
    assert run(basic_ckpt, tmp_path / "nope.jpg", tmp_path / "ok.png") == 1
    assert any("nope.jpg" in e for e in _errors(capsys))
    assert (tmp_path / "ok_color.png").is_file()


def test_unwritable_output_folder(tmp_path, basic_ckpt, capsys, camera):
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    Image.fromarray(camera[64:128, :64]).save(tmp_path / "b.png")
    if os.geteuid() == 0:  # root ignores permissions: a path below a regular file cannot be written either
        (tmp_path / "somefile.txt").write_text("x")
        out = tmp_path / "somefile.txt" / "sub"
    else:
        out = tmp_path / "locked"
        out.mkdir()
        out.chmod(0o500)
    try:
        assert run(basic_ckpt, tmp_path / "a.png", tmp_path / "b.png", "-o", out) == 1
    finally:
        if out.name == "locked":
            out.chmod(0o700)
    errors = _errors(capsys)
    assert len(errors) == 2 and all("cannot write" in e for e in errors)
    assert any("a_color.png" in e for e in errors) and any("b_color.png" in e for e in errors)


def test_output_equal_to_input_is_refused(tmp_path, basic_ckpt, capsys, camera):
    src = tmp_path / "photo.png"
    Image.fromarray(camera[:64, :64]).save(src)
    before = _hash(src)
    assert run(basic_ckpt, src, "-o", src) == 2  # one photo given alone: a bad single input
    errors = _errors(capsys)
    assert len(errors) == 1 and "photo.png" in errors[0] and "input" in errors[0]
    assert _hash(src) == before


def test_output_of_one_input_never_overwrites_another_input(tmp_path, basic_ckpt, capsys, camera):
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    Image.fromarray(camera[64:128, :64]).save(tmp_path / "a_color.png")  # a user's file, given as input
    before = _hash(tmp_path / "a_color.png")
    assert run(basic_ckpt, tmp_path / "a.png", tmp_path / "a_color.png") == 1
    assert _hash(tmp_path / "a_color.png") == before
    errors = _errors(capsys)
    assert len(errors) == 1 and "a_color.png" in errors[0]
    assert (tmp_path / "a_color_color.png").is_file()


def test_two_inputs_with_one_output_name(tmp_path, basic_ckpt, capsys, camera):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        Image.fromarray(camera[:64, :64]).save(tmp_path / d / "same.png")
    assert run(basic_ckpt, tmp_path / "x" / "same.png", tmp_path / "y" / "same.png", "-o", tmp_path / "out") == 1
    errors = _errors(capsys)
    assert len(errors) == 1 and str(tmp_path / "y" / "same.png") in errors[0]
    assert (tmp_path / "out" / "same_color.png").is_file()


def test_bad_model_is_one_line_and_exit_2(tmp_path, capsys, camera):
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    assert run(str(tmp_path / "nothing.safetensors"), tmp_path / "a.png") == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and "nothing.safetensors" in errors[0]


def test_console_entry_point(tmp_path, basic_ckpt, camera):
    """`python -m framecolor` as a user runs it: stderr carries the errors, exit code 1 when any failed."""
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "framecolor", "colorize", str(tmp_path), "--model", basic_ckpt,
                           "--size", "64", "--no-progress"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "b.png" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "a_color.png").is_file()


@pytest.mark.skipif(not (BUNDLED_DIR / COLORIZERS["koala-effnet-lite0"]).is_file(),
                    reason="shipped fusion weights are not in this checkout yet")
def test_default_model_colours_the_bundled_sample(tmp_path):
    samples = sorted((ROOT / "samples").glob("*.jpg"))
    assert samples, "samples/ holds the README's demo image"
    out = tmp_path / "demo.png"
    assert main(["colorize", str(samples[0]), "-o", str(out), "--no-progress"]) == 0
    arr = _read(out)
    assert arr.shape[:2] == _read(samples[0]).shape[:2]
    from framecolor.metrics import colorfulness
    assert colorfulness(arr / 255.0) > 5  # visibly coloured, not grey


def test_photos_and_film_default_to_the_shipped_unet():
    from framecolor.cli import build_parser
    from framecolor.config import PHOTO_MODEL, VIDEO_MODEL
    from framecolor.models.embedders import sha256_file
    from framecolor.models.registry import DEFAULT_MODEL, read_meta, sidecar

    assert DEFAULT_MODEL == PHOTO_MODEL == VIDEO_MODEL == "unet-lite2"
    parser = build_parser()
    assert parser.parse_args(["colorize", "a.jpg"]).model == PHOTO_MODEL
    assert parser.parse_args(["video", "a.mp4", "-o", "b.mp4"]).model == VIDEO_MODEL
    assert parser.parse_args(["evaluate-video", "a.mp4"]).model == VIDEO_MODEL
    assert parser.parse_args(["evaluate", "--data", "d", "-o", "e"]).model.split(",")[:2] == [PHOTO_MODEL, "koala-effnet-lite0-photo"]
    for name in (PHOTO_MODEL, VIDEO_MODEL):  # both shipped, each with a card whose hash matches its file
        path = BUNDLED_DIR / COLORIZERS[name]
        assert path.is_file() and path.stat().st_size < 50e6
        card = json.loads(sidecar(path).read_text())
        assert card["sha256"] == sha256_file(path) and card["training_command"].startswith("framecolor train")
        assert read_meta(path)["config"]["name"] == name


def test_cpu_workers_colorize_files_as_one_worker_does(tmp_path, basic_ckpt, chelsea, astronaut, camera, monkeypatch):
    """On the CPU several files are colorized at once by one-thread workers: the same images, the
    results in input order, and a bad file among them still reported alone."""
    import torch

    import framecolor.inference as inference

    src = tmp_path / "in"
    src.mkdir()
    for name, arr in [("a_cat.png", chelsea), ("b_astronaut.jpg", astronaut), ("d_camera.png", camera)]:
        Image.fromarray(arr).save(src / name)
    (src / "c_broken.jpg").write_bytes(b"not an image")
    colorizer = inference.load_colorizer(basic_ckpt, "cpu", size=64)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert inference.file_workers(colorizer, 4) == 2 and inference.file_workers(colorizer, 1) == 1
        parallel = inference.colorize_files(colorizer, [src], tmp_path / "two", progress=False)
        monkeypatch.setattr(inference, "file_workers", lambda c, n: 1)
        serial = inference.colorize_files(colorizer, [src], tmp_path / "one", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert [r.source.name for r in parallel] == [r.source.name for r in serial] == \
        ["a_cat.png", "b_astronaut.jpg", "c_broken.jpg", "d_camera.png"]
    assert [bool(r.error) for r in parallel] == [False, False, True, False]
    assert "c_broken.jpg" in parallel[2].error
    for r, s in zip(parallel, serial):
        if r.output is not None:  # one-thread and two-thread convolutions may round differently
            diff = np.abs(_read(r.output).astype(int) - _read(s.output).astype(int))
            assert diff.max() <= 1 + 2 * r.output.suffix.endswith("jpg"), r.source.name


def test_a_file_named_twice_is_colorized_once(tmp_path, basic_ckpt, chelsea, capsys):
    Image.fromarray(chelsea).save(tmp_path / "a.png")
    assert run(basic_ckpt, tmp_path / "a.png", tmp_path / "a.png", tmp_path) == 0
    assert (tmp_path / "a_color.png").is_file()
    assert "colorized 1 image(s)" in capsys.readouterr().err


# ---- one error model: documented exit codes, one line per error, no traceback ----

@pytest.mark.parametrize("make, why", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(b"not a picture at all"), "not an image"),
    (lambda p: None, "no such file"),
])
def test_one_bad_photo_given_alone_is_exit_2_and_leaves_nothing(tmp_path, basic_ckpt, capsys, make, why):
    src = tmp_path / "in" / "bad.png"
    src.parent.mkdir()
    make(src)
    assert run(basic_ckpt, src) == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and str(src) in errors[0] and why in errors[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["in"] + (["bad.png"] if src.exists() else []))


def test_one_bad_photo_in_a_folder_is_a_batch_failure_exit_1(tmp_path, basic_ckpt, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.png").write_bytes(b"")
    assert run(basic_ckpt, tmp_path / "in", "-o", tmp_path / "out") == 1
    errors = _errors(capsys)
    assert len(errors) == 1 and "bad.png" in errors[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_folder_without_images_is_exit_2(tmp_path, basic_ckpt, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("no photos here")
    assert run(basic_ckpt, tmp_path / "in") == 2
    assert _errors(capsys) == ["error: no images found in the inputs"]


def test_help_says_a_single_bad_photo_is_exit_2(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    status_2 = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  2 ")]
    assert len(status_2) == 1 and "one photo given alone" in status_2[0]


def test_exit_codes_are_documented_in_the_top_level_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "exit status" in out
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n  {code}" in out, code


def test_interrupt_is_exit_130_without_a_traceback(tmp_path, basic_ckpt, capsys, camera, monkeypatch):
    import framecolor.inference as inference

    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(inference, "colorize_file", interrupted)
    assert run(basic_ckpt, tmp_path / "a.png") == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted") and "Traceback" not in err


def test_library_errors_carry_the_file_and_the_reason(tmp_path):
    from framecolor.errors import InputError

    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "empty.png")
    assert err.value.path == tmp_path / "empty.png" and err.value.reason == "empty file (0 bytes)"
    assert str(err.value) == f"{tmp_path / 'empty.png'}: empty file (0 bytes)"
    with pytest.raises(InputError, match="is a folder"):
        read_image(tmp_path)


def test_a_bad_model_setting_is_exit_2_and_one_line(tmp_path, basic_ckpt, capsys, camera):
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    rc = main(["colorize", str(tmp_path / "a.png"), "--model", basic_ckpt, "--size", "0", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and len(err.splitlines()) == 1 and "size" in err
    assert not (tmp_path / "a_color.png").exists()


# ---- --max-pixels: huge scans are refused by name, the rest still done, no Pillow warning below it ----

def _zeros_png(path: Path, w: int, h: int) -> Path:
    """A grey PNG of w x h zeros, compressed row by row: many pixels, a few hundred KB on disk."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z, row = zlib.compressobj(9), b"\0" * (w + 1)
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_scan_over_pillows_bomb_limit_is_refused_by_name_and_the_batch_goes_on(tmp_path, basic_ckpt, capsys, camera):
    big = _zeros_png(tmp_path / "big.png", 20000, 10000)  # 200 megapixels: Pillow itself raises above 179
    assert big.stat().st_size < 1_000_000
    Image.fromarray(camera[:64, :64]).save(tmp_path / "small.png")
    assert run(basic_ckpt, big, tmp_path / "small.png", "-o", tmp_path / "out", "--max-pixels", "100M") == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err and "DecompressionBomb" not in err
    assert str(big) in errors[0] and "20000 x 10000" in errors[0] and "--max-pixels" in errors[0]
    assert (tmp_path / "out" / "small_color.png").is_file() and not (tmp_path / "out" / "big_color.png").exists()


def test_max_pixels_refuses_a_small_image_over_a_low_limit(tmp_path, basic_ckpt, capsys, camera):
    Image.fromarray(camera[:40, :50]).save(tmp_path / "a.png")
    assert run(basic_ckpt, tmp_path / "a.png", "--max-pixels", "1999") == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and "a.png" in errors[0] and "50 x 40" in errors[0] and "--max-pixels" in errors[0]
    assert not (tmp_path / "a_color.png").exists()
    assert run(basic_ckpt, tmp_path / "a.png", "--max-pixels", "2000") == 0


def test_no_pillow_bomb_warning_below_the_limit(tmp_path, basic_ckpt, capsys, camera, monkeypatch):
    import warnings

    import PIL.Image

    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own limit below the image and ours
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    Image.fromarray(camera[:64, :64]).save(tmp_path / "b.jpg")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert run(basic_ckpt, tmp_path / "a.png", tmp_path / "b.jpg") == 0
    assert not [w for w in seen if issubclass(w.category, PIL.Image.DecompressionBombWarning)]
    assert "warning" not in capsys.readouterr().err.lower()
    assert PIL.Image.MAX_IMAGE_PIXELS == 1000  # Pillow's setting is restored after the reads


# ---- -o: one file for one input, else a folder; never a folder named like an image ----

@pytest.mark.parametrize("out", ["single.png", "x.gif", "photo.JPG"])
def test_several_inputs_into_an_image_name_is_a_usage_error(tmp_path, basic_ckpt, capsys, camera, out):
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    Image.fromarray(camera[:64, :64]).save(tmp_path / "b.jpg")
    assert run(basic_ckpt, tmp_path / "a.png", tmp_path / "b.jpg", "-o", tmp_path / out) == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and out in errors[0] and "folder" in errors[0]
    assert not (tmp_path / out).exists() and not list(tmp_path.glob("*_color*"))


def test_a_folder_input_into_an_image_name_is_a_usage_error(tmp_path, basic_ckpt, capsys, camera):
    (tmp_path / "in").mkdir()
    Image.fromarray(camera[:64, :64]).save(tmp_path / "in" / "a.png")
    assert run(basic_ckpt, tmp_path / "in", "-o", tmp_path / "single.png") == 2
    assert "folder" in _errors(capsys)[0] and not (tmp_path / "single.png").exists()


def test_one_input_into_a_gif_name_is_a_usage_error(tmp_path, basic_ckpt, capsys, camera):
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    assert run(basic_ckpt, tmp_path / "a.png", "-o", tmp_path / "x.gif") == 2
    errors = _errors(capsys)
    assert len(errors) == 1 and "x.gif" in errors[0] and "cannot write '.gif'" in errors[0]
    assert not (tmp_path / "x.gif").exists()


def test_several_inputs_into_an_existing_file_is_a_usage_error(tmp_path, basic_ckpt, capsys, camera):
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    Image.fromarray(camera[:64, :64]).save(tmp_path / "b.png")
    (tmp_path / "notes").write_text("mine")
    assert run(basic_ckpt, tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "notes") == 2
    assert "is a file" in _errors(capsys)[0] and (tmp_path / "notes").read_text() == "mine"


def test_output_folders_new_or_existing(tmp_path, basic_ckpt, camera):
    Image.fromarray(camera[:64, :64]).save(tmp_path / "a.png")
    Image.fromarray(camera[:64, :64]).save(tmp_path / "b.png")
    assert run(basic_ckpt, tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "new.v2") == 0  # no image extension
    assert sorted(p.name for p in (tmp_path / "new.v2").iterdir()) == ["a_color.png", "b_color.png"]
    (tmp_path / "odd.png").mkdir()  # an existing folder is a folder, whatever its name
    assert run(basic_ckpt, tmp_path / "a.png", "-o", tmp_path / "odd.png") == 0
    assert (tmp_path / "odd.png" / "a_color.png").is_file()


# ---- GIF inputs, and --format for every output ----

def _gif(path: Path, frames: list[np.ndarray]) -> Path:
    images = [Image.fromarray(f).convert("P") for f in frames]
    images[0].save(path, save_all=len(images) > 1, append_images=images[1:], duration=100, loop=0)
    return path


def _frames(path: Path) -> list[np.ndarray]:
    from PIL import ImageSequence
    with Image.open(path) as im:
        return [np.array(f.convert("RGB")) for f in ImageSequence.Iterator(im)]


def test_gifs_in_a_folder_come_back_as_gifs_every_frame_coloured(tmp_path, basic_ckpt, capsys, camera):
    (tmp_path / "in").mkdir()
    _gif(tmp_path / "in" / "still.gif", [camera[:48, :64]])
    _gif(tmp_path / "in" / "moving.gif", [camera[:48, :64], camera[48:96, :64], camera[96:144, :64]])
    assert run(basic_ckpt, tmp_path / "in", "-o", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["moving_color.gif", "still_color.gif"]
    for name, n in (("still", 1), ("moving", 3)):
        got, want = _frames(tmp_path / "out" / f"{name}_color.gif"), _frames(tmp_path / "in" / f"{name}.gif")
        assert len(got) == n and all(g.shape == (48, 64, 3) for g in got)
        for g, w in zip(got, want):  # each frame keeps its own picture (a GIF's palette costs a little)
            assert np.abs(_lightness(g) - _lightness(w)).mean() < 3
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "moving.gif" in notes[0] and "3 frames coloured as a short film" in notes[0]


@pytest.mark.parametrize("fmt, suffix", [("jpg", ".jpg"), ("webp", ".webp"), ("tif", ".tif"), ("bmp", ".bmp"), ("png", ".png")])
def test_format_sets_every_outputs_format(tmp_path, basic_ckpt, camera, fmt, suffix):
    Image.fromarray(camera[:48, :64]).save(tmp_path / "a.png")
    Image.fromarray(camera[:48, :64]).save(tmp_path / "b.jpg")
    _gif(tmp_path / "c.gif", [camera[:48, :64]])
    assert run(basic_ckpt, tmp_path / "a.png", tmp_path / "b.jpg", tmp_path / "c.gif", "-o", tmp_path / "out",
               "--format", fmt) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{n}_color{suffix}" for n in "abc"]
    assert read_image(tmp_path / "out" / f"a_color{suffix}").rgb.shape == (48, 64, 3)


def test_format_and_an_output_file_name_must_agree(tmp_path, basic_ckpt, capsys, camera):
    Image.fromarray(camera[:48, :64]).save(tmp_path / "a.png")
    assert run(basic_ckpt, tmp_path / "a.png", "-o", tmp_path / "x.png", "--format", "jpg") == 2
    assert "jpg" in _errors(capsys)[0] and not (tmp_path / "x.png").exists()
    assert run(basic_ckpt, tmp_path / "a.png", "-o", tmp_path / "x.jpeg", "--format", "jpg") == 0


# ---- help and version ----

def _help(capsys, *command: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare words


def test_version(capsys):
    import framecolor

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"framecolor {framecolor.__version__}"


def test_help_explains_every_flag_and_batch_size_only_where_it_does_something(capsys):
    from framecolor.cli import build_parser

    colorize, video = _help(capsys, "colorize"), _help(capsys, "video")
    assert "--no-progress no progress bar" in colorize and "--no-progress no progress bar" in video
    assert "(default: 256)" in colorize and "(default: 256)" in video
    assert "--batch-size" not in colorize
    assert "--batch-size BATCH_SIZE video frames per model batch" in video
    assert "--batch-size BATCH_SIZE video frames per model batch" in _help(capsys, "evaluate-video")
    with pytest.raises(SystemExit) as done:
        main(["colorize", "a.png", "--batch-size", "4"])
    assert done.value.code == 2 and "--batch-size" in capsys.readouterr().err
    assert build_parser().parse_args(["evaluate", "--data", "d", "-o", "e"]).batch_size == 8  # still set


def test_skip_existing_leaves_finished_outputs_and_does_the_rest(tmp_path, basic_ckpt, capsys, camera):
    (tmp_path / "in").mkdir()
    for name in "ab":
        Image.fromarray(camera[:48, :64]).save(tmp_path / "in" / f"{name}.png")
    assert run(basic_ckpt, tmp_path / "in" / "a.png", "-o", tmp_path / "out" / "a_color.png") == 0
    (tmp_path / "out" / "a_color.png").write_bytes(b"kept")  # a marker: was it read or replaced?
    capsys.readouterr()
    assert run(basic_ckpt, tmp_path / "in", "-o", tmp_path / "out", "--skip-existing") == 0
    err = capsys.readouterr().err
    assert (tmp_path / "out" / "a_color.png").read_bytes() == b"kept"
    assert _read(tmp_path / "out" / "b_color.png").shape == (48, 64, 3)
    assert "colorized 1 image(s), 1 skipped (outputs exist)" in err and "a_color.png exists already; skipped" in err
    assert run(basic_ckpt, tmp_path / "in", "-o", tmp_path / "out") == 0  # without it, outputs are replaced
    assert _read(tmp_path / "out" / "a_color.png").shape == (48, 64, 3)
