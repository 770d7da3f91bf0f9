"""Streaming frame reader: PyAV with threaded decoding, or the ffmpeg CLI as a fallback.

Frames come out one at a time as (H, W, 3) uint8 RGB with their timestamps, so memory does not
depend on the length of the film. A file that ends early is read as far as it goes, with a warning.
A grey frame (8-bit YUV with neutral chroma, as old films are stored) comes out as its (H, W) grey
level instead, read straight off the luma plane through the decoder's own luma -> RGB table: the
same numbers as its RGB conversion, a third of the data and none of the conversion work.
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
    pixels: np.ndarray  # (H, W, 3) uint8 RGB, or (H, W) uint8 grey level when R = G = B
    pts: int  # source time base, relative to the origin of the output timeline
    duration: int  # source time base
    index: int  # position in the output

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB; a grey frame's level in all three channels."""
        p = self.pixels
        return p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2)


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
    for pts, dur, pixels in _with_durations(raw, info):
        if pts < origin - _half_frame(info) or (resume is not None and pts <= resume):
            continue
        if stop is not None and pts >= stop - _half_frame(info):
            break
        yield Frame(pixels, pts - origin, dur, index)
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
        n, last, grey = 0, None, _GreyReader()
        try:
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else (last + 1 if last is not None else 0)
                last = pts
                n += 1
                yield pts, frame.duration or 0, grey(frame)
        except av.error.FFmpegError as e:
            warnings.warn(f"{info.path}: the video breaks off after {n} decoded frames ({e}); "
                          "keeping what could be read", TruncatedWarning, stacklevel=2)
    finally:
        container.close()


_GREY_FORMATS = ("gray", "yuv420p", "yuv422p", "yuv444p", "yuv440p", "yuv411p", "yuv410p",
                 "yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "yuvj411p")


def _plane(frame, i: int) -> np.ndarray:
    """(h, w) uint8 view of plane i of an 8-bit planar frame, without the row padding."""
    p = frame.planes[i]
    return np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:p.height, :p.width]


class _GreyReader:
    """Decoded frame -> (H, W) grey level if its chroma is exactly neutral, else (H, W, 3) RGB.

    The luma -> grey level table comes from the decoder's own RGB conversion of a synthetic frame
    of the same format, width, colour space and range, and is checked against the RGB of the first
    grey frame; so a grey frame gives exactly the numbers its RGB conversion would have given.
    """

    def __init__(self):
        self.key, self.table = None, None

    def __call__(self, frame) -> np.ndarray:
        import cv2

        name = frame.format.name
        if name in _GREY_FORMATS and (name == "gray" or all((_plane(frame, i) == 128).all() for i in (1, 2))):
            key = (name, frame.width, frame.colorspace, frame.color_range)
            if key != self.key:
                self.key, self.table = key, _luma_table(frame)
            if self.table is not None:
                return cv2.LUT(_plane(frame, 0), self.table)
        return frame.to_ndarray(format="rgb24")


def _luma_table(grey) -> np.ndarray | None:
    """(256,) uint8 grey level of each luma value for frames like the neutral frame `grey`, or None
    if the decoder's RGB of a luma ramp is not grey, or not a function of luma alone."""
    import av

    name, width = grey.format.name, max(grey.width, 256)
    ramp = av.VideoFrame(width, 2, name)
    luma = np.arange(width) % 256
    for i, p in enumerate(ramp.planes):
        fill = np.full((p.buffer_size // p.line_size, p.line_size), 128, np.uint8)
        if i == 0:
            fill[:, :width] = luma
        p.update(fill.tobytes())
    ramp.colorspace, ramp.color_range = grey.colorspace, grey.color_range
    rgb = ramp.to_ndarray(format="rgb24")
    table = np.zeros(256, np.uint8)
    table[luma] = rgb[0, :, 0]
    real = grey.to_ndarray(format="rgb24")
    same = [(rgb == rgb[..., :1]).all(), (rgb[0] == rgb[1]).all(), (table[luma] == rgb[0, :, 0]).all(),
            (real == table[_plane(grey, 0)][..., None]).all()]
    return table if all(same) else None


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_read_command(info: VideoInfo, start: float = 0.0, end: float | None = None) -> list[str]:
    """The ffmpeg CLI call (built by ffmpeg-python) that pipes the first video stream of `info.path` from
    `start` (to `end`, seconds) as raw RGB24 frames, unrotated, at the source's own timestamps."""
    import ffmpeg

    source = ffmpeg.input(str(info.path), noautorotate=None, **({"ss": f"{start:.6f}"} if start > 0 else {}))
    out = ffmpeg.output(source["v:0"], "pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough",
                        **({"t": f"{end - start:.6f}"} if end is not None else {}))
    return out.global_args("-v", "error", "-nostdin").compile(cmd=ffmpeg_exe())


def _ffmpeg_frames(info: VideoInfo, start: float, end: float | None) -> Iterator[tuple[int, int, np.ndarray]]:
    """Raw RGB frames piped from the ffmpeg CLI; timestamps assume a constant frame rate."""
    cmd = ffmpeg_read_command(info, start, end)
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
        raise VideoError(f"ffmpeg could not decode it: {text.splitlines()[-1] if text else rc}", info.path)
    if text and rc not in (0, -9):
        warnings.warn(f"{info.path}: ffmpeg stopped after {n} frames: {text.splitlines()[-1]}",
                      TruncatedWarning, stacklevel=2)
