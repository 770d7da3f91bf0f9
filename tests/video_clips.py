"""Tiny generated clips for the video tests (PyAV): moving crops of a real photo, optional AAC
sine audio, variable frame rate, rotation and sample-aspect metadata, scene cuts."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def moving_frames(n: int, h: int = 48, w: int = 64, step: int = 1, grey: bool = False,
                  cut_at: int | tuple[int, ...] | None = None):
    """n (h, w, 3) uint8 frames panning across skimage's astronaut; a different photo (coffee, then
    chelsea, then rocket) from each frame in `cut_at` on."""
    import skimage.data

    scenes = [skimage.data.astronaut()[100:300, 100:300], skimage.data.coffee()[50:250, 200:400],
              skimage.data.chelsea()[50:250, 100:300], skimage.data.rocket()[100:300, 100:300]]
    cuts = () if cut_at is None else (cut_at,) if isinstance(cut_at, int) else tuple(cut_at)
    for t in range(n):
        img = scenes[sum(t >= c for c in cuts)]
        f = img[20:20 + h, t * step:t * step + w].copy()
        if grey:
            f[:] = f.mean(axis=2, keepdims=True).astype(np.uint8)
        yield f


def make_clip(path: Path, n: int = 24, fps: int = 24, h: int = 48, w: int = 64, audio: bool = False,
              vfr: bool = False, rotation: int = 0, sar: Fraction | None = None, grey: bool = False,
              cut_at: int | tuple[int, ...] | None = None, codec: str = "libx264", step: int = 1) -> Path:
    import av

    tb = Fraction(1, 1000) if vfr else Fraction(1, fps)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps, options={"preset": "ultrafast"} if codec == "libx264" else {})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.time_base = tb
        if sar:
            vs.codec_context.sample_aspect_ratio = sar
        if rotation:
            vs.set_display_rotation(rotation)
        a_s = _audio_stream(out) if audio else None
        pts = _timestamps(n, fps, vfr)
        for t, img in enumerate(moving_frames(n, h, w, step, grey, cut_at)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = pts[t], tb
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        if a_s is not None:
            _write_sine(out, a_s, seconds=float(pts[-1] * tb) + 1 / fps)
    return path


def _timestamps(n: int, fps: int, vfr: bool) -> list[int]:
    if not vfr:
        return list(range(n))
    gaps = [1000 // fps if t % 3 else 3 * 1000 // fps for t in range(n)]  # every third frame held longer
    return [int(x) for x in np.concatenate([[0], np.cumsum(gaps[:-1])])]


def _audio_stream(out):
    a = out.add_stream("aac", rate=16000)
    a.layout = "mono"
    return a


def _write_sine(out, stream, seconds: float, rate: int = 16000) -> None:
    import av

    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for i in range(0, len(wave), 1024):
        block = wave[i:i + 1024][None]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, i
        out.mux(stream.encode(frame))
    out.mux(stream.encode())


def audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        _write_sine(out, _audio_stream(out), 0.5)
    return path


def zero_length(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=24)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    return path


def unknown_codec(path: Path, tmp: Path) -> Path:
    """An MP4 whose video sample entry names a codec no decoder knows."""
    data = make_clip(tmp / "ok.mp4", n=4).read_bytes()
    path.write_bytes(data.replace(b"avc1", b"zzz9"))
    return path


def packet_hashes(path: Path, kind: str = "audio") -> list[str]:
    import hashlib

    import av

    with av.open(str(path)) as c:
        streams = c.streams.audio if kind == "audio" else c.streams.video
        return [hashlib.sha256(bytes(p)).hexdigest() for p in c.demux(*streams) if p.size]


def decoded(path: Path) -> tuple[list[float], list[np.ndarray]]:
    """(timestamps in seconds, RGB frames) of the first video stream."""
    import av

    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return [float(f.pts * f.time_base) for f in frames], [f.to_ndarray(format="rgb24") for f in frames]
