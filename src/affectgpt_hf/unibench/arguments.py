"""How answers become scores, as the options `affectgpt evaluate` and `affectgpt benchmark` share (a dataclass read
by transformers' `HfArgumentParser`; free of heavy imports, so `--help` is quick)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ScoringArguments:
    """How answers become scores: the label extractor (``--judge``) and the emotion wheels. The options
    `affectgpt evaluate` and `affectgpt benchmark` share (the benchmark's config extends this)."""

    judge: str | None = field(
        default=None, metadata={"help": "chat model id or folder for LLM label extraction (default: offline lexicon)"}
    )
    judge_sampling: Literal["greedy", "upstream"] = field(
        default="greedy", metadata={"help": "judge decoding: greedy, or upstream's temperature 0.7 / top_p 0.8"}
    )
    wheel_dir: str | None = field(
        default=None,
        metadata={
            "help": "folder with the emotion-wheel files (default: $MER_UNIBENCH_WHEEL_DIR or the pinned download)"
        },
    )


__all__ = ["ScoringArguments"]
