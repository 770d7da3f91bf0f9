"""The job on this machine, without a cluster: photos spread over the CPU's file workers (as
`colorize` does), films one after another (each with `video`'s own worker threads)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .job import BatchSettings
from .work import Outcome, Task, Worker, retry_task


def run_local(out: str | Path, settings: BatchSettings, tasks: list[Task], retries: int,
              on_outcome: Callable[[Outcome], None]) -> None:
    """Run the tasks, retrying failures (not bad inputs) up to `retries` times; each outcome is
    recorded in the job folder by the worker and then handed to `on_outcome`."""
    worker = Worker(settings, out)
    while tasks:
        again = []
        for outcome in _outcomes(worker, tasks):
            on_outcome(outcome)
            if (task := retry_task(outcome, retries)) is not None:
                again.append(task)
        tasks = again


def _outcomes(worker: Worker, tasks: list[Task]):
    from ..images import image_pixels
    from ..inference import in_file_workers

    photos = [t for t in tasks if t.item.kind == "photo"]
    if photos:
        engine, pixels = worker.engine(worker.settings.photo_model), [image_pixels(t.item.source) for t in photos]
        for _, outcome in in_file_workers(engine, photos, worker.run, pixels):
            yield outcome
    for task in tasks:
        if task.item.kind != "photo":
            yield worker.run(task)
