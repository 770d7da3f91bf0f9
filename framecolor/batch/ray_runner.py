"""The job on a Ray cluster: model workers are actors that load the model once and take one GPU each
(a CPU each where there is none). Photos go to them in small batches, films one per call, and a
split film's segments one per call. A worker that dies is replaced and its items are tried again;
an item the worker recorded as done before it died is not. Paths are on storage all nodes see.
Imported only by `framecolor batch --ray`.
"""
from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import ray

from ..errors import InputError
from .job import BatchSettings, JobFolder, State
from .work import Outcome, Task, Worker, failed, retry_task

PHOTOS_PER_CALL = 8  # at most; fewer when there are few photos per worker


@ray.remote(max_restarts=0, max_task_retries=0)
class BatchActor:
    """One model worker: a Worker (the colorizers, loaded once) in its own process."""

    def __init__(self, settings: BatchSettings, out: str):
        self.worker = Worker(settings, out)

    def run_many(self, tasks: list[Task]) -> list[Outcome]:
        return self.worker.run_many(tasks)

    def plan(self, task: Task):
        from .scenes import plan_film

        return plan_film(self.worker.job, task.item, self.worker.settings)

    def segment(self, task: Task, segment) -> int:
        from .scenes import colorize_segment

        return colorize_segment(self.worker, task.item, segment)


@dataclass
class Unit:
    """One call to a worker: 'photos' (a batch), 'film', 'plan' (a split film's scene scan) or
    'segment' (one of its segments)."""

    kind: str
    tasks: list[Task]
    segment: object = None


@dataclass
class SplitFilm:
    """A split film in progress: its task, its segments, those not colorized yet, since when."""

    task: Task
    segments: list = field(default_factory=list)
    left: set = field(default_factory=set)
    t0: float = field(default_factory=time.perf_counter)


def connect(address: str) -> bool:
    """Join Ray: a session already started in this process, 'local' (start one here), 'auto' or an
    address. True when this call connected (and run_on_ray disconnects at the end)."""
    if ray.is_initialized():
        return False
    ray.init(address=None if address == "local" else address, log_to_driver=True)
    return True


def run_on_ray(address: str, out: str | Path, settings: BatchSettings, tasks: list[Task], retries: int,
               on_outcome: Callable[[Outcome], None], workers: int | None = None) -> None:
    """Run the tasks on Ray's workers (see the module's docstring); each outcome to `on_outcome`."""
    connected = connect(address)
    try:
        if tasks:
            Scheduler(str(out), settings, tasks, retries, on_outcome, workers).run()
    finally:
        if connected:
            ray.shutdown()


