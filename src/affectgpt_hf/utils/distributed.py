"""This process among several: one, or several under ``accelerate launch`` / torchrun (one GPU each, or CPU processes
over gloo), with the few collective steps the benchmark needs; `faces extract` and long jobs shard by rank."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def launched() -> bool:
    """Whether this process is one of several (``accelerate launch`` / torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def process_rank() -> tuple[int, int]:
    """(rank, world size) of this process under ``accelerate launch`` / torchrun; (0, 1) when run alone."""
    if launched():
        from accelerate import PartialState

        state = PartialState()
        return state.process_index, state.num_processes
    return 0, 1


class Processes:
    """This process's rank among ``world`` (1 without a launcher) and its device (``device``, else the launcher's GPU,
    else CUDA when present, else CPU)."""

    def __init__(self, device: str | None) -> None:
        self.state = None
        self.rank, self.world = 0, 1
        if launched():
            import torch
            from accelerate import PartialState

            cpu = device == "cpu" or not torch.cuda.is_available()
            self.state = PartialState(cpu=cpu)
            self.rank, self.world = self.state.process_index, self.state.num_processes
            device = "cpu" if cpu else str(self.state.device)
        self.device = device or default_device()
        self.is_main = self.rank == 0

    def barrier(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()

    def gather(self, item: object) -> list:
        """``item`` of every process, in rank order."""
        if self.state is None:
            return [item]
        from accelerate.utils import gather_object

        return gather_object([item])

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """The main process runs the block first (e.g. filling a cache), the others after it."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


def free_accelerator_memory() -> None:
    """Collect garbage and empty CUDA's cache (between checkpoints, and before an LLM judge loads)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


__all__ = ["Processes", "default_device", "free_accelerator_memory", "launched", "process_rank"]
