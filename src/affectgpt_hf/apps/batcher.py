"""Requests that arrive together answered together: one worker thread runs ``work(items)`` over up to ``max_size``
items at a time, each caller waiting on its own future.

Gradio's own batched events (``batch=True``) fail every request of a batch when one of them raises, so a single bad
upload would refuse its neighbours; here each item's failure goes to its own caller only.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future


class Batcher:
    """``submit(item)`` -> a Future of ``work([... item ...])[i]``. A batch starts with the first waiting item and takes
    those that arrive within ``wait_s`` (or until ``max_size``). ``work`` returns one result per item, an Exception
    instance for an item that failed; an exception it raises fails the whole batch."""

    def __init__(self, work: Callable[[Sequence], Sequence], max_size: int = 8, wait_s: float = 0.05) -> None:
        if max_size < 1:
            raise ValueError(f"max_size={max_size}; expected a positive number of requests per batch")
        self.work, self.max_size, self.wait_s = work, max_size, wait_s
        self.sizes: list[int] = []  # every batch's size, in order (for the page's account and the tests)
        self._waiting: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, name="affectgpt-batches", daemon=True).start()

    def submit(self, item) -> Future:
        future: Future = Future()
        self._waiting.put((item, future))
        return future

    def _run(self) -> None:
        while True:
            batch = [self._waiting.get()]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_size:
                try:
                    batch.append(self._waiting.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            batch = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
            if not batch:
                continue
            self.sizes.append(len(batch))
            try:
                results = self.work([item for item, _ in batch])
            except Exception as error:  # noqa: BLE001 - the batch failed as a whole: each caller hears it
                for _, future in batch:
                    future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
