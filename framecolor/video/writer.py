"""Chunked encoding and the final remux (video chunks + source audio, packets copied).

Each chunk is encoded into its own small Matroska file, with the exact timestamps of every packet
kept in a JSON index beside it (Matroska rounds to milliseconds). `assemble` concatenates the
chunks by remuxing, copies the source audio packets untouched, and sets rotation metadata.
"""
from __future__ import annotations

import heapq
import json
import os
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..io import atomic_write
from .probe import VideoError, VideoInfo, ffmpeg_reason

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
              ".avi": "avi", ".ts": "mpegts"}


@dataclass(frozen=True)
class EncodeSettings:
    codec: str | None = None  # None -> libx264 (libvpx-vp9 for .webm)
    crf: int = 18
    preset: str = "medium"


def container_format(path: str | os.PathLike) -> str:
    """Output container from the file extension, with a clear error for unknown ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        raise VideoError(f"unsupported output extension {suffix!r}; use one of {', '.join(CONTAINERS)}", path)
    return CONTAINERS[suffix]


# Containers that hold VP9, which browsers play at any size in 4:2:0. H.264 4:2:0 cannot have an odd
# width or height: its crop fields count in 2-pixel units (h264_metadata refuses crop_right=1), so an
# odd-sized film would need H.264 4:4:4, which browsers, phones and QuickTime do not play.
_VP9_CONTAINERS = ("webm", "mp4", "matroska")


def pick_codec(settings: EncodeSettings, fmt: str, width: int = 2, height: int = 2) -> str:
    """The codec asked for; else VP9 for .webm, and for odd-sized frames where the container holds it
    (4:2:0 at the exact size); else H.264."""
    import av

    odd = bool(width % 2 or height % 2)
    codec = settings.codec or ("libvpx-vp9" if fmt == "webm" or (odd and fmt in _VP9_CONTAINERS) else "libx264")
    if codec not in av.codecs_available:
        raise VideoError(f"video codec {codec!r} is not available in this PyAV build")
    return codec


def check_container(dst: str | os.PathLike, codec: str, info: VideoInfo,
                    settings: EncodeSettings = EncodeSettings(), width: int | None = None) -> None:
    """Fail before any work when the output container cannot hold the video codec or the source's
    audio: `assemble` is tried on two encoded black frames (`width` x info.height) and the first
    audio packets, in a temporary folder (a fraction of a second)."""
    import tempfile

    fmt = container_format(dst)
    with tempfile.TemporaryDirectory(prefix="framecolor-check-") as tmp:
        chunk = Path(tmp) / "trial.mkv"
        _trial_chunk(chunk, dst, codec, settings, width or info.width, info)
        try:
            assemble(Path(tmp) / f"trial{Path(dst).suffix}", [chunk], info, rotation=info.rotation, audio_packets=8)
        except VideoError as e:
            raise VideoError(_why_not(fmt, codec, info, Path(dst).suffix, e.reason), dst) from None


def _trial_chunk(path: Path, dst: str | os.PathLike, codec: str, settings: EncodeSettings, width: int,
                 info: VideoInfo) -> None:
    """Two black frames encoded as the job will encode them, or a VideoError naming the settings."""
    import av

    step = max(1, int(round(1 / (info.fps * info.time_base))))
    writer = None
    try:
        writer = ChunkWriter(path, codec, settings, width, info.height, info.time_base, info.fps, info.sar)
        for i in range(2):
            writer.write(np.zeros((info.height, width, 3), np.uint8), i * step, step)
        writer.close()
    except (av.error.FFmpegError, ValueError) as e:
        if writer is not None:
            writer.abort()
        raise VideoError(f"cannot encode {codec} video at {width}x{info.height} with crf {settings.crf}, preset "
                         f"{settings.preset!r} ({ffmpeg_reason(e)}); pick another --codec, --crf or --preset", dst) from None


def _why_not(fmt: str, codec: str, info: VideoInfo, suffix: str, reason: str) -> str:
    """Which stream a container refused, as far as it lists what it holds."""
    import io

    import av

    with av.open(io.BytesIO(), "w", format=fmt) as probe_out:
        supported = probe_out.supported_codecs  # some muxers (mpegts) list fewer than they hold
    video = av.codec.Codec(codec, "w").canonical_name
    with av.open(str(info.path)) as src:
        audio = sorted({a.codec_context.name for a in src.streams.audio})
    if video not in supported and codec not in supported:
        return f"a {suffix} file cannot hold {codec} video; pick another --codec or extension (.mkv holds any)"
    if set(audio) - supported:
        return (f"a {suffix} file cannot hold the source's {', '.join(sorted(set(audio) - supported))} audio "
                "(copied untouched); use .mkv or .mp4")
    streams = f"{codec} video" + (f" with {', '.join(audio)} audio" if audio else "")
    return f"{reason}: a {suffix} file cannot hold {streams} as encoded here; use .mkv, or pick another --codec"


def _codec_options(codec: str, settings: EncodeSettings) -> dict[str, str]:
    crf, preset = str(settings.crf), settings.preset
    return {"libx264": {"crf": crf, "preset": preset}, "libx265": {"crf": crf, "preset": preset, "x265-params": "log-level=error"},
            "libvpx-vp9": {"crf": crf, "b": "0", "row-mt": "1"}, "libsvtav1": {"crf": crf},
            "h264_nvenc": {"cq": crf, "preset": "p4"}, "hevc_nvenc": {"cq": crf, "preset": "p4"}}.get(codec, {})


def _pix_fmt(codec: str, width: int, height: int) -> str:
    if codec in ("ffv1",):
        return "yuv444p"
    return "yuv444p" if (width % 2 or height % 2) and codec.startswith("libx26") else "yuv420p"


class ChunkWriter:
    """Encode (H, W, 3) uint8 RGB frames of one chunk; `close()` flushes and writes the index."""

    def __init__(self, path: Path, codec: str, settings: EncodeSettings, width: int, height: int,
                 time_base: Fraction, fps: Fraction, sar: Fraction | None):
        import av

        self.path, self.time_base = Path(path), time_base
        self.container = av.open(str(self.path), "w", format="matroska")
        s = self.container.add_stream(codec, rate=fps, options=_codec_options(codec, settings))
        s.width, s.height, s.pix_fmt = width, height, _pix_fmt(codec, width, height)
        s.codec_context.time_base = time_base
        if sar:
            s.codec_context.sample_aspect_ratio = sar
        self.stream, self.index, self.durations = s, [], {}

    def write(self, rgb: np.ndarray, pts: int, duration: int) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts, frame.time_base = pts, self.time_base
        self.durations[pts] = duration
        self._mux(self.stream.encode(frame))

    def _mux(self, packets) -> None:
        for p in packets:
            if p.size == 0:
                continue
            self.index.append([p.pts, p.dts, self.durations.pop(p.pts, 0)])
            self.container.mux(p)

    def close(self) -> None:
        """Flush the encoder, close the file, and write the packet index (both fsynced)."""
        self._mux(self.stream.encode())
        self.container.close()
        meta = {"time_base": [self.time_base.numerator, self.time_base.denominator], "packets": self.index}
        index_path = self.path.with_suffix(".json")
        atomic_write(index_path, json.dumps(meta).encode())
        with open(self.path, "rb") as f:
            os.fsync(f.fileno())

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - already failing; the chunk is discarded
            pass


def _chunk_packets(container, index_path: Path, out_stream) -> Iterator:
    meta = json.loads(index_path.read_text())
    tb = Fraction(*meta["time_base"])
    entries = iter(meta["packets"])
    for p in container.demux(container.streams.video[0]):
        if p.size == 0:
            continue
        p.pts, p.dts, p.duration = next(entries)
        p.time_base, p.stream = tb, out_stream
        yield p


def _video_packets(stack: ExitStack, chunks: list[Path], out_stream, offsets: list[int]) -> Iterator:
    import av

    last = None
    for chunk, offset in zip(chunks, offsets):
        container = stack.enter_context(av.open(str(chunk)))
        for p in _chunk_packets(container, chunk.with_suffix(".json"), out_stream):
            p.pts, p.dts = p.pts + offset, None if p.dts is None else p.dts + offset
            if last is not None and p.dts is not None and p.dts <= last:
                p.dts = last + 1
            last = p.dts
            yield p
        container.close()


def _audio_packets(src, out_streams: dict, origin: float, start_cut: bool, end: float | None) -> Iterator:
    import av

    try:
        for p in src.demux(*out_streams):
            if p.size == 0 or p.pts is None:
                continue
            t = float(p.pts * p.time_base)
            if (start_cut and t < origin) or (end is not None and t >= end):
                continue
            shift = int(round(origin / p.time_base))
            p.pts -= shift
            p.dts = None if p.dts is None else p.dts - shift
            p.stream = out_streams[p.stream]
            yield p
    except av.error.FFmpegError:
        return  # truncated source: keep the audio read so far


def _mux_options(fmt: str, info: VideoInfo) -> dict[str, str]:
    """MP4/MOV: movie timescale = the video's, so the edit list and duration are not cut to ms.
    Matroska/WebM: bit-exact, without the random segment and track UIDs, so that the same film
    colorized twice (or by a batch job) gives the same bytes."""
    tb = info.time_base
    if fmt in ("mp4", "mov") and tb.numerator == 1 and tb.denominator <= 1_000_000:
        return {"movie_timescale": str(tb.denominator)}
    return {"fflags": "+bitexact"} if fmt in ("matroska", "webm") else {}


def _sort_key(p) -> float:
    return float((p.dts if p.dts is not None else p.pts) * p.time_base)


def assemble(dst: Path, chunks: list[Path], info: VideoInfo, start: float = 0.0, end: float | None = None,
             rotation: int = 0, audio: bool = True, audio_packets: int | None = None,
             offsets: list[int] | None = None) -> None:
    """Remux encoded chunks and the source's audio (copied untouched, cut to [start, end); only the
    first `audio_packets` when given: a trial) into `dst`. `offsets`: added to each chunk's timestamps
    (source time base; default 0), for chunks colorized from later starts (scene segments)."""
    import itertools

    import av

    fmt = container_format(dst)
    origin = info.start_time + start
    try:
        with ExitStack() as stack:
            out = stack.enter_context(av.open(str(dst), "w", format=fmt, options=_mux_options(fmt, info)))
            first = stack.enter_context(av.open(str(chunks[0])))
            vout = out.add_stream_from_template(first.streams.video[0])
            vout.time_base = info.time_base  # exact source timestamps (the chunks' own are in the index)
            if rotation:
                vout.set_display_rotation(rotation)
            src = stack.enter_context(av.open(str(info.path))) if audio else None
            amap = {a: out.add_stream_from_template(a) for a in (src.streams.audio if src else [])}
            streams = [_video_packets(stack, chunks, vout, offsets or [0] * len(chunks))]
            if amap:
                packets = _audio_packets(src, amap, origin, start > 0, None if end is None else info.start_time + end)
                streams.append(itertools.islice(packets, audio_packets))
            for p in heapq.merge(*streams, key=_sort_key):
                out.mux(p)
    except (av.error.FFmpegError, ValueError) as e:
        raise VideoError(f"cannot write the {fmt} container ({ffmpeg_reason(e)})", dst) from None
