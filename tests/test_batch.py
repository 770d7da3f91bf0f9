"""`framecolor batch`: one job over photos and films, locally and on a local 2-CPU Ray; resumed after
a kill; films split at scene cuts. Outputs are compared byte for byte with `colorize` and `video`."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import video_clips as vc
from framecolor.batch import BatchSettings, JobFolder, find_items, run_batch
from framecolor.batch.scenes import plan_segments, scan_cuts
from framecolor.cli import main

SIZE = 32


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> str:
    from framecolor.config import ColorizerConfig
    from framecolor.models.registry import build_model, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "basic.safetensors"
    config = ColorizerConfig(name="basic-cnn", embedder=None, film_chroma_gain=0.5)  # films get their own gain
    return str(save_checkpoint(build_model(config), path))


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """A dozen small real photos in two folders, three short clips (one with audio and a cut), one bad file."""
    import cv2
    import skimage.data

    root = tmp_path_factory.mktemp("archive")
    (root / "reel" / "b").mkdir(parents=True)
    photos = [skimage.data.chelsea(), skimage.data.astronaut(), skimage.data.coffee(), skimage.data.rocket()]
    for i in range(12):
        img = photos[i % 4][i * 7:i * 7 + 60, i * 5:i * 5 + 80]
        folder = root if i < 6 else root / "reel" / "b"
        cv2.imwrite(str(folder / f"p{i:02d}{'.png' if i % 3 else '.jpg'}"), img[..., ::-1])
    vc.make_clip(root / "c0.mp4", n=16, audio=True, cut_at=8)
    vc.make_clip(root / "reel" / "c1.mkv", n=12, grey=True)
    vc.make_clip(root / "reel" / "b" / "c2.mp4", n=10, step=2)
    (root / "reel" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def settings(ckpt: str, **kw) -> BatchSettings:
    return BatchSettings(photo_model=ckpt, film_model=ckpt, size=SIZE, device="cpu", preset="ultrafast", **kw)


def _reference(out: Path, archive: Path, ckpt: str, photos_together: bool) -> dict[str, str]:
    """{output path relative to OUT: sha256} from `colorize` and `video`: each film alone; the photos
    alone, or all at once from one `colorize` of the archive folder (so on the CPU's file workers)."""
    common = ["--model", ckpt, "--size", str(SIZE), "--no-progress", "--device", "cpu"]
    if photos_together:
        assert main(["colorize", str(archive), "-o", str(out), *common]) == 1  # broken.png fails, the rest are done
    hashes = {}
    for item in find_items([archive], out)[0]:
        if item.source.name == "broken.png":
            continue
        item.output.parent.mkdir(parents=True, exist_ok=True)
        if item.kind == "film":
            assert main(["video", str(item.source), "-o", str(item.output), *common, "--preset", "ultrafast"]) == 0
        elif not photos_together:
            assert main(["colorize", str(item.source), "-o", str(item.output), *common]) == 0
        hashes[str(item.output.relative_to(out))] = _sha(item.output)
    assert len(hashes) == 15
    return hashes


@pytest.fixture(scope="module")
def reference(tmp_path_factory, archive, ckpt) -> dict[str, str]:
    """What the local batch must give: photos as `colorize` gives them for the whole folder. (A photo done
    alone runs one worker on every CPU thread; the thread count changes the order of the convolutions'
    float sums, and so, rarely, a pixel by one 8-bit level.)"""
    return _reference(tmp_path_factory.mktemp("reference"), archive, ckpt, photos_together=True)


@pytest.fixture(scope="module")
def reference_alone(tmp_path_factory, archive, ckpt) -> dict[str, str]:
    """What the Ray batch must give: each photo as `colorize` gives it alone (a Ray worker does one at a time)."""
    return _reference(tmp_path_factory.mktemp("reference_alone"), archive, ckpt, photos_together=False)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _outputs(out: Path) -> dict[str, str]:
    """Every file below OUT outside the job folder: {relative path: sha256}."""
    return {str(p.relative_to(out)): _sha(p) for p in out.rglob("*")
            if p.is_file() and ".framecolor-batch" not in p.parts}


def _summary(out: Path) -> list[dict]:
    with open(out / ".framecolor-batch" / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def _check_job(out: Path, reference: dict[str, str], attempts_of_good: int = 1) -> None:
    """Every good item done once, with the outputs of colorize/video; the bad file failed with its reason."""
    assert _outputs(out) == reference  # nothing missing, nothing extra (no temporary or partial files)
    rows = _summary(out)
    good = [r for r in rows if "broken" not in r["source"]]
    bad = [r for r in rows if "broken" in r["source"]]
    assert len(good) == 15 and all(r["status"] == "done" and int(r["attempts"]) == attempts_of_good for r in good)
    assert len(bad) == 1 and bad[0]["status"] == "failed" and "broken.png" in bad[0]["error"]
    assert "corrupt or truncated PNG file" in bad[0]["error"]


def test_local_job_matches_colorize_and_video_and_reports_the_bad_file(tmp_path, archive, ckpt, reference, capsys):
    out = tmp_path / "out"
    rc = main(["batch", str(archive), "-o", str(out), "--model", ckpt, "--photo-model", ckpt, "--size", str(SIZE),
               "--device", "cpu", "--preset", "ultrafast", "--no-progress"])
    err = capsys.readouterr().err.splitlines()
    assert rc == 1  # one input failed
    _check_job(out, reference)
    assert err[0].startswith("batch: 16 item(s): 15 done, 1 failed, 0 left; 12 photo(s)")
    assert "3 film(s), 38 frames" in err[0]
    [error] = [line for line in err if line.startswith("error:")]
    assert error.startswith(f"error: {archive / 'reel' / 'broken.png'}: corrupt or truncated PNG file")


def test_rerun_skips_what_is_done_and_retries_failures_up_to_the_limit(tmp_path, archive, ckpt, reference):
    out, calls = tmp_path / "out", []
    run_batch([archive], out, settings(ckpt), retries=1, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    run_batch([archive], out, settings(ckpt), retries=1, progress=False, on_outcome=calls.append)
    assert [(c.task.item.source.name, c.task.attempt) for c in calls] == [("broken.png", 2)]  # only the failure
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if "items" not in p.parts and "summary" not in p.name)
    run_batch([archive], out, settings(ckpt), retries=1, progress=False, on_outcome=calls.append)
    assert len(calls) == 1  # tried 1 + retries times: left failed
    _check_job(out, reference)


def test_changed_settings_are_refused_naming_what_changed(tmp_path, archive, ckpt, capsys):
    out = tmp_path / "out"
    src = archive / "p01.png"
    base = ["batch", str(src), "-o", str(out), "--photo-model", ckpt, "--model", ckpt, "--no-progress", "--device", "cpu"]
    assert main([*base, "--size", str(SIZE)]) == 0
    capsys.readouterr()
    assert main([*base, "--size", "64"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "size: 32 -> 64" in err
    assert str(out / ".framecolor-batch") in err


def test_manifest_names_inputs_and_outputs(tmp_path, archive, ckpt, reference):
    manifest = tmp_path / "list.csv"
    manifest.write_text("input,output\n"
                        f"{archive / 'p01.png'},first/one.png\n"
                        f"{os.path.relpath(archive / 'reel' / 'c1.mkv', tmp_path)},\n"
                        "missing.jpg,\n")
    out = tmp_path / "out"
    summary = run_batch([manifest], out, settings(ckpt), progress=False)
    assert _sha(out / "first" / "one.png") == reference["p01_color.png"]
    assert _sha(out / "c1_color.mkv") == reference["reel/c1_color.mkv"]
    [failure] = summary.failures
    assert failure.source == str(tmp_path / "missing.jpg") and "no such file" in failure.error


def test_bad_manifest_is_one_line(tmp_path, ckpt, capsys):
    bad = tmp_path / "list.csv"
    bad.write_text("path\nsomething.png\n")
    assert main(["batch", str(bad), "-o", str(tmp_path / "out"), "--model", ckpt, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {bad}: a manifest needs a header row with an 'input' column (and optionally 'output')"


def test_killed_job_resumes_with_nothing_lost_or_done_twice(tmp_path, archive, ckpt):
    """SIGKILL while a film's chunks are half written; the re-run keeps the photos done before the
    kill (untouched) and continues the film from its last chunk: the same film as an uninterrupted run."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("p01.png", "p02.png", "p03.jpg"):
        (src / name).write_bytes((archive / name).read_bytes())
    vc.make_clip(src / "long.mp4", n=64, audio=True)
    whole, out = tmp_path / "whole", tmp_path / "out"
    cmd = [sys.executable, "-m", "framecolor", "batch", str(src), "--model", ckpt, "--photo-model", ckpt,
           "--size", str(SIZE), "--device", "cpu", "--preset", "ultrafast", "--chunk-frames", "8", "--no-progress"]
    assert subprocess.run([*cmd, "-o", str(whole)], capture_output=True).returncode == 0
    proc = subprocess.Popen([*cmd, "-o", str(out)], stderr=subprocess.PIPE)
    manifest = out / ".long_color.mp4.framecolor" / "manifest.json"
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if manifest.is_file() and len(json.loads(manifest.read_text())["chunks"]) >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert not (out / "long_color.mp4").exists()
    photos_before = {p: p.stat().st_mtime_ns for p in out.glob("p*_color.*")}
    assert len(photos_before) == 3
    rerun = subprocess.run([*cmd, "-o", str(out)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert {p: p.stat().st_mtime_ns for p in out.glob("p*_color.*")} == photos_before  # not done again
    assert _outputs(out) == _outputs(whole)
    assert [r["attempts"] for r in _summary(out)] == ["1"] * 4


def test_import_and_the_local_batch_need_no_ray(tmp_path, archive, ckpt):
    code = ("import sys; sys.modules['ray'] = None\n"  # `import ray` now fails, as without the extra
            "import framecolor, framecolor.batch\n"
            "from framecolor.cli import main\n"
            f"rc = main(['batch', {str(archive / 'p01.png')!r}, '-o', {str(tmp_path / 'out')!r}, '--photo-model', "
            f"{ckpt!r}, '--size', '32', '--no-progress', '--device', 'cpu'])\n"
            f"rc2 = main(['batch', {str(archive / 'p01.png')!r}, '-o', {str(tmp_path / 'out')!r}, '--photo-model', "
            f"{ckpt!r}, '--size', '32', '--no-progress', '--device', 'cpu', '--ray'])\n"
            "print(rc, rc2)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.split() == ["0", "2"], proc.stderr
    assert "install the ray extra: pip install 'framecolor[ray]'" in proc.stderr.splitlines()[-1]
    light = subprocess.run([sys.executable, "-c", "import framecolor.batch, sys; print('ray' in sys.modules, "
                            "'torch' in sys.modules)"], capture_output=True, text=True)
    assert light.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------- scenes

def test_segments_start_at_cuts_and_are_long_enough():
    pts = list(range(0, 100))
    segs = plan_segments(pts, [5, 30, 40, 95], 1, min_frames=10)
    assert [(s.first, s.stop) for s in segs] == [(0, 30), (30, 40), (40, 100)]
    assert segs[1].start == 30.0 and segs[1].end == 40.0 and segs[-1].end is None and segs[2].offset == 40


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def test_split_scenes_gives_the_whole_file_run_with_timing_and_audio(tmp_path, ckpt):
    from framecolor.config import ColorizerSettings
    from framecolor.film.job import colorize_video
    from framecolor.film.options import VideoJob
    from framecolor.video.writer import EncodeSettings

    src = vc.make_clip(tmp_path / "cuts.mp4", n=36, audio=True, cut_at=(12, 24))
    pts, cuts = scan_cuts(src, SIZE, 0.4)
    assert cuts == [12, 24] and len(pts) == 36
    whole = colorize_video(src, tmp_path / "whole.mp4", ColorizerSettings(ckpt, size=SIZE, device="cpu"),
                           VideoJob(encode=EncodeSettings(preset="ultrafast")), progress=False)
    out = tmp_path / "out"
    run_batch([src], out, settings(ckpt, split_scenes=True, min_segment=0.25), progress=False)
    split = out / "cuts_color.mp4"
    (t1, f1), (t2, f2) = vc.decoded(whole), vc.decoded(split)
    assert t1 == t2 and len(f2) == 36
    assert vc.packet_hashes(split) == vc.packet_hashes(src)  # the source's audio, copied
    assert min(_psnr(a, b) for a, b in zip(f1, f2)) >= 35
    assert not any(JobFolder(out).dir.joinpath("work").iterdir())  # the segments are gone once joined


# ---------------------------------------------------------------- on a local 2-CPU Ray

@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_ray_job_survives_killed_workers_with_the_same_outputs(tmp_path, archive, ckpt, reference_alone, ray_session):
    """Both workers are killed after the first item comes back: they are replaced, what they held is
    tried again, and a re-run finds nothing left; the outputs are colorize's and video's."""
    killed, lost = [], []

    def kill_workers(outcome):
        lost.extend(o for o in [outcome] if "worker was lost" in (o.state.error or ""))
        if not killed:
            for actor in ray_session.util.list_named_actors():
                ray_session.kill(ray_session.get_actor(actor))
                killed.append(actor)

    out = tmp_path / "out"
    run_batch([archive], out, settings(ckpt), ray_address="auto", progress=False, on_outcome=kill_workers)
    assert len(killed) == 2 and lost, "no item was in the hands of a killed worker"
    assert _outputs(out) == reference_alone
    rows = {r["source"]: r for r in _summary(out)}
    assert all(r["status"] == "done" for s, r in rows.items() if "broken" not in s)
    assert {int(r["attempts"]) for s, r in rows.items() if "broken" not in s} <= {1, 2}
    again = []
    run_batch([archive], out, settings(ckpt), ray_address="auto", progress=False, on_outcome=again.append)
    assert [o.task.item.source.name for o in again] == ["broken.png"]  # only the bad file, retried
    assert _outputs(out) == reference_alone


@pytest.mark.ray
def test_ray_split_scenes_matches_the_local_split(tmp_path, ckpt, ray_session):
    src = vc.make_clip(tmp_path / "cuts.mp4", n=36, audio=True, cut_at=(12, 24))
    s = settings(ckpt, split_scenes=True, min_segment=0.25)
    run_batch([src], tmp_path / "local", s, progress=False)
    run_batch([src], tmp_path / "ray", s, ray_address="auto", progress=False)
    assert _sha(tmp_path / "ray" / "cuts_color.mp4") == _sha(tmp_path / "local" / "cuts_color.mp4")


def test_output_folder_inside_the_input_folder_is_not_read_as_input(tmp_path, archive, ckpt):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("p01.png", "p02.png"):
        (src / name).write_bytes((archive / name).read_bytes())
    first = run_batch([src], src / "coloured", settings(ckpt), progress=False)
    again = run_batch([src], src / "coloured", settings(ckpt), progress=False)
    assert len(first.states) == len(again.states) == 2 and again.count("done") == 2
    assert sorted(p.name for p in (src / "coloured").iterdir() if p.is_file()) == ["p01_color.png", "p02_color.png"]
