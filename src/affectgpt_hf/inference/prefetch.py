"""The prefetching input pipeline: batches of clips (or data-set rows) prepared in torch DataLoader worker processes
while the main process runs the model; `inference.batch` (`affectgpt describe`, the benchmark runner) and the
feature cache use it. Also the per-clip deadline that turns a decoder stuck on a stalled read into a reported bad clip.

Batches are fixed chunks of ``batch_size`` consecutive items, delivered in order, so the model sees the same batches
with any number of workers (0: everything in the calling process, as before the pipeline existed)."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

logger = logging.getLogger(__name__)

_TICK = 0.1  # after the deadline, SIGALRM again every _TICK s: PyAV drops an exception raised inside its read callback


class ClipTimeout(ValueError):
    """A clip not ready within the per-clip deadline: a ValueError, so it is reported and skipped as a corrupt clip."""


class WorkerError(RuntimeError):
    """A worker process died (killed, out of memory) or stopped answering; the message names the batch it had."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells it, else the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_num_workers(device: torch.device | str = "cuda") -> int:
    """Workers for ``--num-workers`` when not given, for a model on ``device``: min(4, CPUs of this process - 1), the
    CPUs shared among the processes of an ``accelerate launch`` on this machine; 0 (decode in the main process) with
    one CPU or a model on the CPU, whose own threads already take every core. One core stays with the model's process;
    four workers out-decode what a 7B model answers on one GPU (perf/README.md, "Media workers")."""
    if torch.device(device).type == "cpu":
        return 0
    cpus = usable_cpus()
    processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, min(4, cpus // processes - 1))


def model_threads_left(num_workers: int) -> int:
    """Torch threads a model on the CPU may use beside ``num_workers`` media workers (one core each) without the two
    slowing each other down: the CPUs the workers leave, at least one."""
    return max(1, usable_cpus() - num_workers)


@contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`ClipTimeout` naming ``what`` once ``seconds`` have passed, also inside a read blocked in the
    decoder (SIGALRM interrupts the system call). Needs the main thread of its process (a DataLoader worker's fetch, or
    the CLI); elsewhere, or with ``seconds`` 0 / None, there is no deadline. Another timer already set (e.g.
    pytest-timeout's) keeps running: its handler is called when its time comes, and afterwards it is set again with
    the time it had left."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return
    their_delay, their_interval = signal.getitimer(signal.ITIMER_REAL)
    if their_delay and their_delay <= seconds:  # theirs fires first anyway
        yield
        return
    armed, delivered, started = [True], [False], time.monotonic()

    def expire(signum, frame) -> None:
        if not armed[0]:
            return
        if their_delay and callable(previous) and time.monotonic() - started >= their_delay:
            delivered[0] = True  # theirs is one-shot unless it has an interval: not armed again on leaving
            previous(signum, frame)  # their time came while the clip is still stuck
            return
        raise ClipTimeout(
            f"{what} was not ready after {seconds:g} s (per-clip timeout, --clip-timeout); "
            "the read stalled or the decoder hung, so the clip is skipped"
        )

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds, _TICK)
        yield
    finally:
        while armed[0]:  # a tick already pending may still raise here: retry until the timer is off
            try:
                signal.setitimer(signal.ITIMER_REAL, 0)
                armed[0] = False
            except ClipTimeout:
                pass
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if delivered[0] and their_interval:
            signal.setitimer(signal.ITIMER_REAL, their_interval, their_interval)
        elif their_delay and not delivered[0]:
            left = their_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), their_interval)


@dataclass
class Prepared:
    """One prepared batch: its item indices; the model inputs of the items that could be read (``kept``, in order,
    left-padded into one batch); why the others could not (index -> message); facts to report per kept item."""

    number: int
    indices: list[int]
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    kept: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    facts: dict[int, dict] = field(default_factory=dict)  # per kept item, what its result reports (e.g. face source)

    def pin_memory(self) -> Prepared:
        """Page-locked copies of the inputs (the DataLoader's pin-memory thread calls this): fast, async H2D copies."""
        return replace(self, inputs={key: value.pin_memory() for key, value in self.inputs.items()})


# prepare(batch number, item indices) -> Prepared; runs in a worker, so it must pickle (no lambdas) under spawn.
Prepare = Callable[[int, list[int]], Prepared]


def _as_is(prepared: Prepared) -> Prepared:
    return prepared


class _Batches(Dataset):
    """Batch ``number`` = ``prepare`` over items [number * size, (number + 1) * size); each worker records in
    ``slots`` (pid, batch) what it is preparing, so a dead worker's batch can be named."""

    def __init__(self, count: int, size: int, prepare: Prepare, slots) -> None:
        self.count, self.size, self.prepare, self.slots = count, size, prepare, slots

    def __len__(self) -> int:
        return math.ceil(self.count / self.size)

    def indices(self, number: int) -> list[int]:
        return list(range(number * self.size, min(self.count, (number + 1) * self.size)))

    def __getitem__(self, number: int) -> Prepared:
        worker = get_worker_info()
        if worker is not None:
            self.slots[2 * worker.id], self.slots[2 * worker.id + 1] = os.getpid(), number
        prepared = self.prepare(number, self.indices(number))
        if worker is not None:
            self.slots[2 * worker.id + 1] = -1
        return prepared


