"""The SFT recipe (TRL `SFTTrainer` + PEFT LoRA under accelerate) and the encoder feature cache: sft.py (`main` and
its parser) builds the model (model.py) and the rows (data.py), trains with trainer.py and saves with saving.py."""

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
    "check_feature_cache": "data",
    "dataset_fingerprint": "data",
    "load_training_dataset": "data",
    "build_model": "model",
    "build_processor": "model",
    "head_module_names": "model",
    "prepare_trainable": "model",
    "CardSources": "saving",
    "save_trained": "saving",
    "build_trainer": "sft",
    "main": "sft",
    "parse_train_args": "sft",
    "resume_checkpoint": "sft",
    "AffectGPTTrainer": "trainer",
    "EpochCallback": "trainer",
    "upstream_lr_factor": "trainer",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
