"""The benchmark's processes: one, or several under ``accelerate launch`` / torchrun (one GPU each, or CPU processes
over gloo), with the few collective steps the runner needs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


class Processes:
    """This process's rank among ``world`` (1 without a launcher) and its device (``device``, else the launcher's GPU,
    else CUDA when present, else CPU)."""

    def __init__(self, device: str | None) -> None:
        self.state = None
        self.rank, self.world = 0, 1
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
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


__all__ = ["Processes", "default_device", "free_accelerator_memory"]
