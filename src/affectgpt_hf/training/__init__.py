"""The SFT recipe (TRL `SFTTrainer` + PEFT LoRA under accelerate) and the encoder feature cache: sft.py (`main` and
its parser) builds the model (model.py) and the rows (data.py), trains with trainer.py and saves with saving.py."""

from .._lazy import lazy_exports

_EXPORTS = {  # submodule -> the names it gives the package
    "arguments": ("AffectGPTSFTConfig", "DataArguments", "LANGUAGE_MODEL_LORA_TARGETS", "ModelArguments"),
    "collator": ("AffectGPTSFTCollator", "IGNORE_INDEX", "media_source", "redraw_index"),
    "features": ("cache_features", "encode_batch", "towers_checksum"),
    "data": ("check_feature_cache", "dataset_fingerprint", "load_training_dataset"),
    "model": ("build_model", "build_processor", "head_module_names", "prepare_trainable"),
    "saving": ("CardSources", "save_trained"),
    "sft": ("build_trainer", "main", "parse_train_args", "resume_checkpoint"),
    "trainer": ("AffectGPTTrainer", "EpochCallback", "upstream_lr_factor"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