def worker_options(workers: int | None) -> tuple[dict, int]:
    """Ray options for each actor, and how many: one per GPU when the cluster has GPUs, else one per
    CPU, unless `workers` says."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
    options = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
    return options, max(1, workers or gpus or cpus)


class Scheduler:
    """Hands units of work to idle actors, collects what they return, replaces actors that die."""

    def __init__(self, out: str, settings: BatchSettings, tasks: list[Task], retries: int,
                 on_outcome: Callable[[Outcome], None], workers: int | None):
        self.out, self.settings, self.retries, self.on_outcome = out, settings, retries, on_outcome
        self.job = JobFolder(out)
        self.units: deque[Unit] = deque()
        self.films: dict[str, SplitFilm] = {}  # item key -> the split film in progress
        self.inflight: dict = {}  # ObjectRef -> (actor, unit)
        self.name = f"framecolor-batch-{uuid.uuid4().hex[:8]}"
        self.count = 0
        self.options, n = worker_options(workers)
        self.per_call = max(1, min(PHOTOS_PER_CALL, -(-sum(t.item.kind == "photo" for t in tasks) // n)))
        self.add(tasks)
        if not settings.split_scenes:  # no more workers than calls (a split film makes more calls later)
            n = min(n, len(self.units))
        self.idle = [self._new_actor() for _ in range(n)]

    def _new_actor(self):
        self.count += 1
        return BatchActor.options(**self.options, name=f"{self.name}-{self.count}").remote(self.settings, self.out)

    def add(self, tasks: list[Task]) -> None:
        photos = [t for t in tasks if t.item.kind == "photo"]
        for i in range(0, len(photos), self.per_call):
            self.units.append(Unit("photos", photos[i:i + self.per_call]))
        film_kind = "plan" if self.settings.split_scenes else "film"
        self.units.extend(Unit(film_kind, [t]) for t in tasks if t.item.kind != "photo")

    def run(self) -> None:
        while self.units or self.inflight:
            self._submit_ready()
            ready, _ = ray.wait(list(self.inflight), num_returns=1)
            actor, unit = self.inflight.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayActorError as e:
                self.idle.append(self._new_actor())  # the dead worker's replacement
                self._lost(unit, f"its worker was lost ({type(e).__name__})")
            except ray.exceptions.RayTaskError as e:  # raised by the call (a bad film in a scene scan)
                self.idle.append(actor)
                self._lost(unit, str(e.cause) if e.cause else str(e).splitlines()[0],
                           isinstance(e.cause, InputError))
            else:
                self.idle.append(actor)
                self._done(unit, result)

    def _submit_ready(self) -> None:
        """Hand queued units to idle actors. A split film's retry waits until no call of its earlier
        attempt is still running, so that two workers never write one segment's chunks."""
        waiting: deque[Unit] = deque()
        while self.units and self.idle:
            unit = self.units.popleft()
            if unit.kind == "plan" and self._in_flight(unit.tasks[0].item.key):
                waiting.append(unit)
            else:
                self._submit(self.idle.pop(), unit)
        self.units.extendleft(reversed(waiting))

    def _in_flight(self, key: str) -> bool:
        return any(u.kind in ("plan", "segment") and u.tasks[0].item.key == key for _, u in self.inflight.values())

    def _submit(self, actor, unit: Unit) -> None:
        if unit.kind in ("photos", "film"):
            ref = actor.run_many.remote(unit.tasks)
        elif unit.kind == "plan":
            ref = actor.plan.remote(unit.tasks[0])
        else:
            ref = actor.segment.remote(unit.tasks[0], unit.segment)
        self.inflight[ref] = (actor, unit)

    def _done(self, unit: Unit, result) -> None:
        if unit.kind in ("photos", "film"):
            for outcome in result:
                self._report(outcome)
        elif unit.kind == "plan":
            task = unit.tasks[0]
            film = self.films[task.item.key] = SplitFilm(task, result, {s.index for s in result})
            self.units.extend(Unit("segment", [task], s) for s in film.segments)
        else:
            self._segment_done(unit)

    def _segment_done(self, unit: Unit) -> None:
        from .scenes import join_segments

        task = unit.tasks[0]
        film = self.films.get(task.item.key)
        if film is None or film.task != task:
            return  # the film failed meanwhile; its retry colours the segment again (resuming)
        film.left.discard(unit.segment.index)
        if film.left:
            return
        del self.films[task.item.key]
        item = task.item
        try:
            frames = join_segments(self.job, item, film.segments)
        except (OSError, RuntimeError, ValueError) as e:
            return self._report(self._record(failed(task, str(e), time.perf_counter() - film.t0)))
        state = State(str(item.source), str(item.output), item.kind, "done", task.attempt,
                      time.perf_counter() - film.t0, frames)
        self._report(self._record(Outcome(task, state)))

    def _lost(self, unit: Unit, reason: str, input_error: bool = False) -> None:
        """A call that never returned: each of its items failed this attempt, unless its worker had
        recorded it as done before it was lost."""
        for task in unit.tasks:
            if unit.kind in ("segment", "plan"):
                if self.films.pop(task.item.key, None) is None and unit.kind == "segment":
                    continue  # the film has failed already on another segment
            state = self.job.state(task.item)
            if state is not None and state.status == "done" and state.attempts == task.attempt:
                self._report(Outcome(task, state))
            else:
                why = reason if input_error else f"{task.item.source}: {reason}"
                self._report(self._record(failed(task, why, input_error=input_error)))

    def _record(self, outcome: Outcome) -> Outcome:
        self.job.record(outcome.task.item, outcome.state)
        return outcome

    def _report(self, outcome: Outcome) -> None:
        self.on_outcome(outcome)
        if (task := retry_task(outcome, self.retries)) is not None:
            self.add([task])

