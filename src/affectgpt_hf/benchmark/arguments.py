"""The options of `affectgpt benchmark` (a dataclass read by transformers' `HfArgumentParser`; free of heavy
imports, so `--help` is quick)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..inference.arguments import InferenceArguments
from ..unibench.arguments import ScoringArguments


@dataclass
class BenchmarkConfig(InferenceArguments, ScoringArguments):
    """What one benchmark run does (also the options of `affectgpt benchmark`): these fields, plus how clips run
    through the model (:class:`InferenceArguments`) and how answers are scored (:class:`ScoringArguments`).
    ``checkpoints`` (folders, or names under ``model``) turn on the best-epoch protocol; ``limit`` keeps the first N
    clips of each set (smoke runs; the report says so)."""

    model: str | None = field(
        default=None, metadata={"help": "a saved AffectGPT folder or Hub id (or the folder holding --checkpoints)"}
    )
    data_root: str = field(
        default="", metadata={"help": "folder holding the upstream test-set releases", "required": True}
    )
    datasets: list[str] | None = field(
        default=None, metadata={"help": "subset, e.g. MER2023 OVMERDPlus or mer2023 ov_merd_plus (default: all 9)"}
    )
    checkpoints: list[str] | None = field(
        default=None,
        metadata={
            "help": "several checkpoint folders (paths or names under --model): upstream's best epoch per data set"
        },
    )
    output_dir: str = field(default="runs/benchmark", metadata={"help": "report and caches (reruns continue here)"})
    upstream_npz: bool = field(default=False, metadata={"help": "also write upstream's result npz files"})
    cache_dir: str | None = field(default=None, metadata={"help": "datasets cache for the built test sets"})
    limit: int | None = field(default=None, metadata={"help": "first N clips of each set (smoke runs)"})
    progress: bool = field(default=True, metadata={"help": "progress bars (--no-progress: none)"})
    asr: str | None = field(
        default=None,
        metadata={
            "help": "also describe every set with subtitles from this speech-recognition model (a transformers ASR "
            "id or folder) in place of the set's own, and report the difference (default: the sets' own only)"
        },
    )


__all__ = ["BenchmarkConfig"]
