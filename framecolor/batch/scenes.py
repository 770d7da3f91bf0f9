"""One film split at its scene cuts: segments coloured apart (on several workers), joined by remuxing.

The cuts are found as the video pipeline finds them (the same working-size L* and SceneCuts), so a
segment starts exactly where a whole-file run resets its temporal carry; each segment's frames are
then those of the whole-file run, and only the encoder's work differs. Segments are colorized into
resumable chunk stores in the job's work folder; the join copies their H.264 packets, shifted to
the film's timeline, and the source's audio into the output: nothing is encoded twice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from .job import BatchSettings, Item, JobFolder


@dataclass(frozen=True)
class Segment:
    """Frames [first, stop) of a film, from `start` to `end` seconds (from the first frame); `offset`:
    the first frame's timestamp in the whole film's output timeline (source time base)."""

    index: int
    first: int
    stop: int
    start: float
    end: float | None
    offset: int


def scan_cuts(path: Path, size: int, threshold: float, batch: int = 16) -> tuple[list[int], list[int]]:
    """(timestamps of every frame in the output timeline, indices of the frames that start a scene)."""
    from ..film.carry import SceneCuts
    from ..video.probe import probe
    from ..video.reader import read_frames

    detector, pts, cuts, pending = SceneCuts(threshold), [], [], []
    for frame in read_frames(probe(path)):
        pts.append(frame.pts)
        pending.append(frame)
        if len(pending) == batch:
            cuts += _cuts_in(pending, detector, size)
            pending = []
    cuts += _cuts_in(pending, detector, size)
    return pts, cuts


def _cuts_in(frames: list, detector, size: int) -> list[int]:
    from ..film.stream import full_l_cpu, working_l

    if not frames:
        return []
    grays = working_l(full_l_cpu([f.pixels for f in frames]), size)[1]
    return [f.index for f, gray in zip(frames, grays) if detector(gray)]


def plan_segments(pts: list[int], cuts: list[int], time_base, min_frames: int) -> list[Segment]:
    """Segments that start at scene cuts, each at least `min_frames` long (a short last one joins the
    one before); seconds and offsets from the frames' timestamps."""
    bounds = [0]
    for c in cuts:
        if c - bounds[-1] >= min_frames and len(pts) - c >= min_frames:
            bounds.append(c)
    stops = bounds[1:] + [len(pts)]
    return [Segment(k, a, b, float(pts[a] * time_base), None if b == len(pts) else float(pts[b] * time_base),
                    pts[a]) for k, (a, b) in enumerate(zip(bounds, stops))]


def plan_film(job: JobFolder, item: Item, settings: BatchSettings) -> list[Segment]:
    """The item's segments: planned once (a scan of the whole film) and kept in its work folder."""
    from ..io import atomic_write
    from ..video.probe import probe
    from ..film.job import check_output

    plan = job.work_dir(item) / "segments.json"
    if plan.is_file():
        return [Segment(**s) for s in json.loads(plan.read_text())]
    info = probe(item.source)
    item.output.parent.mkdir(parents=True, exist_ok=True)
    check_output(info, item.output, video_job(settings, None))  # before any frame is colorized
    pts, cuts = scan_cuts(item.source, settings.size, settings.cut_threshold)
    segments = plan_segments(pts, cuts, info.time_base, max(1, round(settings.min_segment * float(info.fps))))
    plan.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(plan, json.dumps([s.__dict__ for s in segments]).encode())
    return segments


def video_job(settings: BatchSettings, segment: Segment | None):
    """The VideoJob `framecolor video` runs for these settings, over one segment or the whole film."""
    job = settings.video_job()
    return job if segment is None else replace(job, start=segment.start, end=segment.end)


def segment_path(job: JobFolder, item: Item, segment: Segment) -> Path:
    """Where a segment's chunks are kept (their work folder is beside this name; the file itself is
    never written). The output's extension: its container decides the codec."""
    return job.work_dir(item) / f"segment_{segment.index:05d}{item.output.suffix}"


def colorize_segment(worker, item: Item, segment: Segment) -> int:
    """Colour one segment into its chunk store (resuming it) and mark it complete; its frame count."""
    from ..video.probe import probe
    from ..film.job import encode_job

    store = encode_job(probe(item.source), segment_path(worker.job, item, segment), worker.film_engine(),
                       video_job(worker.settings, segment), progress=False)
    store.mark_complete()
    return store.frames_done


def join_segments(job: JobFolder, item: Item, segments: list[Segment]) -> int:
    """Remux every segment's chunks, shifted to the film's timeline, and the source's audio into the
    output; remove the work folder. The number of frames written."""
    import shutil

    from ..video.probe import VideoError, probe
    from ..film.job import remux_into
    from ..film.store import ChunkStore

    chunks, offsets, frames = [], [], 0
    for seg in segments:
        finished = ChunkStore.finished_chunks(segment_path(job, item, seg))
        if finished is None:
            raise VideoError(f"segment {seg.index} (frames {seg.first}-{seg.stop - 1}) is not colorized yet",
                             item.source)
        chunks += [c for c, _ in finished]
        offsets += [seg.offset] * len(finished)
        frames += sum(n for _, n in finished)
    remux_into(item.output, chunks, probe(item.source), offsets=offsets)
    shutil.rmtree(job.work_dir(item), ignore_errors=True)
    return frames


def colorize_split(worker, item: Item) -> int:
    """The whole split film on one worker, segment after segment (on Ray, segments go to many)."""
    segments = plan_film(worker.job, item, worker.settings)
    for seg in segments:
        colorize_segment(worker, item, seg)
    return join_segments(worker.job, item, segments)
