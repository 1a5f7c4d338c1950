"""The options of `affectgpt cache-features` (a dataclass read by transformers' `HfArgumentParser`; free of heavy
imports, so `--help` is quick)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CacheFeaturesArguments:
    """`affectgpt cache-features`: which towers run over which data set, and where the features go."""

    model: str = field(metadata={"help": "AffectGPT folder or Hub id (a hub_configs folder: random)"})
    dataset: str = field(metadata={"help": "upstream release, built Hub folder or save_to_disk folder"})
    output: str = field(metadata={"help": "output folder (datasets.save_to_disk)"})
    vision: str | None = field(
        default=None, metadata={"help": "CLIP id or folder (with --model a hub_configs folder: real towers)"}
    )
    audio: str | None = field(default=None, metadata={"help": "HuBERT id or folder (as --vision)"})
    config: str = field(default="mer_caption_plus", metadata={"help": "data set config"})
    split: str = field(default="train", metadata={"help": "split"})
    batch_size: int = field(default=8, metadata={"help": "clips per tower batch"})
    seed: int = field(default=42, metadata={"help": "seed of a random init (keep it equal to training's)"})
    drop_media: bool = field(default=False, metadata={"help": "drop the video/audio/face cells from the output"})
    num_workers: int | None = field(
        default=None, metadata={"help": "media decoding processes (default: min(4, CPUs-1) for a GPU model; 0 on CPU)"}
    )
    skip_missing: bool = field(
        default=False, metadata={"help": "leave out rows whose media cannot be read, with a warning naming them"}
    )


__all__ = ["CacheFeaturesArguments"]
