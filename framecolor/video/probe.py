"""What is in a video file: size, rate, time base, rotation, audio. Bad inputs raise VideoError."""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import InputError


class VideoError(InputError, RuntimeError):
    """A video file cannot be read or written; `path` names the file, `reason` the problem."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: Fraction  # average frame rate (VFR sources keep their own timestamps)
    time_base: Fraction
    frames: int  # container's count, or an estimate from the duration; 0 when unknown
    duration: float  # seconds
    codec: str
    sar: Fraction | None  # sample aspect ratio, None when square/unknown
    rotation: int  # display rotation in degrees, counter-clockwise
    start_time: float  # seconds of the first video timestamp
    audio_streams: int

    def frames_between(self, start: float, end: float | None) -> int:
        """Approximate number of frames in [start, end)."""
        stop = self.duration if end is None else min(end, self.duration)
        return max(0, int(round((stop - start) * float(self.fps))))


def probe(path: str | os.PathLike) -> VideoInfo:
    """Open `path` with PyAV, check it has a decodable video stream with frames, and describe it."""
    import av

    path = Path(path)
    if path.is_dir():
        raise VideoError("is a folder, not a video file", path)
    if not path.is_file():
        raise VideoError("no such file", path)
    if path.stat().st_size == 0:
        raise VideoError("empty file (0 bytes)", path)
    try:
        container = av.open(str(path))
    except av.error.EOFError:
        raise VideoError("the file ends before any video data (empty or zero-length video)", path) from None
    except av.error.FFmpegError as e:
        raise VideoError(f"not a video file ({ffmpeg_reason(e)})", path) from None
    with container:
        stream = _video_stream(container, path)
        first = _first_frame(container, stream, path)
        return _describe(path, container, stream, first)


def ffmpeg_reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)


def _video_stream(container, path: Path):
    if not container.streams.video:
        kind = "an audio-only file" if container.streams.audio else "no video stream (empty or not a video)"
        raise VideoError(f"{kind}; nothing to colorize", path)
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None or ctx.codec is None or not ctx.codec.is_decoder:
        name = getattr(ctx, "name", None) or "unknown"
        raise VideoError(f"unsupported video codec {name!r}; convert it first (e.g. to H.264)", path)
    return stream


def _first_frame(container, stream, path: Path):
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as e:
        raise VideoError(f"cannot decode the video stream ({ffmpeg_reason(e)})", path) from None
    raise VideoError("the video stream has no frames (zero-length video)", path)


def _describe(path: Path, container, stream, first) -> VideoInfo:
    tb = stream.time_base or Fraction(1, 90000)
    fps = stream.average_rate or stream.guessed_rate or Fraction(25)
    if stream.duration is not None:
        duration = float(stream.duration * tb)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    else:
        duration = 0.0
    frames = stream.frames or int(round(duration * float(fps)))
    start = float(first.pts * tb) if first.pts is not None else 0.0
    sar = stream.sample_aspect_ratio
    sar = Fraction(sar) if sar and Fraction(sar) not in (0, 1) else None
    return VideoInfo(path, first.width, first.height, Fraction(fps), Fraction(tb), frames, duration,
                     stream.codec_context.name, sar, int(round(first.rotation or 0)), start,
                     len(container.streams.audio))


def count_frames(path: str | os.PathLike) -> int:
    """Frames in the first video stream, counted from its packets (not decoded): exact where the
    container's own count is missing or an estimate (Matroska)."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams.video[0]) if p.size)
