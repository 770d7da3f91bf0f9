"""The film job: decode -> batch -> model -> encode -> flush in three threads, in resumable chunks.

Bounded queues join a decode thread, a colorize thread and the encoding (calling) thread, so the
CPU codecs overlap with the model and memory does not grow with the length of the film. Output is
encoded in chunks that are committed to a hidden work folder beside the output as they finish
(store.ChunkStore); rerunning the same job continues after the last finished chunk. The final file is
remuxed from the chunks plus the source audio (packets copied) into a temporary file and renamed
into place.
"""
from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from tqdm import tqdm

from ..config import VIDEO_MODEL, ColorizerSettings
from ..inference import ImageColorizer, as_settings, colorizer_from
from ..io import atomic_output, same_file
from ..parallel import MAX_CPU_WORKERS, Stages, opencv_threads
from ..video.probe import VideoError, VideoInfo, probe
from ..video.reader import Frame, TruncatedWarning, read_frames
from ..video.writer import ChunkWriter, assemble, check_container, container_format, pick_codec
from .options import VideoJob, film_model
from .store import ChunkStore, resume_key
from .stream import Prepared, StreamColorizer, batched


class OutputExists(VideoError):
    """The output file is there already; it is replaced only when asked (overwrite=True). `readable`:
    whether it is a video that can be read (a finished film) or something else."""

    def __init__(self, path: str | os.PathLike, readable: bool | None = None):
        if readable is None:
            try:
                probe(path)
                readable = True
            except VideoError:
                readable = False
        self.readable = readable
        super().__init__("exists already" + ("" if readable else ", and is not a video that can be read"), path)

    def __reduce__(self):
        return type(self), (self.path, self.readable)


class RemuxFailed(VideoError):
    """The film is colorized but could not be written into `path`'s container. Its `frames` colorized
    frames are kept in the work folder `kept`: the same call again retries the remux, and a call with an
    output of another container (`other`) writes them there without colorizing again."""

    def __init__(self, reason: str, path: str | os.PathLike, kept: str | os.PathLike, frames: int):
        self.kept, self.frames = Path(kept), frames
        self.other = Path(path).with_suffix(".mkv" if Path(path).suffix.lower() != ".mkv" else ".mp4").name
        super().__init__(f"{reason}. The {frames} colorized frames are kept in {kept}: the same run again retries, "
                         f"and an output named {self.other} takes them without colorizing again", path)
        self.reason = reason

    def __reduce__(self):
        return type(self), (self.reason, self.path, self.kept, self.frames)


def _check_paths(src: Path, dst: Path) -> None:
    container_format(dst)
    if same_file(src, dst):
        raise VideoError("output path is the input itself; refusing to overwrite it", src)
    if dst.is_dir():
        raise VideoError("is a folder; give the output video's file name", dst)
    _check_folder_writable(dst)


def _check_folder_writable(dst: Path) -> None:
    """The output's folder exists and takes new files (the work folder and the film go there)."""
    folder = dst.parent
    if not folder.exists():
        raise VideoError(f"the output folder {folder} does not exist; create it first", dst)
    if not folder.is_dir():
        raise VideoError(f"{folder} is not a folder", dst)
    try:
        fd, probe_file = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".check", dir=folder)
    except OSError as e:
        raise VideoError(f"cannot write into the output folder {folder} ({e.strerror or e})", dst) from None
    os.close(fd)
    os.unlink(probe_file)


def _check_range(info: VideoInfo, job: VideoJob) -> None:
    if job.start < 0 or (job.end is not None and job.end <= job.start):
        raise VideoError(f"bad time range: start {job.start} s, end {job.end} s", info.path)
    if info.duration and job.start >= info.duration:
        raise VideoError(f"start {job.start} s is past the end of the video ({info.duration:.2f} s)", info.path)


def _encode_chunks(stages: Iterable, store: ChunkStore, make_writer: Callable[[Path], ChunkWriter],
                   render: Callable, chunk_frames: int, bar) -> None:
    """Encoding thread: render colorized batches, write them into chunk files, commit full chunks."""
    writer, n, last = None, 0, None
    try:
        for (frames, prepared), (ab, state) in stages:
            if writer is None:
                path, writer = store.next_path(), make_writer(store.next_path())
            for f, rgb in zip(frames, render(frames, prepared, ab)):
                writer.write(rgb, f.pts, f.duration)
                n, last = n + 1, f.pts
            bar.update(len(frames))
            if n >= chunk_frames:
                writer.close()
                store.commit(path, n, last, state)
                writer, n = None, 0
        if writer is not None:
            writer.close()
            store.commit(path, n, last, {})
            writer = None
    finally:
        if writer is not None:
            writer.abort()


