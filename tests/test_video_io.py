"""Video I/O: probing, bad inputs, timestamps/audio/metadata through the whole pipeline."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

import video_clips as vc
from framecolor.video import VideoError, probe
from framecolor.video.reader import TruncatedWarning, read_frames

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "traffic_short.mp4"


@pytest.fixture(scope="module")
def engine():
    from framecolor.config import ColorizerConfig
    from framecolor.inference import ImageColorizer
    from framecolor.models.registry import build_model

    torch.manual_seed(0)
    return ImageColorizer(build_model(ColorizerConfig()).eval(), torch.device("cpu"), size=32, batch_size=4)


def _run(src: Path, dst: Path, engine, **kw) -> Path:
    from framecolor.film.job import colorize_video
    from framecolor.film.options import VideoJob
    from framecolor.video.writer import EncodeSettings

    encode = EncodeSettings(kw.pop("codec", None), kw.pop("crf", 18), kw.pop("preset", "ultrafast"))
    options = {k: kw.pop(k) for k in list(kw) if k in VideoJob.__dataclass_fields__}
    return colorize_video(src, dst, engine, VideoJob(**options, encode=encode), progress=False, **kw)


def _left_behind(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if name in p.name)


def test_real_sample_keeps_frame_count_rate_and_duration(tmp_path, engine):
    out = _run(SAMPLE, tmp_path / "colour.mp4", engine)
    src, dst = probe(SAMPLE), probe(out)
    assert (dst.frames, dst.fps, dst.width, dst.height) == (src.frames, src.fps, src.width, src.height) == (60, 30, 704, 576)
    assert dst.duration == pytest.approx(src.duration, abs=1e-6)
    assert vc.decoded(out)[0] == vc.decoded(SAMPLE)[0]
    assert _left_behind(tmp_path, ".colour") == []  # no work folder or temp file left


def test_audio_packets_are_copied_bit_identical(tmp_path, engine):
    src = vc.make_clip(tmp_path / "talk.mp4", n=24, audio=True)
    out = _run(src, tmp_path / "talk_colour.mkv", engine)
    assert vc.packet_hashes(out) == vc.packet_hashes(src)
    assert len(vc.decoded(out)[1]) == 24


def test_vfr_timestamps_rotation_and_aspect_are_kept(tmp_path, engine):
    src = vc.make_clip(tmp_path / "vfr.mp4", n=18, vfr=True, rotation=90, sar=Fraction(4, 3))
    out = _run(src, tmp_path / "vfr_colour.mp4", engine, chunk_frames=8)
    t_src, t_out = vc.decoded(src)[0], vc.decoded(out)[0]
    assert t_out == pytest.approx(t_src, abs=1e-4)
    info = probe(out)
    assert (info.rotation, info.sar) == (90, Fraction(4, 3))


def test_start_end_and_side_by_side(tmp_path, engine):
    src = vc.make_clip(tmp_path / "c.mp4", n=24, fps=24, audio=True)
    out = _run(src, tmp_path / "cut.mp4", engine, start=0.25, end=0.75, side_by_side=True)
    times, frames = vc.decoded(out)
    assert len(frames) == 12 and times[0] == pytest.approx(0.0)
    assert frames[0].shape == (48, 128, 3)
    audio_end = probe(out).duration
    assert audio_end == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("make", ["text", "zero", "audio", "codec", "missing"])
def test_bad_inputs_get_a_clear_error_and_leave_nothing(tmp_path, engine, make):
    src = {"text": lambda: (tmp_path / "notes.mp4").write_text("not a film") and tmp_path / "notes.mp4",
           "zero": lambda: vc.zero_length(tmp_path / "empty.mp4"),
           "audio": lambda: vc.audio_only(tmp_path / "song.m4a"),
           "codec": lambda: vc.unknown_codec(tmp_path / "odd.mp4", tmp_path),
           "missing": lambda: tmp_path / "nothing.mp4"}[make]()
    with pytest.raises(VideoError) as err:
        _run(src, tmp_path / "out.mp4", engine)
    assert str(src) in str(err.value) and "\n" not in str(err.value)
    assert _left_behind(tmp_path, "out") == []


def test_truncated_file_is_read_as_far_as_it_goes(tmp_path, engine):
    full = vc.make_clip(tmp_path / "full.mkv", n=48)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.warns(TruncatedWarning):
        out = _run(cut, tmp_path / "cut_colour.mp4", engine)
    n = len(vc.decoded(out)[1])
    assert 5 < n < 48


def test_ffmpeg_cli_fallback_reads_the_same_frames(tmp_path):
    src = vc.make_clip(tmp_path / "c.mp4", n=10)
    info = probe(src)
    a = list(read_frames(info, backend="pyav"))
    b = list(read_frames(info, backend="ffmpeg"))
    assert [f.pts for f in a] == [f.pts for f in b]
    assert all(np.array_equal(x.rgb, y.rgb) for x, y in zip(a, b))


def test_ffmpeg_cli_fallback_seeks_to_the_same_window(tmp_path):
    src = vc.make_clip(tmp_path / "c.mp4", n=48, fps=24)
    info = probe(src)
    a = list(read_frames(info, start=1.0, end=1.5, backend="pyav"))
    b = list(read_frames(info, start=1.0, end=1.5, backend="ffmpeg"))
    assert len(a) == 12 and [f.pts for f in a] == [f.pts for f in b]
    assert all(np.array_equal(x.rgb, y.rgb) for x, y in zip(a, b))


def test_ffmpeg_cli_fallback_error_carries_ffmpegs_own_message(tmp_path):
    src = vc.make_clip(tmp_path / "c.mp4", n=4)
    info = probe(src)
    src.write_bytes(b"not a video at all" * 100)  # replaced after probing: ffmpeg itself must fail
    with pytest.raises(VideoError, match="ffmpeg could not decode it: .*(Invalid data|invalid)"):
        list(read_frames(info, backend="ffmpeg"))


def test_container_that_cannot_hold_the_audio_fails_before_any_work(tmp_path, engine):
    src = vc.make_clip(tmp_path / "talk.mp4", n=6, audio=True)
    with pytest.raises(VideoError, match="cannot hold the source's aac audio"):
        _run(src, tmp_path / "talk.webm", engine)
    assert _left_behind(tmp_path, "talk.webm") == []


def test_start_seeks_and_gives_the_same_frames_as_decoding_from_the_top(tmp_path):
    src = vc.make_clip(tmp_path / "c.mp4", n=48, fps=24)
    info = probe(src)
    everything = list(read_frames(info))
    window = list(read_frames(info, start=1.0, end=1.5))
    offset = round(1.0 / info.time_base)
    assert [f.pts + offset for f in window] == [f.pts for f in everything[24:36]]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(window, everything[24:36]))


@pytest.mark.gpu
def test_cuda_pipeline_keeps_frames_and_is_close_to_cpu(tmp_path, engine):
    from framecolor.inference import ImageColorizer

    cuda = ImageColorizer(engine.model.to("cuda"), torch.device("cuda"), size=32, precision="bf16", batch_size=4)
    out = _run(SAMPLE, tmp_path / "gpu.mp4", cuda, temporal="flow")
    engine.model.to("cpu")
    ref = _run(SAMPLE, tmp_path / "cpu.mp4", engine, temporal="flow")
    (t1, f1), (t2, f2) = vc.decoded(out), vc.decoded(ref)
    assert t1 == t2 and len(f1) == 60
    assert np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(f1, f2)]) < 3.0


def test_film_uses_the_cards_film_gain_and_photos_keep_theirs(tmp_path, engine):
    """A colorizer whose card gives film its own chroma gain (here 0: no colour) paints photos with the
    photo gain and film with the film gain; the chunk cache tells the two gains apart."""
    import dataclasses

    from framecolor.inference import film_colorizer

    greyed = dataclasses.replace(engine, film_chroma_gain=0.0)
    assert film_colorizer(greyed).chroma_gain == 0.0 and film_colorizer(engine) is engine
    frame = vc.decoded(SAMPLE)[1][0]
    assert np.ptp(greyed.colorize(frame).astype(int), axis=2).max() > 2  # the photo gain still colours
    out = vc.decoded(_run(SAMPLE, tmp_path / "film.mp4", greyed, end=0.2))[1]
    assert np.ptp(out[0].astype(int), axis=2).max() <= 3  # a*b* = 0: grey up to the 4:2:0 chroma rounding
    coloured = vc.decoded(_run(SAMPLE, tmp_path / "colour.mp4", engine, end=0.2))[1]
    assert np.ptp(coloured[0].astype(int), axis=2).max() > 3


def test_a_gain_given_rules_photos_and_film():
    from framecolor.inference import load_colorizer
    from framecolor.models.registry import read_meta, resolve_checkpoint

    config = read_meta(resolve_checkpoint("unet-lite2"))["config"]
    assert config["film_chroma_gain"] != config["chroma_gain"]  # the card gives film a gain of its own
    card = load_colorizer("unet-lite2", device="cpu")
    assert (card.chroma_gain, card.film_chroma_gain) == (config["chroma_gain"], config["film_chroma_gain"])
    given = load_colorizer("unet-lite2", device="cpu", chroma_gain=0.9)
    assert (given.chroma_gain, given.film_chroma_gain) == (0.9, None)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_odd_sized_film_is_written_420_at_its_exact_size(tmp_path, engine, suffix):
    """H.264 4:2:0 cannot hold an odd side (its crop counts in 2-pixel units), and H.264 4:4:4 does not
    play in browsers, so an odd-sized film becomes VP9 4:2:0 at the exact size, with its sound."""
    import av

    src = vc.make_clip(tmp_path / "odd.mkv", n=12, h=47, w=65, audio=True, codec="libvpx-vp9")
    notes = []
    out = _run(src, tmp_path / f"colour{suffix}", engine, log=notes.append)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.codec_context.pix_fmt, v.width, v.height) == ("vp9", "yuv420p", 65, 47)
        assert len(c.streams.audio) == 1
    frames = vc.decoded(out)[1]
    assert len(frames) == 12 and frames[0].shape == (47, 65, 3)
    assert vc.packet_hashes(out) == vc.packet_hashes(src)  # the sound is copied untouched
    assert any("odd side" in n for n in notes)


def test_odd_sized_film_keeps_h264_when_asked(tmp_path, engine):
    import av

    src = vc.make_clip(tmp_path / "odd.mkv", n=6, h=47, w=65, codec="libvpx-vp9")
    out = _run(src, tmp_path / "colour.mp4", engine, codec="libx264")
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.codec_context.pix_fmt, v.width, v.height) == ("h264", "yuv444p", 65, 47)


def test_even_sized_film_stays_h264_420(tmp_path, engine):
    import av

    out = _run(vc.make_clip(tmp_path / "even.mp4", n=6, h=48, w=64), tmp_path / "colour.mp4", engine)
    with av.open(str(out)) as c:
        assert (c.streams.video[0].codec_context.name, c.streams.video[0].codec_context.pix_fmt) == ("h264", "yuv420p")
