"""run_batch: open the job folder, find what is left to do, run it locally or on Ray, summarise."""
from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Sequence

from ..errors import InputError
from .job import BatchSettings, Item, JobFolder, Rejected, State, find_items
from .work import Outcome, Task, retry_task


@dataclass
class Summary:
    """Every item's final state (rejected inputs as failed, after 0 attempts), and the run's time."""

    states: list[State]
    seconds: float
    csv_path: Path

    def count(self, status: str) -> int:
        return sum(s.status == status for s in self.states)

    @property
    def failures(self) -> list[State]:
        return [s for s in self.states if s.status == "failed"]

    def lines(self) -> list[str]:
        """What the command prints: one line of counts and speeds, then one line per failure."""
        photos = [s for s in self.states if s.status == "done" and s.kind == "photo"]
        films = [s for s in self.states if s.status == "done" and s.kind == "film"]
        frames = sum(s.frames for s in films)
        speed = [f"{len(photos)} photo(s), {_mean(s.seconds for s in photos):.3f} s each"] if photos else []
        speed += [f"{len(films)} film(s), {frames} frames, {sum(s.seconds for s in films) / max(frames, 1):.4f} "
                  "s a frame"] if films else []
        head = (f"batch: {len(self.states)} item(s): {self.count('done')} done, {self.count('failed')} failed, "
                f"{self.count('pending')} left" + (f"; {'; '.join(speed)}" if speed else "")
                + f"; {self.seconds:.1f} s in this run; summary in {self.csv_path}")
        return [head] + [f"error: {s.error}" for s in self.failures]


def _mean(values) -> float:
    values = list(values)
    return sum(values) / max(len(values), 1)


def run_batch(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, settings: BatchSettings = BatchSettings(),
              retries: int = 2, ray_address: str | None = None, workers: int | None = None,
              progress: bool = True, on_outcome: Callable[[Outcome], None] | None = None) -> Summary:
    """Colour every photo and film in `inputs` (files, folders, CSV manifests) into `out`, continuing
    the job recorded there. Locally by default; on Ray with `ray_address` ('local': a Ray started
    here; 'auto'; or a cluster's address), with `workers` model workers (default: one per GPU, else
    one per CPU). `on_outcome` is called with each item's outcome as it comes (tests, monitoring)."""
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}")
    t0, out = time.perf_counter(), Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("is a file; give the output folder of the job", out)
    job = JobFolder(out)
    items, rejected = find_items(inputs, out, settings.fmt)
    if not items and not rejected:
        raise InputError("no photos or films found in the inputs")
    job.open(settings)
    tasks = pending_tasks(job, items, retries)
    with JobProgress(len(tasks), progress) as bar:
        def seen(outcome: Outcome) -> None:
            bar.update(outcome, final=retry_task(outcome, retries) is None)
            if on_outcome is not None:
                on_outcome(outcome)

        if ray_address is None:
            from .local import run_local

            run_local(out, settings, tasks, retries, seen)
        else:
            try:
                from .ray_runner import run_on_ray
            except ImportError as e:
                raise InputError(f"running on Ray needs Ray ({e}); install the ray extra: "
                                 "pip install 'framecolor[ray]'") from None
            run_on_ray(ray_address, out, settings, tasks, retries, seen, workers)
    return write_summary(job, items, rejected, time.perf_counter() - t0)


def pending_tasks(job: JobFolder, items: list[Item], retries: int) -> list[Task]:
    """Items not done, and not failed 1 + `retries` times already, each with its next attempt."""
    tasks = []
    for item in items:
        state = job.state(item)
        if state is None:
            tasks.append(Task(item, 1))
        elif state.status != "done" and state.attempts < 1 + retries:
            tasks.append(Task(item, state.attempts + 1))
    return tasks


def write_summary(job: JobFolder, items: list[Item], rejected: list[Rejected], seconds: float) -> Summary:
    """summary.csv in the job folder (atomically): one row per item and per rejected input."""
    from ..io import atomic_write

    states = [job.state(i) or State(str(i.source), str(i.output), i.kind, "pending", 0) for i in items]
    states += [State(str(r.source), "", "", "failed", 0, error=r.reason) for r in rejected]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, [f.name for f in fields(State)])
    writer.writeheader()
    for s in states:
        writer.writerow({**asdict(s), "seconds": f"{s.seconds:.4f}", "notes": " | ".join(s.notes)})
    atomic_write(job.summary, buf.getvalue().encode())
    return Summary(states, seconds, job.summary)


class JobProgress:
    """One bar for the job on stderr: items done, frames/s of the films, ETA."""

    def __init__(self, total: int, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="item", disable=not enabled or total == 0, desc="batch",
                        dynamic_ncols=True)
        self.frames, self.t0 = 0, time.perf_counter()

    def update(self, outcome: Outcome, final: bool) -> None:
        """Count the outcome's frames, and the item when it is finished (done, or failed for good)."""
        self.frames += outcome.state.frames
        if final:
            self.bar.update()
        if self.frames:
            self.bar.set_postfix_str(f"{self.frames / (time.perf_counter() - self.t0):.1f} frames/s", refresh=False)

    def __enter__(self) -> "JobProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
