"""The SFT recipe (TRL `SFTTrainer` + PEFT LoRA under accelerate) and the encoder feature cache."""

from affectgpt_hf.training.arguments import (
    LANGUAGE_MODEL_LORA_TARGETS,
    AffectGPTSFTConfig,
    DataArguments,
    ModelArguments,
)
from affectgpt_hf.training.collator import IGNORE_INDEX, AffectGPTSFTCollator, media_source, redraw_index
from affectgpt_hf.training.features import cache_features, encode_batch, towers_checksum
from affectgpt_hf.training.trainer import (
    AffectGPTTrainer,
    EpochCallback,
    build_model,
    build_processor,
    build_trainer,
    head_module_names,
    load_training_dataset,
    parse_train_args,
    prepare_trainable,
    save_trained,
    train,
    upstream_lr_factor,
)

__all__ = [
    "IGNORE_INDEX",
    "LANGUAGE_MODEL_LORA_TARGETS",
    "AffectGPTSFTCollator",
    "AffectGPTSFTConfig",
    "AffectGPTTrainer",
    "DataArguments",
    "EpochCallback",
    "ModelArguments",
    "build_model",
    "build_processor",
    "build_trainer",
    "cache_features",
    "encode_batch",
    "head_module_names",
    "load_training_dataset",
    "media_source",
    "parse_train_args",
    "prepare_trainable",
    "redraw_index",
    "save_trained",
    "towers_checksum",
    "train",
    "upstream_lr_factor",
]
