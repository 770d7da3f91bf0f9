"""`framecolor video` and `framecolor evaluate-video` from the command line."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import video_clips as vc
from framecolor.cli import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from framecolor.config import ColorizerConfig, TemporalConfig
    from framecolor.models.registry import build_model, save_checkpoint

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models")
    small = ColorizerConfig(name="basic-cnn", embedder=None)  # the thesis's basic CNN: quick to load
    plain = save_checkpoint(build_model(small), folder / "plain.safetensors")
    lstm = save_checkpoint(build_model(small.replace(temporal=TemporalConfig(hidden_channels=8))),
                           folder / "lstm.safetensors")
    return plain, lstm


def test_video_command_writes_a_colour_film(tmp_path, checkpoint, capsys):
    src = vc.make_clip(tmp_path / "old.mp4", n=12, grey=True, audio=True)
    out = tmp_path / "new.mkv"
    rc = main(["video", str(src), "-o", str(out), "--model", str(checkpoint[0]), "--size", "32",
               "--temporal", "flow", "--crf", "23", "--preset", "ultrafast", "--no-progress", "--device", "cpu"])
    assert rc == 0 and out.is_file()
    assert len(vc.decoded(out)[1]) == 12 and vc.packet_hashes(out) == vc.packet_hashes(src)


def test_video_command_bad_input_is_one_line(tmp_path, checkpoint, capsys):
    bad = tmp_path / "letter.mp4"
    bad.write_text("dear diary")
    rc = main(["video", str(bad), "-o", str(tmp_path / "out.mp4"), "--model", str(checkpoint[0])])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and str(bad) in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("make, why", [(lambda p: p.write_bytes(b"") or p, "empty file"),
                                       (lambda p: p.mkdir() or p, "is a folder"),
                                       (lambda p: p, "no such file")])
def test_video_command_names_what_is_wrong_with_the_input(tmp_path, checkpoint, capsys, make, why):
    src = make(tmp_path / "film.mp4")
    rc = main(["video", str(src), "-o", str(tmp_path / "out.mp4"), "--model", str(checkpoint[0])])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == f"error: {src}: {why}" + (" (0 bytes)" if why == "empty file" else
                                                        ", not a video file" if why == "is a folder" else "")


def test_zero_byte_photo_and_zero_byte_film_say_the_same(tmp_path, checkpoint, capsys):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "a.mp4").write_bytes(b"")
    assert main(["colorize", str(tmp_path / "a.png"), "--model", str(checkpoint[0]), "--no-progress"]) == 2
    assert main(["video", str(tmp_path / "a.mp4"), "-o", str(tmp_path / "b.mp4"), "--model", str(checkpoint[0])]) == 2
    errors = [e for e in capsys.readouterr().err.splitlines() if e.startswith("error:")]
    assert errors == [f"error: {tmp_path / 'a.png'}: empty file (0 bytes)", f"error: {tmp_path / 'a.mp4'}: empty file (0 bytes)"]


def test_interrupted_video_is_exit_130_and_says_how_to_resume(tmp_path, checkpoint, capsys, monkeypatch):
    from framecolor.film import job as vp

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vp.ChunkStore, "commit", interrupted)
    src = vc.make_clip(tmp_path / "old.mp4", n=8)
    rc = main(["video", str(src), "-o", str(tmp_path / "new.mp4"), "--model", str(checkpoint[0]), "--size", "32",
               "--preset", "ultrafast", "--no-progress", "--device", "cpu", "--chunk-frames", "4"])
    err = capsys.readouterr().err
    assert rc == 130 and "Traceback" not in err and "run the same command again to resume" in err


def test_video_command_rejects_unknown_container(tmp_path, checkpoint, capsys):
    src = vc.make_clip(tmp_path / "a.mp4", n=4)
    rc = main(["video", str(src), "-o", str(tmp_path / "a.gifv"), "--model", str(checkpoint[0])])
    assert rc == 2 and "unsupported output extension" in capsys.readouterr().err


def test_evaluate_video_reports_every_mode_and_the_truth(tmp_path, checkpoint, capsys):
    clip = vc.make_clip(tmp_path / "colour.mp4", n=10)
    report, table = tmp_path / "r.json", tmp_path / "r.md"
    rc = main(["evaluate-video", str(clip), "--model", str(checkpoint[0]), "--lstm-model", str(checkpoint[1]),
               "--size", "32", "--max-frames", "8", "--json", str(report), "--markdown", str(table), "--device", "cpu"])
    assert rc == 0
    summary = json.loads(report.read_text())["summary"]
    assert set(summary) == {"ground truth", "grey", "none", "flow", "lstm"}
    assert {"psnr", "ssim", "colorfulness", "cdc", "warp_error"} <= set(summary["flow"])
    assert summary["grey"]["colorfulness"] < 0.5 < summary["ground truth"]["colorfulness"]
    assert "| ground truth |" in table.read_text() and "| lstm |" in table.read_text()
    assert "| grey |" in table.read_text()


def test_evaluate_video_unknown_mode_is_a_usage_error(tmp_path, checkpoint, capsys):
    clip = vc.make_clip(tmp_path / "colour.mp4", n=4)
    rc = main(["evaluate-video", str(clip), "--temporal", "none,warp", "--model", str(checkpoint[0]),
               "--json", str(tmp_path / "r.json"), "--device", "cpu"])
    assert rc == 2 and not (tmp_path / "r.json").exists()
    assert capsys.readouterr().err == "error: --temporal: unknown temporal mode(s) warp; choose from none, flow, lstm\n"


def test_evaluate_videos_takes_settings_not_flags(tmp_path, checkpoint):
    from framecolor.config import ColorizerSettings
    from framecolor.video_eval import evaluate_videos, write_report

    clip = vc.make_clip(tmp_path / "colour.mp4", n=6)
    lines = []
    report = evaluate_videos([clip], ColorizerSettings(str(checkpoint[0]), size=32, device="cpu"), ["none"],
                             max_frames=4, log=lines.append)
    assert set(report["summary"]) == {"ground truth", "grey", "none"} and report["size"] == 32
    assert lines == [f"evaluating {clip}"]
    table = write_report(report, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(json.dumps(report)) and "| none |" in table
    with pytest.raises(ValueError, match="unknown temporal mode"):
        evaluate_videos([clip], ColorizerSettings(str(checkpoint[0]), size=32, device="cpu"), ["warp"])


def test_grey_baseline_keeps_each_frames_lightness():
    from framecolor.color_cpu import l_from_rgb8_array as l_from_rgb8
    from framecolor.video_eval import grey_frames

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    (grey,) = grey_frames([frame])
    assert grey.shape == frame.shape and grey.dtype == np.uint8
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert np.abs(l_from_rgb8(grey) - l_from_rgb8(frame)).max() < 0.5  # one 8-bit level is about 0.4 L* at most


# ---- the output: checked before any work; a failed remux keeps the colorized chunks ----

def _video(checkpoint, src, out, *extra) -> int:
    return main(["video", str(src), "-o", str(out), "--model", str(checkpoint), "--size", "32", "--preset",
                 "ultrafast", "--no-progress", "--device", "cpu", "--chunk-frames", "4", "--batch-size", "4", *extra])


def _bad_folders(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    yield tmp_path / "missing" / "out.mp4", "does not exist"
    yield tmp_path / "file.txt" / "out.mp4", "is not a folder"
    if os.geteuid() != 0:  # root ignores permissions
        (tmp_path / "locked").mkdir(mode=0o500)
        yield tmp_path / "locked" / "out.mp4", "cannot write into"


def test_output_into_a_missing_or_unwritable_folder_fails_before_any_work(tmp_path, capsys):
    src = vc.make_clip(tmp_path / "in.mp4", n=4)
    try:
        for out, why in _bad_folders(tmp_path):
            # the model does not exist either: the output's folder is checked first
            rc = main(["video", str(src), "-o", str(out), "--model", str(tmp_path / "none.safetensors")])
            err = capsys.readouterr().err.strip()
            assert rc == 2 and err.startswith(f"error: {out}: ") and why in err and len(err.splitlines()) == 1, err
    finally:
        if (tmp_path / "locked").exists():
            (tmp_path / "locked").chmod(0o700)


def test_a_container_that_cannot_hold_the_video_is_refused_before_any_frame(tmp_path, checkpoint, capsys, monkeypatch):
    from framecolor.film import job as vp

    src = vc.make_clip(tmp_path / "in.mp4", n=8, audio=True)
    loaded = []
    monkeypatch.setattr(vp, "colorizer_from", lambda *a, **k: loaded.append(a))
    assert _video(checkpoint[0], src, tmp_path / "out.avi") == 2  # H.264 in AVI: ffmpeg refuses it at the remux
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path / 'out.avi'}: ") and "cannot hold libx264 video" in err and ".mkv" in err
    assert loaded == [] and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_failed_remux_keeps_the_chunks_and_says_how_to_rerun(tmp_path, checkpoint, capsys, monkeypatch):
    from framecolor.film import job as vp
    from framecolor.video import VideoError

    src = vc.make_clip(tmp_path / "in.mp4", n=12, audio=True)

    def fails(dst, *args, **kwargs):
        raise VideoError("cannot write the mp4 container (disk full)", dst)

    monkeypatch.setattr(vp, "assemble", fails)
    assert _video(checkpoint[0], src, tmp_path / "out.mp4") == 2
    err = capsys.readouterr().err
    assert "disk full" in err and "run the same command again" in err and "-o out.mkv" in err
    work = tmp_path / ".out.mp4.framecolor"
    assert len(list(work.glob("chunk_*.mkv"))) == 3 and not (tmp_path / "out.mp4").exists()
    monkeypatch.undo()
    commits = []
    real = vp.ChunkStore.commit
    monkeypatch.setattr(vp.ChunkStore, "commit", lambda self, *a: (commits.append(a), real(self, *a)))
    assert _video(checkpoint[0], src, tmp_path / "out.mkv") == 0  # another container: the chunks are reused
    assert commits == [] and len(vc.decoded(tmp_path / "out.mkv")[1]) == 12
    assert vc.packet_hashes(tmp_path / "out.mkv") == vc.packet_hashes(src)
    assert not work.exists() and not (tmp_path / ".out.mkv.framecolor").exists()


# ---- re-running: a finished output is not redone silently; a resumed run says where it resumes ----

def test_rerunning_a_finished_command_skips_it_unless_overwrite(tmp_path, checkpoint, capsys, monkeypatch):
    from framecolor.film import job as vp

    src, out = vc.make_clip(tmp_path / "in.mp4", n=8), tmp_path / "out.mp4"
    assert _video(checkpoint[0], src, out) == 0
    capsys.readouterr()
    before = out.read_bytes()
    real_load, loads = vp.colorizer_from, []
    monkeypatch.setattr(vp, "colorizer_from", lambda *a, **k: (loads.append(a), real_load(*a, **k))[1])
    assert _video(checkpoint[0], src, out) == 0
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err and "wrote" not in err and "error" not in err
    assert loads == [] and out.read_bytes() == before
    assert _video(checkpoint[0], src, out, "--overwrite") == 0
    assert f"wrote {out}" in capsys.readouterr().err and len(loads) == 1 and len(vc.decoded(out)[1]) == 8


def test_an_existing_file_that_is_no_video_is_not_replaced(tmp_path, checkpoint, capsys):
    src, out = vc.make_clip(tmp_path / "in.mp4", n=4), tmp_path / "notes.mkv"
    out.write_text("my notes")
    assert _video(checkpoint[0], src, out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {out}: exists") and "--overwrite" in err and out.read_text() == "my notes"


def test_a_resumed_run_says_from_which_frame(tmp_path, checkpoint, capsys, monkeypatch):
    from framecolor.film import job as vp

    src, out = vc.make_clip(tmp_path / "in.mp4", n=12), tmp_path / "out.mp4"
    real = vp.ChunkStore.commit

    def commit_then_stop(self, *args):
        real(self, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(vp.ChunkStore, "commit", commit_then_stop)
    assert _video(checkpoint[0], src, out) == 130
    assert "resuming" not in capsys.readouterr().err
    monkeypatch.undo()
    assert _video(checkpoint[0], src, out) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "resuming from frame 4" in notes[0]
    assert len(vc.decoded(out)[1]) == 12


def test_library_rejects_an_unknown_temporal_mode_by_name():
    from framecolor.film.options import VideoJob
    from framecolor.film.stream import StreamColorizer

    for make in (lambda: VideoJob("warp"), lambda: StreamColorizer(engine=None, temporal="warp")):
        with pytest.raises(ValueError, match=r"^unknown temporal mode\(s\) warp; choose from none, flow, lstm$"):
            make()
    assert VideoJob("lstm").temporal == "lstm"
