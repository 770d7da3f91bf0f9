"""The web page's wiring without a browser: photos and zips through colorize_uploads, the one-model
holder, the film job's progress line, and `serve`'s usage errors."""
from __future__ import annotations

import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio", reason="the web extra is not installed")

from framecolor import web  # noqa: E402
from framecolor.film.job import VideoProgress  # noqa: E402


@pytest.fixture()
def ws(tmp_path):
    from framecolor.config import ColorizerConfig
    from framecolor.inference import ImageColorizer
    from framecolor.models.registry import build_model

    torch.manual_seed(0)
    models = web.Models("cpu")
    models.name = "tiny"  # a small untrained model stands in for a registry one: the wiring is tested
    models.colorizer = ImageColorizer(build_model(ColorizerConfig(name="basic-cnn", embedder=None)).eval(),
                                      torch.device("cpu"), size=32)
    return web.Workspace(web.ServeConfig(max_upload_mb=1), tmp_path / "work", models, threading.BoundedSemaphore(1))


def test_photos_and_a_zip_come_back_as_pngs_with_a_zip_of_all(ws, tmp_path, chelsea):
    Image.fromarray(chelsea).convert("L").save(tmp_path / "cat.jpg")
    with zipfile.ZipFile(tmp_path / "album.zip", "w") as z:
        z.write(tmp_path / "cat.jpg", "trip/cat.jpg")
        z.writestr("trip/readme.txt", "not a photo")
        z.writestr("trip/empty.jpg", b"")
    batch = web.colorize_uploads(ws, [str(tmp_path / "cat.jpg"), str(tmp_path / "album.zip")], "tiny", 1.0, 32)
    names = sorted(n for n, _, _ in batch.results)
    assert names == ["cat_color.png", "trip/cat_color.png"], names  # the zip's folders are kept
    for _, before, after in batch.results:
        with Image.open(after) as im:
            assert im.size == (451, 300) and im.format == "PNG"
    with zipfile.ZipFile(batch.archive) as z:
        assert sorted(z.namelist()) == names
    # as in a folder, files without an image extension are passed over; an empty "photo" is named
    assert batch.message.startswith("Colorized 2 photo(s); 1 failed:\n- 1-album/trip/empty.jpg: "), batch.message


def test_a_bad_zip_is_named_and_the_good_photo_still_done(ws, tmp_path, chelsea):
    Image.fromarray(chelsea).save(tmp_path / "cat.png")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 cut short")
    batch = web.colorize_uploads(ws, [str(tmp_path / "cat.png"), str(tmp_path / "broken.zip")], "tiny", 1.0, 32)
    assert [n for n, _, _ in batch.results] == ["cat_color.png"] and batch.archive is None
    assert "- broken.zip: not a readable zip file" in batch.message


def test_the_progress_line_says_frames_rate_and_eta(tmp_path):
    job = web.FilmJob("1", "old.mp4", tmp_path, state="running", progress=VideoProgress(24, 60, 8.0, 4.5))
    line = web.progress_html(job)
    assert '<progress value="24" max="60">' in line and "24/60 frames, 8.0 frames/s, ETA 4 s" in line
    job.state, job.error = "failed", "old.mp4: not a video <b>"
    assert "error: old.mp4: not a video &lt;b&gt;" in web.progress_html(job)


def test_serve_refuses_a_zero_concurrency_before_starting(capsys):
    from framecolor.cli import main

    assert main(["serve", "--concurrency", "0"]) == 2
    assert "--concurrency must be at least 1" in capsys.readouterr().err


def test_importing_the_package_and_cli_does_not_import_gradio():
    code = "import framecolor, framecolor.cli, sys; print('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_only_a_local_address_is_served_without_a_warning():
    assert web.host_warning("127.0.0.1", 7860) is None and web.host_warning("localhost", 7860) is None
    assert "anyone who can reach this machine on port 7860" in web.host_warning("0.0.0.0", 7860)


def test_old_results_are_swept_but_a_running_film_is_not(ws):
    import os
    import time

    old, running, fresh = (ws.new_folder("films") for _ in range(3))
    for folder in (old, running):
        os.utime(folder, (time.time() - 25 * 3600,) * 2)  # keep_hours is 24
    ws.busy.add(running)
    jobs = web.FilmJobs(ws)
    jobs.jobs = {"a": web.FilmJob("a", "old.mp4", old, state="done")}
    ws.sweep("films")
    assert not old.exists() and running.exists() and fresh.exists()
    assert jobs.newest_first() == []  # the swept job is no longer listed


def test_a_film_that_is_no_video_fails_with_its_name_and_the_next_job_runs(ws, tmp_path):
    import video_clips as vc

    (tmp_path / "notes.mp4").write_text("not a film")
    jobs = web.FilmJobs(ws)
    bad = jobs.submit(str(tmp_path / "notes.mp4"), "tiny", "none", 0.0, None)
    good = jobs.submit(str(vc.make_clip(tmp_path / "clip.mp4", n=8)), "tiny", "flow", 0.0, None)
    jobs.pool.shutdown(wait=True)
    assert bad.state == "failed" and bad.error.startswith("notes.mp4: ") and str(tmp_path) not in bad.error
    assert good.state == "done" and good.output.name == "clip_color.mp4" and good.progress.done == 8
    assert not (good.folder / "clip.mp4").exists()  # the copy of the upload is removed once it is done


def test_a_film_job_keeps_the_uploads_sound_bit_for_bit(ws, tmp_path):
    """What the page plays and offers for download carries the upload's own audio packets."""
    import video_clips as vc

    src = vc.make_clip(tmp_path / "talk.mp4", n=12, audio=True)
    jobs = web.FilmJobs(ws)
    job = jobs.submit(str(src), "tiny", "flow", 0.0, None)
    jobs.pool.shutdown(wait=True)
    assert job.state == "done", job.error
    sound = vc.packet_hashes(src)
    assert sound and vc.packet_hashes(job.output) == sound
