"""Streaming frame reader: PyAV with threaded decoding, or the ffmpeg CLI as a fallback.

Frames come out one at a time as (H, W, 3) uint8 RGB with their timestamps, so memory does not
depend on the length of the film. A file that ends early is read as far as it goes, with a warning.
"""
from __future__ import annotations

import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .probe import VideoError, VideoInfo


@dataclass
class Frame:
    rgb: np.ndarray  # (H, W, 3) uint8
    pts: int  # source time base, relative to the origin of the output timeline
    duration: int  # source time base
    index: int  # position in the output


class TruncatedWarning(UserWarning):
    """The input ended or broke off before its declared end; output stops at the last good frame."""


def origin_pts(info: VideoInfo, start: float) -> int:
    """Source timestamp that becomes time zero of the output."""
    return int(round((info.start_time + start) / info.time_base))


def read_frames(info: VideoInfo, start: float = 0.0, end: float | None = None,
                after_pts: int | None = None, first_index: int = 0, backend: str = "auto") -> Iterator[Frame]:
    """Frames with start <= t < end (seconds from the first frame); `after_pts` (output time base)
    resumes after an already-written frame. backend: auto|pyav|ffmpeg."""
    origin = origin_pts(info, start)
    stop = None if end is None else origin_pts(info, end)
    resume = None if after_pts is None else after_pts + origin
    seek = resume if resume is not None else (origin if start > 0 else None)
    raw = _pyav_frames(info, seek) if _use_pyav(backend) else _ffmpeg_frames(info, start, end)
    index = first_index
    for pts, dur, rgb in _with_durations(raw, info):
        if pts < origin - _half_frame(info) or (resume is not None and pts <= resume):
            continue
        if stop is not None and pts >= stop - _half_frame(info):
            break
        yield Frame(rgb, pts - origin, dur, index)
        index += 1


def _use_pyav(backend: str) -> bool:
    if backend not in ("auto", "pyav", "ffmpeg"):
        raise ValueError(f"unknown video backend {backend!r} (auto, pyav or ffmpeg)")
    if backend == "auto":
        try:
            import av  # noqa: F401
        except ImportError:
            return False
    return backend != "ffmpeg"


def _half_frame(info: VideoInfo) -> int:
    return int(1 / (2 * info.fps) / info.time_base)


def _with_durations(raw: Iterator[tuple[int, int, np.ndarray]], info: VideoInfo):
    """Fill missing frame durations from the next timestamp (one frame of look-ahead)."""
    default = max(1, int(round(1 / (info.fps * info.time_base))))
    prev = None
    for item in raw:
        if prev is not None:
            yield prev[0], prev[1] or max(1, item[0] - prev[0]), prev[2]
        prev = item
    if prev is not None:
        yield prev[0], prev[1] or default, prev[2]


def _pyav_frames(info: VideoInfo, seek_pts: int | None) -> Iterator[tuple[int, int, np.ndarray]]:
    import av

    container = av.open(str(info.path))
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if seek_pts is not None:
            container.seek(seek_pts, stream=stream, backward=True)
        n, last = 0, None
        try:
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else (last + 1 if last is not None else 0)
                last = pts
                n += 1
                yield pts, frame.duration or 0, frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as e:
            warnings.warn(f"{info.path}: the video breaks off after {n} decoded frames ({e}); "
                          "keeping what could be read", TruncatedWarning, stacklevel=2)
    finally:
        container.close()


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_frames(info: VideoInfo, start: float, end: float | None) -> Iterator[tuple[int, int, np.ndarray]]:
    """Raw RGB frames piped from the ffmpeg CLI; timestamps assume a constant frame rate."""
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-noautorotate"]
    if start > 0:
        cmd += ["-ss", f"{start:.6f}"]
    cmd += ["-i", str(info.path)]
    if end is not None:
        cmd += ["-t", f"{end - start:.6f}"]
    cmd += ["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-fps_mode", "passthrough", "-"]
    size = info.width * info.height * 3
    step = 1 / (info.fps * info.time_base)
    offset = int(round((info.start_time + start) / info.time_base))
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        try:
            n = 0
            while len(buf := proc.stdout.read(size)) == size:
                yield offset + int(round(n * step)), int(round(step)), np.frombuffer(buf, np.uint8).reshape(
                    info.height, info.width, 3)
                n += 1
        finally:
            proc.stdout.close()
            proc.kill() if proc.poll() is None else None
            proc.wait()
        _check_ffmpeg(proc.returncode, err, info, n)


def _check_ffmpeg(rc: int, err, info: VideoInfo, n: int) -> None:
    err.seek(0)
    text = err.read().decode(errors="replace").strip()
    if rc not in (0, -9) and n == 0:
        raise VideoError(f"{info.path}: ffmpeg could not decode it: {text.splitlines()[-1] if text else rc}")
    if text and rc not in (0, -9):
        warnings.warn(f"{info.path}: ffmpeg stopped after {n} frames: {text.splitlines()[-1]}",
                      TruncatedWarning, stacklevel=2)