_FAILURE = re.compile(r"DataLoader worker \(pid|DataLoader timed out")


class Prefetcher:
    """Prepared batches in order, made by ``num_workers`` DataLoader workers (two batches ahead each) while the
    caller uses the previous ones; 0 workers (or a single batch) prepare in the calling process. Use it as a context
    manager: leaving it (normally, on an error, on Ctrl-C) shuts the workers down, and a worker that dies or stops
    answering anywhere inside becomes a :class:`WorkerError` naming the batch. ``batch_timeout`` (s, 0 = none): how
    long to wait for a batch before calling its worker stuck. ``label(indices)`` names a batch's items in errors.

    ``device``: where the model runs. ``num_workers=None`` takes :func:`default_num_workers` for it; batches are pinned
    for a GPU. With the model on the CPU and more torch threads than the workers leave cores
    (:func:`model_threads_left`), a warning says so: the workers and the model's threads then slow each other down
    (perf/README.md, "Media workers"). The thread count is the caller's to change, since floats may round
    differently with another one."""

    def __init__(
        self,
        count: int,
        batch_size: int,
        prepare: Prepare,
        num_workers: int | None = 0,
        device: torch.device | str = "cpu",
        batch_timeout: float = 0.0,
        label: Callable[[Sequence[int]], str] | None = None,
    ) -> None:
        device = torch.device(device)
        num_workers = default_num_workers(device) if num_workers is None else num_workers
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}; expected a positive integer")
        if num_workers < 0:
            raise ValueError(f"num_workers={num_workers}; expected 0 (main process) or more")
        batches = math.ceil(count / batch_size)
        self.num_workers = 0 if batches <= 1 else min(num_workers, batches)
        slots = multiprocessing.Array("q", [-1] * (2 * self.num_workers), lock=False) if self.num_workers else None
        self.batches = _Batches(count, batch_size, prepare, slots)
        self.pin_memory, self.batch_timeout = device.type == "cuda", batch_timeout
        threads, left = torch.get_num_threads(), model_threads_left(self.num_workers)
        if self.num_workers and device.type == "cpu" and threads > left:
            logger.warning(
                "%d media workers and the model's %d torch threads share %d CPUs, so they slow each other down; "
                "torch.set_num_threads(%d) (or OMP_NUM_THREADS=%d) leaves the workers their cores (floats may round "
                "differently with another thread count), or use 0 workers",
                self.num_workers,
                threads,
                usable_cpus(),
                left,
                left,
            )
        self.label = label or (lambda indices: f"items {indices[0]}-{indices[-1]}")
        self.received = 0
        self._iterator = None

    def __enter__(self) -> Prefetcher:
        workers = self.num_workers
        loader = DataLoader(
            self.batches,
            batch_size=None,
            collate_fn=_as_is,
            num_workers=workers,
            pin_memory=self.pin_memory,
            timeout=self.batch_timeout if workers else 0,
            generator=torch.Generator(),  # the DataLoader draws a seed: not from the global RNG that sampling uses
        )
        self._iterator = iter(loader)
        return self

    def __iter__(self) -> Iterator[Prepared]:
        if self._iterator is None:
            raise RuntimeError("use the Prefetcher as a context manager: with Prefetcher(...) as batches: ...")
        for _ in range(len(self.batches)):
            prepared = next(self._iterator)
            self.received += 1
            yield prepared

    def __exit__(self, kind, error, traceback) -> bool:
        iterator, self._iterator = self._iterator, None
        shutdown = getattr(iterator, "_shutdown_workers", None)  # what the iterator's __del__ calls; now, not at gc
        if shutdown is not None:
            shutdown()
        if isinstance(error, RuntimeError) and not isinstance(error, WorkerError) and _FAILURE.search(str(error)):
            raise WorkerError(self._explain(str(error))) from error
        return False

    def _explain(self, reason: str) -> str:
        """Which batch a failure hit: the dead worker's own batch (from its slot), else the one awaited next."""
        number = self.received
        match = re.search(r"pid(?:\(s\))? ([\d, ]+)", reason)
        pids = {int(p) for p in re.findall(r"\d+", match.group(1))} if match else set()
        slots = self.batches.slots
        for worker in range(self.num_workers):
            if slots[2 * worker] in pids and slots[2 * worker + 1] >= 0:
                number = slots[2 * worker + 1]
                break
        total = len(self.batches)
        if number >= total:
            what = f"nothing (all {total} batches had arrived)"
        else:
            what = f"batch {number + 1} of {total} ({self.label(self.batches.indices(number))})"
        if "timed out" in reason:
            return (
                f"{what} was not ready after {self.batch_timeout:g} s: its worker is stuck where the per-clip "
                f"timeout cannot reach it ({reason}); {self.received} of {total} batches were done"
            )
        return (
            f"a media worker died while preparing {what}: {reason.strip().rstrip('.')}. "
            f"{self.received} of {total} batches were done. Out of memory? Lower --num-workers or --batch-size; "
            "--num-workers 0 prepares in the main process"
        )


__all__ = [
    "ClipTimeout",
    "Prefetcher",
    "Prepared",
    "WorkerError",
    "deadline",
    "default_num_workers",
    "model_threads_left",
    "usable_cpus",
]
