"""Files of several frames (framecolor.animation): animated GIF, APNG and animated WebP are coloured as
a short film and written as animations with their timing; multi-page TIFF page by page; formats that
hold one frame are refused before any work, and nothing is left behind."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from framecolor.animation import read_frames
from framecolor.cli import main
from framecolor.config import ColorizerConfig
from framecolor.models.registry import build_model, save_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "basic.safetensors"
    return str(save_checkpoint(build_model(ColorizerConfig(name="basic-cnn", embedder=None)), path))


def colorize(ckpt: str, *args) -> int:
    return main(["colorize", *map(str, args), "--model", ckpt, "--size", "32", "--no-progress", "--device", "cpu"])


def _shots(camera, n: int, h: int = 48, w: int = 64) -> list[np.ndarray]:
    return [camera[20 * i:20 * i + h, 10 * i:10 * i + w] for i in range(n)]


def _info(path: Path) -> tuple[str, int, list, object, list[tuple[int, int]]]:
    with Image.open(path) as im:
        seen = []
        for f in ImageSequence.Iterator(im):  # one object, seeked; loaded, since WebP times a frame on load
            f.load()
            seen.append((f.info.get("duration"), f.size))
        return im.format, len(seen), [d for d, _ in seen], im.info.get("loop"), [s for _, s in seen]


def _grey_level_error(got: Path, want: Path) -> float:
    a = [np.array(f.convert("L"), np.float32) for f in ImageSequence.Iterator(Image.open(got))]
    b = [np.array(f.convert("L"), np.float32) for f in ImageSequence.Iterator(Image.open(want))]
    assert len(a) == len(b)
    return max(float(np.abs(x - y).mean()) for x, y in zip(a, b))


def test_animated_gif_keeps_every_frame_its_timing_and_loop(tmp_path, ckpt, camera, capsys):
    src = tmp_path / "reel.gif"
    pil = [Image.fromarray(f).convert("P") for f in _shots(camera, 5)]
    pil[0].save(src, save_all=True, append_images=pil[1:], duration=[80, 90, 100, 110, 120], loop=3)
    assert colorize(ckpt, src) == 0
    out = tmp_path / "reel_color.gif"
    assert _info(out) == ("GIF", 5, [80, 90, 100, 110, 120], 3, [(64, 48)] * 5)
    assert _grey_level_error(out, src) < 4  # each frame is its own picture, coloured
    assert "5 frames coloured as a short film, with the flow carry" in capsys.readouterr().err


def test_apng_and_animated_webp_stay_animations(tmp_path, ckpt, camera):
    for suffix in (".png", ".webp"):
        src = tmp_path / f"reel{suffix}"
        pil = [Image.fromarray(np.dstack([f] * 3)) for f in _shots(camera, 4)]
        pil[0].save(src, save_all=True, append_images=pil[1:], duration=100, loop=0,
                    **({"lossless": True} if suffix == ".webp" else {}))
        assert colorize(ckpt, src) == 0
        fmt, n, durations, loop, sizes = _info(tmp_path / f"reel_color{suffix}")
        assert (fmt, n, loop, sizes) == ({".png": "PNG", ".webp": "WEBP"}[suffix], 4, 0, [(64, 48)] * 4)
        assert [round(d) for d in durations] == [100] * 4
        assert _grey_level_error(tmp_path / f"reel_color{suffix}", src) < 4


def test_multi_page_tiff_is_coloured_page_by_page_at_each_pages_size(tmp_path, ckpt, camera):
    src = tmp_path / "scans.tif"
    pages = [Image.fromarray(camera[:48, :64]), Image.fromarray(camera[100:180, :140])]
    pages[0].save(src, save_all=True, append_images=pages[1:])
    assert colorize(ckpt, src, "-o", tmp_path / "out.tif") == 0
    assert _info(tmp_path / "out.tif")[1::3] == (2, [(64, 48), (140, 80)])
    assert read_frames(tmp_path / "out.tif").pages


def test_gif_with_transparency_keeps_its_alpha(tmp_path, ckpt, camera):
    src = tmp_path / "logo.gif"
    frames = []
    for f in _shots(camera, 2):
        rgba = np.dstack([f, f, f, np.where(np.arange(64) < 16, 0, 255).astype(np.uint8)[None].repeat(48, 0)])
        frames.append(Image.fromarray(rgba))
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0, disposal=2)
    assert colorize(ckpt, src) == 0
    got = read_frames(tmp_path / "logo_color.gif")
    assert len(got.images) == 2 and all(a.shape == (48, 64, 4) for a in got.images)
    assert all((a[:, :16, 3] == 0).all() and (a[:, 16:, 3] == 255).all() for a in got.images)


def test_a_one_frame_format_is_refused_before_any_work(tmp_path, ckpt, camera, capsys):
    src = tmp_path / "reel.gif"
    pil = [Image.fromarray(f).convert("P") for f in _shots(camera, 3)]
    pil[0].save(src, save_all=True, append_images=pil[1:], duration=100, loop=0)
    assert colorize(ckpt, src, "-o", tmp_path / "reel.jpg") == 2
    err = capsys.readouterr().err
    assert f"error: {src}: has 3 frames, which a .jpg file cannot hold" in err and "Traceback" not in err
    assert colorize(ckpt, tmp_path, "-o", tmp_path / "out", "--format", "bmp") == 1  # in a batch: that file fails
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reel.gif"]  # nothing written, no stray file
    assert "cannot hold" in capsys.readouterr().err


def test_gif_output_is_only_for_gif_inputs(tmp_path, ckpt, camera, capsys):
    Image.fromarray(camera[:48, :64]).save(tmp_path / "a.png")
    assert colorize(ckpt, tmp_path / "a.png", "-o", tmp_path / "a.gif") == 2
    assert "cannot write '.gif'" in capsys.readouterr().err and not (tmp_path / "a.gif").exists()
    Image.fromarray(camera[:48, :64]).convert("P").save(tmp_path / "b.gif")
    assert colorize(ckpt, tmp_path / "b.gif", "-o", tmp_path / "named.gif") == 0
    assert _info(tmp_path / "named.gif")[:2] == ("GIF", 1)


def test_all_frames_count_against_max_pixels(tmp_path, ckpt, camera, capsys):
    src = tmp_path / "reel.gif"
    pil = [Image.fromarray(f).convert("P") for f in _shots(camera, 4)]
    pil[0].save(src, save_all=True, append_images=pil[1:], duration=100, loop=0)
    assert colorize(ckpt, src, "--max-pixels", str(3 * 48 * 64)) == 2
    assert "4 frames of 64 x 48 pixels" in capsys.readouterr().err and not (tmp_path / "reel_color.gif").exists()
