"""What a worker does with an item: the same library calls as `colorize` and `video`, so that each
output is the file those commands would write. The worker records the item's state itself, in the
job folder, the moment it is done (or has failed): a worker lost afterwards loses nothing."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from .job import BatchSettings, Item, JobFolder, State


@dataclass(frozen=True)
class Task:
    """An item and which attempt at it this is (1 for the first)."""

    item: Item
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """How a task ended. `retry`: worth trying again in this run (not a bad input)."""

    task: Task
    state: State

    @property
    def ok(self) -> bool:
        return self.state.status == "done"


def failed(task: Task, error: str, seconds: float = 0.0, input_error: bool = False) -> Outcome:
    item = task.item
    state = State(str(item.source), str(item.output), item.kind, "failed", task.attempt, seconds, error=error)
    return Outcome(task, replace(state, notes=["bad input"] if input_error else []))


def is_input_error(outcome: Outcome) -> bool:
    """The input itself is bad (unreadable, not a photo): trying again in this run gives the same."""
    return "bad input" in outcome.state.notes


class Worker:
    """Holds the loaded colorizers (loaded on first use, once) and colours items with them."""

    def __init__(self, settings: BatchSettings, out: str | Path):
        self.settings, self.job = settings, JobFolder(out)
        self._engines: dict[str, object] = {}

    def engine(self, model: str):
        from ..inference import colorizer_from

        if model not in self._engines:
            self._engines[model] = colorizer_from(self.settings.colorizer(model))
        return self._engines[model]

    def film_engine(self):
        from ..film.options import film_model

        return self.engine(str(film_model(self.settings.film_model, self.settings.temporal)))

    def run(self, task: Task) -> Outcome:
        """Colour one item, record its state in the job folder, and say how it went. The model is
        loaded first (once per worker), outside the item's time."""
        self.film_engine() if task.item.kind == "film" else self.engine(self.settings.photo_model)
        t0 = time.perf_counter()
        try:
            if task.item.kind == "photo":
                frames, notes = 0, self.photo(task.item)
            else:
                frames, notes = self.film(task.item), []
        except InputError as e:
            outcome = failed(task, str(e), time.perf_counter() - t0, input_error=True)
        except (OSError, RuntimeError, ValueError, MemoryError) as e:  # noqa: BLE001 - recorded, maybe retried
            outcome = failed(task, f"{task.item.source}: {type(e).__name__}: {e}", time.perf_counter() - t0)
        else:
            item = task.item
            outcome = Outcome(task, State(str(item.source), str(item.output), item.kind, "done", task.attempt,
                                          time.perf_counter() - t0, frames, notes=notes))
        self.job.record(task.item, outcome.state)
        return outcome

    def run_many(self, tasks: list[Task]) -> list[Outcome]:
        return [self.run(t) for t in tasks]

    def photo(self, item: Item) -> list[str]:
        from ..inference import colorize_file

        s = self.settings
        return colorize_file(self.engine(s.photo_model), item.source, item.output, s.side_by_side, s.max_pixels)

    def film(self, item: Item) -> int:
        """`framecolor video` on the item (resuming its chunks); a film already written is kept."""
        from ..video.probe import count_frames
        from ..film.job import OutputExists, colorize_video

        if self.settings.split_scenes:
            from .scenes import colorize_split

            return colorize_split(self, item)
        item.output.parent.mkdir(parents=True, exist_ok=True)
        try:
            colorize_video(item.source, item.output, self.film_engine(), self.settings.video_job(), progress=False)
        except OutputExists as e:
            if not e.readable:
                raise
        return count_frames(item.output)


def retry_task(outcome: Outcome, retries: int) -> Task | None:
    """The next attempt at a failed item, when it is worth one: not a bad input, and fewer than
    1 + `retries` attempts so far (over all runs of the job)."""
    task = outcome.task
    if outcome.ok or is_input_error(outcome) or task.attempt >= 1 + retries:
        return None
    return Task(task.item, task.attempt + 1)
