"""The SFT recipe (TRL `SFTTrainer` + PEFT LoRA under accelerate) and the encoder feature cache."""

from .._lazy import lazy_exports

_EXPORTS = {
    "AffectGPTSFTConfig": "arguments",
    "DataArguments": "arguments",
    "LANGUAGE_MODEL_LORA_TARGETS": "arguments",
    "ModelArguments": "arguments",
    "AffectGPTSFTCollator": "collator",
    "IGNORE_INDEX": "collator",
    "media_source": "collator",
    "redraw_index": "collator",
    "cache_features": "features",
    "encode_batch": "features",
    "towers_checksum": "features",
    "AffectGPTTrainer": "trainer",
    "EpochCallback": "trainer",
    "build_model": "trainer",
    "build_processor": "trainer",
    "build_trainer": "trainer",
    "head_module_names": "trainer",
    "load_training_dataset": "trainer",
    "parse_train_args": "trainer",
    "prepare_trainable": "trainer",
    "save_trained": "trainer",
    "train": "trainer",
    "upstream_lr_factor": "trainer",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
