"""Threads joined by bounded queues: produce -> transform (in one or more workers) -> results in order.
The video pipeline (decode, model, encode) and the photo batch (files colorized by several one-thread
workers on a CPU) both run on it. Neither models nor video I/O are imported here."""
from __future__ import annotations

import contextlib
import queue
import threading
from typing import Callable, Iterable, Iterator, Sequence

import torch

_END = object()
# At most this many CPU workers: each holds its own item (a batch of frames, a photo) in memory, so a
# many-core machine does not hold dozens of large scans at once; the torch threads are shared out
# among them (Stages). Chosen for memory, not measured for speed beyond 2 cores.
MAX_CPU_WORKERS = 4
# What one photo being colorized holds beyond the model's own memory, per pixel: the bound the
# strip-by-strip merge keeps (measured 4-11 bytes, results/bench_memory.md), used to plan workers.
PHOTO_BYTES_PER_PIXEL = 12


def workers_for_sizes(pixels: Sequence[int], workers: int, budget: int,
                      bytes_per_pixel: int = PHOTO_BYTES_PER_PIXEL) -> int:
    """How many photo workers may run at once, at most `workers` and at least 1: the most for which
    the largest photos, one per worker, fit in `budget` bytes together. `pixels`: each photo's
    pixel count (0 where unknown). Two 300 MP scans (3.6 GB each) thus never run side by side
    under a 4 GB budget, while small photos keep every worker."""
    largest = sorted(pixels, reverse=True)[:max(1, workers)]
    k = 1
    while k < len(largest) and sum(largest[:k + 1]) * bytes_per_pixel <= budget:
        k += 1
    return k


def memory_budget() -> int:
    """Bytes the photo workers may hold together: half of the machine's physical memory."""
    import os

    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


class Stages:
    """Run `produce` -> `transform` (-> `ordered`) in daemon threads feeding a bounded queue each;
    iterate the results, in order, in the calling thread. An error in any thread stops the others
    and is re-raised.

    With `workers` > 1, that many threads run `transform` on different items at once, sharing out the
    torch threads (one each on 2 cores), and each result goes through `ordered` (the sequential part)
    in item order. On a CPU, one-thread workers beat one OpenMP team of as many threads: nothing
    waits at a barrier inside a convolution, and when a codec or I/O thread takes a core the other
    worker keeps going.
    The video pipeline gives each worker a batch of frames, `colorize_files` a whole photo.
    """

    def __init__(self, produce: Iterable, transform: Callable, maxsize: int = 4, workers: int = 1,
                 ordered: Callable | None = None):
        self.stop, self.error = threading.Event(), None
        self.q1, self.q2 = queue.Queue(maxsize), queue.Queue(maxsize)
        self.transform, self.ordered, self.workers = transform, ordered or (lambda item, out: out), workers
        self.turn, self.next_out, self.done = threading.Condition(), 0, 0
        self.worker_threads = max(1, torch.get_num_threads() // workers)
        self.threads = [threading.Thread(target=self._guard, args=(self._produce, produce), daemon=True)]
        self.threads += [threading.Thread(target=self._guard, args=(self._work, None), daemon=True)
                         for _ in range(workers)]

    def _put(self, q: queue.Queue, item) -> None:
        while not self.stop.is_set():
            try:
                return q.put(item, timeout=0.1)
            except queue.Full:
                continue
        raise _Stopped

    def _get(self, q: queue.Queue):
        while not self.stop.is_set() or not q.empty():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self.error is not None:
                    raise _Stopped from None
        raise _Stopped

    def _guard(self, fn, arg) -> None:
        try:
            fn(arg)
        except _Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the consumer thread
            self.error = e
            self.stop.set()
            with self.turn:
                self.turn.notify_all()

    def _produce(self, produce: Iterable) -> None:
        for i, item in enumerate(produce):
            self._put(self.q1, (i, item))
        for _ in range(self.workers):
            self._put(self.q1, (None, _END))

    def _work(self, _=None) -> None:
        if self.workers > 1:
            torch.set_num_threads(self.worker_threads)
        while True:
            i, item = self._get(self.q1)
            if item is _END:
                break
            out = self.transform(item)
            with self.turn:  # results leave in item order; the sequential part runs in that order
                self.turn.wait_for(lambda: self.next_out == i or self.stop.is_set())
                if self.stop.is_set():
                    raise _Stopped
                self._put(self.q2, (item, self.ordered(item, out)))
                self.next_out += 1
                self.turn.notify_all()
        with self.turn:  # a worker counts itself done after its last result went out
            self.done += 1
            last = self.done == self.workers
        if last:
            self._put(self.q2, _END)

    def __iter__(self):
        threads_before = torch.get_num_threads()
        for t in self.threads:
            t.start()
        try:
            while True:
                try:
                    item = self._get(self.q2)
                except _Stopped:
                    break
                if item is _END:
                    break
                yield item
        finally:
            self.stop.set()
            with self.turn:
                self.turn.notify_all()
            for t in self.threads:
                t.join()
            torch.set_num_threads(threads_before)  # the workers' one-thread setting is process-wide in part
        if self.error is not None:
            raise self.error


class _Stopped(Exception):
    pass


@contextlib.contextmanager
def opencv_threads(device: torch.device) -> Iterator[None]:
    """On the CPU, OpenCV runs single-threaded for the job (process-wide; restored afterwards): its
    per-frame conversions then run in the decode and encode threads and leave the cores to the model,
    instead of a second thread pool contending with torch's. (Its effect has only been measured on a
    loaded machine, an earlier version of the pipeline; not repeated since.)"""
    import cv2

    before = cv2.getNumThreads()
    if device.type == "cpu":
        cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)