def _stage_fns(colorizer: StreamColorizer, side_by_side: bool) -> tuple[Callable, Callable, Callable, Callable]:
    """(prepare: decode thread, predict: model thread(s), ordered: in frame order after predict,
    render: encode thread)."""
    def prepare(batch: list[Frame]):
        return batch, colorizer.prepare([f.pixels for f in batch], working=False)

    if colorizer.frames_independent:
        def predict(item) -> torch.Tensor:
            return colorizer.predict_frames(item[1])

        def ordered(item, ab: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
            return colorizer.smooth(item[1], ab), colorizer.state()
    else:
        def predict(item) -> torch.Tensor:
            return colorizer.predict(item[1])

        def ordered(item, ab: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
            return ab, colorizer.state()

    def render(frames: list[Frame], prepared: Prepared, ab: torch.Tensor) -> np.ndarray:
        out = colorizer.merge(prepared, ab)
        return np.concatenate([np.stack([f.rgb for f in frames]), out], axis=2) if side_by_side else out
    return prepare, predict, ordered, render


def model_workers(colorizer: StreamColorizer) -> int:
    """Model threads for a job: on the CPU, one per torch thread (at most MAX_CPU_WORKERS, sharing out
    the threads; one-threaded each on 2 cores) when frames are independent; else one (a GPU, or the
    LSTM's state)."""
    if colorizer.engine.device.type != "cpu" or not colorizer.frames_independent:
        return 1
    return max(1, min(torch.get_num_threads(), MAX_CPU_WORKERS))


@dataclass(frozen=True)
class VideoProgress:
    """How far a film job is, for `colorize_video(on_progress=...)`: frames done (resumed ones
    included), the total (None when the container does not say), frames/s of this run, seconds left."""

    done: int
    total: int | None
    fps: float
    eta: float | None


class _ProgressBar:
    """The tqdm bar, plus a VideoProgress for `report` after every batch."""

    def __init__(self, bar, report: Callable[[VideoProgress], None] | None):
        self.bar, self.report, self.clock = bar, report, time.monotonic
        self.first, self.t0, self.done = bar.n, self.clock(), bar.n

    def __enter__(self) -> "_ProgressBar":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def update(self, n: int) -> None:
        self.bar.update(n)
        self.done += n
        if self.report is not None:
            fps = (self.done - self.first) / max(self.clock() - self.t0, 1e-6)
            total = self.bar.total
            eta = (total - self.done) / fps if total and fps > 0 else None
            self.report(VideoProgress(self.done, total, fps, None if eta is None else max(eta, 0.0)))


def _progress(info: VideoInfo, job: VideoJob, done: int, enabled: bool,
              report: Callable[[VideoProgress], None] | None = None) -> _ProgressBar:
    total = info.frames_between(job.start, job.end) or None
    return _ProgressBar(tqdm(total=total, initial=done, unit="frame", disable=not enabled, desc=info.path.name,
                             dynamic_ncols=True, smoothing=0.1), report)


def run_job(info: VideoInfo, dst: Path, engine: ImageColorizer, job: VideoJob, progress: bool = True,
            backend: str = "auto", queue_size: int = 4, log: Callable[[str], None] | None = None,
            on_progress: Callable[[VideoProgress], None] | None = None) -> Path:
    """Colorize `info.path` into `dst` (resuming from committed chunks) and remux the result.
    `check_output` has passed for these settings. `on_progress` gets a VideoProgress after each batch."""
    store = encode_job(info, dst, engine, job, progress, backend, queue_size, log, on_progress)
    _finish(info, dst, store, job)
    return dst


def encode_job(info: VideoInfo, dst: Path, engine: ImageColorizer, job: VideoJob, progress: bool = True,
               backend: str = "auto", queue_size: int = 4, log: Callable[[str], None] | None = None,
               on_progress: Callable[[VideoProgress], None] | None = None) -> ChunkStore:
    """Colorize `info.path` (between job.start and job.end) into the chunks of `dst`'s work folder,
    resuming after the chunks committed there; returns the store. Nothing is remuxed."""
    width = info.width * (2 if job.side_by_side else 1)
    fmt_codec = pick_codec(job.encode, container_format(dst), width, info.height)
    if log is not None and job.encode.codec is None and fmt_codec == "libvpx-vp9" and container_format(dst) != "webm":
        log(f"{info.path}: {width}x{info.height} has an odd side, which H.264 4:2:0 cannot hold; writing VP9 "
            "4:2:0 at the exact size (browsers and Android play it; the codec libx264 gives H.264 4:4:4)")
    batch = max(1, engine.batch_size)
    chunk = -(-job.chunk_frames // batch) * batch
    colorizer = StreamColorizer(engine, job.temporal, job.cut_threshold, job.flow_strength)
    store = ChunkStore(dst, resume_key(info.path, job, engine))
    if store.chunks and log is not None:
        log(f"{info.path}: " + (f"all {store.frames_done} frames are colorized already ({store.dir}); writing {dst}"
                                if store.complete else f"resuming from frame {store.frames_done} "
                                f"({len(store.chunks)} finished chunks in {store.dir})"))
    colorizer.load(store.state())
    frames = read_frames(info, job.start, job.end, store.last_pts, store.frames_done, backend)

    def make_writer(path: Path) -> ChunkWriter:
        return ChunkWriter(path, fmt_codec, job.encode, width, info.height, info.time_base, info.fps, info.sar)

    prepare, predict, ordered, render = _stage_fns(colorizer, job.side_by_side)
    stages = Stages(map(prepare, batched(frames, batch)), predict, queue_size, model_workers(colorizer), ordered)
    with _progress(info, job, store.frames_done, progress, on_progress) as bar, opencv_threads(engine.device):
        _encode_chunks(stages, store, make_writer, render, chunk, bar)
    return store


def check_output(info: VideoInfo, dst: Path, job: VideoJob) -> None:
    """VideoError now, rather than after the film is colorized, when `dst`'s container cannot hold the
    encoded video and the source's audio (a trial remux of two frames and a few audio packets)."""
    width = info.width * (2 if job.side_by_side else 1)
    check_container(dst, pick_codec(job.encode, container_format(dst), width, info.height), info, job.encode, width)


def _warn_if_short(info: VideoInfo, store: ChunkStore, job: VideoJob) -> None:
    """The container promised more frames (or a longer duration) than could be decoded."""
    if job.end is not None:
        return
    got = job.start + float((store.last_pts or 0) * info.time_base) + 1 / float(info.fps)
    short_frames = job.start == 0 and info.frames and store.frames_done < info.frames - 1
    if short_frames or got < info.duration - 2 / float(info.fps):
        warnings.warn(f"{info.path}: the video ends at {got:.2f} s of a declared {info.duration:.2f} s; the "
                      "file looks truncated, keeping what could be read", TruncatedWarning, stacklevel=3)


def _finish(info: VideoInfo, dst: Path, store: ChunkStore, job: VideoJob) -> None:
    if store.frames_done == 0:
        store.remove()
        raise VideoError(f"no frames {job.span()}", info.path)
    _warn_if_short(info, store, job)
    store.mark_complete()
    try:
        remux_into(dst, store.paths(), info, job.start, job.end)
    except VideoError as e:  # the colorized chunks are kept: only the remux is to be redone
        raise RemuxFailed(e.reason, dst, store.dir, store.frames_done) from None
    store.remove()


def remux_into(dst: Path, chunks: list[Path], info: VideoInfo, start: float = 0.0, end: float | None = None,
               offsets: list[int] | None = None) -> None:
    """`assemble` the chunks (each shifted by its offset, in the source time base) and the source's
    audio into a temporary file beside `dst`, then rename it into place: `dst` is whole or absent."""
    with atomic_output(dst) as tmp:
        assemble(tmp, chunks, info, start, end, info.rotation, offsets=offsets)


def colorize_video(src: str | os.PathLike, dst: str | os.PathLike,
                   model: ImageColorizer | ColorizerSettings | str | os.PathLike = VIDEO_MODEL,
                   job: VideoJob = VideoJob(), *, overwrite: bool = False, progress: bool = True,
                   backend: str = "auto", log: Callable[[str], None] | None = None,
                   on_progress: Callable[[VideoProgress], None] | None = None) -> Path:
    """Colorize a video file into `dst` (container from its extension), keeping rate, timestamps,
    size, aspect, rotation and the audio packets. Rerun after an interruption to resume.

    `model`: a loaded colorizer (load_colorizer), settings to load one with, or a registry name or
    checkpoint path (loaded with the default settings); a name or settings are loaded after the
    output is checked, and for `lstm` the shipped default becomes LSTM_MODEL (film_model). `job`: the
    temporal mode, time range, chunking and encoding. An existing `dst` is left alone (OutputExists)
    unless `overwrite`. `log` gets notes (resuming from frame N); `on_progress` a VideoProgress (frames
    done, total, frames/s, ETA) after each batch, with or without the `progress` bar on stderr.
    """
    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    info = probe(src)
    _check_range(info, job)
    if dst.exists() and not overwrite:
        raise OutputExists(dst)
    check_output(info, dst, job)  # before the model loads and any frame is colorized
    return run_job(info, dst, _film_engine(model, job.temporal), job, progress, backend, log=log,
                   on_progress=on_progress)


def _film_engine(model: ImageColorizer | ColorizerSettings | str | os.PathLike, temporal: str) -> ImageColorizer:
    if isinstance(model, ImageColorizer):
        return model
    settings = as_settings(model)
    return colorizer_from(settings, film_model(settings.model, temporal))
