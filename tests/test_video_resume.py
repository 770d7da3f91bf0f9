"""Resume: an interrupted job continues from its last finished chunk and gives the same film."""
from __future__ import annotations

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
from framecolor.film import job as vp
from framecolor.film.options import VideoJob
from framecolor.video.writer import EncodeSettings


@pytest.fixture(scope="module")
def engine():
    from framecolor.config import ColorizerConfig
    from framecolor.inference import ImageColorizer
    from framecolor.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(ColorizerConfig(name="basic-cnn", embedder=None)).eval()
    return ImageColorizer(model, torch.device("cpu"), size=32, batch_size=4)


@pytest.fixture(scope="module")
def lstm_engine():
    from framecolor.config import ColorizerConfig, TemporalConfig
    from framecolor.inference import ImageColorizer
    from framecolor.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(ColorizerConfig(name="basic-cnn", embedder=None, temporal=TemporalConfig(8))).eval()
    torch.nn.init.normal_(model.temporal.out.weight, std=0.5)  # a head that matters, so lost state would show
    return ImageColorizer(model, torch.device("cpu"), size=32, batch_size=4)


def _interrupt_after(monkeypatch, commits: int, seen: list) -> None:
    real = vp.ChunkStore.commit

    def commit(self, path, frames, last_pts, state):
        real(self, path, frames, last_pts, state)
        seen.append(self.dst_exists())
        if len(self.chunks) == commits:
            raise KeyboardInterrupt

    monkeypatch.setattr(vp.ChunkStore, "commit", commit)
    monkeypatch.setattr(vp.ChunkStore, "dst_exists", lambda self: any(
        p.name == "out.mp4" for p in self.dir.parent.iterdir()), raising=False)


@pytest.mark.parametrize("temporal", ["none", "flow", "lstm"])
def test_interrupted_job_resumes_to_the_same_film(tmp_path, engine, lstm_engine, monkeypatch, temporal):
    src = vc.make_clip(tmp_path / "in.mp4", n=40, audio=True)
    kw = dict(model=lstm_engine if temporal == "lstm" else engine,
              job=VideoJob(temporal, chunk_frames=8, encode=EncodeSettings(preset="ultrafast")), progress=False)
    whole = vp.colorize_video(src, tmp_path / "whole.mp4", **kw)
    seen: list[bool] = []
    _interrupt_after(monkeypatch, 2, seen)
    with pytest.raises(KeyboardInterrupt):
        vp.colorize_video(src, tmp_path / "out.mp4", **kw)
    assert not (tmp_path / "out.mp4").exists() and seen == [False, False]
    monkeypatch.undo()
    resumed = []
    real_read = vp.read_frames
    monkeypatch.setattr(vp, "read_frames", lambda *a, **k: (resumed.append(a[4]), real_read(*a, **k))[1])
    out = vp.colorize_video(src, tmp_path / "out.mp4", **kw)
    assert resumed == [16]  # continued after the two finished chunks
    (t1, f1), (t2, f2) = vc.decoded(whole), vc.decoded(out)
    assert t1 == t2 and len(f2) == 40
    assert all(np.array_equal(a, b) for a, b in zip(f1, f2))
    assert vc.packet_hashes(out) == vc.packet_hashes(src)
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_changed_settings_start_over(tmp_path):
    store = vp.ChunkStore(tmp_path / "out.mp4", "old-key")
    store.commit(store.next_path(), 8, 7, {})
    fresh = vp.ChunkStore(tmp_path / "out.mp4", "new-key")
    assert fresh.frames_done == 0 and fresh.chunks == []


def test_killed_process_resumes_with_same_frame_count(tmp_path, engine):
    """A real kill -9 half-way through `framecolor video`, then the same command again."""
    from framecolor.models.registry import save_checkpoint

    ckpt = save_checkpoint(engine.model, tmp_path / "m.safetensors")
    src = vc.make_clip(tmp_path / "in.mp4", n=160, audio=True)
    dst = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "framecolor", "video", str(src), "-o", str(dst), "--model", str(ckpt),
           "--size", "32", "--batch-size", "4", "--chunk-frames", "8", "--preset", "ultrafast", "--no-progress",
           "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(Path(vp.__file__).parents[1])}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    manifest = tmp_path / ".out.mp4.framecolor" / "manifest.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (manifest.is_file() and '"chunk_00003' in manifest.read_text()):
        assert not dst.exists()
        time.sleep(0.05)
    assert proc.poll() is None, "the job finished before it could be killed half-way"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not dst.exists()
    subprocess.run(cmd, env=env, check=True, stderr=subprocess.DEVNULL, timeout=300)
    times, frames = vc.decoded(dst)
    assert len(frames) == 160 and times == vc.decoded(src)[0]
    assert vc.packet_hashes(dst) == vc.packet_hashes(src)


def test_progress_reports_frames_rate_and_eta_also_after_a_resume(tmp_path, engine, monkeypatch):
    src = vc.make_clip(tmp_path / "in.mp4", n=24)
    reports: list[vp.VideoProgress] = []
    kw = dict(model=engine, job=VideoJob("flow", chunk_frames=8, encode=EncodeSettings(preset="ultrafast")), progress=False)
    _interrupt_after(monkeypatch, 1, [])
    with pytest.raises(KeyboardInterrupt):
        vp.colorize_video(src, tmp_path / "out.mp4", **kw)
    monkeypatch.undo()
    vp.colorize_video(src, tmp_path / "out.mp4", on_progress=reports.append, **kw)
    assert [r.done for r in reports] == [12, 16, 20, 24]  # batches of 4 after the 8 frames kept
    assert all(r.total == 24 and r.fps > 0 for r in reports)
    assert reports[-1].eta == 0 and reports[0].eta > 0
