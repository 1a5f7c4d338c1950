"""The model a training run starts from: pretrained components, a saved folder, or a config with random weights;
then upstream's trainable parts (LoRA on the language model, the heads fully) with the towers frozen."""

from __future__ import annotations

import logging
import os

import torch

from ..configuration_affectgpt import AffectGPTConfig
from ..inference.batch import model_source
from ..modeling_affectgpt import HEAD_MODULES, AffectGPTForConditionalGeneration
from ..processing_affectgpt import AffectGPTProcessor
from .arguments import ModelArguments

logger = logging.getLogger(__name__)

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_SUB_CONFIGS = ("vision_config", "audio_config", "text_config")


def has_weights(path: str) -> bool:
    """Whether ``path`` holds weights (a Hub id is taken to), not only a config."""
    return not os.path.isdir(path) or any(os.path.exists(os.path.join(path, name)) for name in WEIGHT_FILES)


def build_model(model_args: ModelArguments) -> AffectGPTForConditionalGeneration:
    """The model to train: pretrained components (`llm`/`vision`/`audio`, settings from `model_name_or_path`'s
    config), a folder with weights, or a hub_configs folder without weights (random init: the tiny variant).
    Seed first (`transformers.set_seed`) for a reproducible random init."""
    dtype = model_args.model_dtype
    if model_args.llm is not None:
        settings = {}
        if model_args.model_name_or_path is not None:
            with model_source(model_args.model_name_or_path):
                config = AffectGPTConfig.from_pretrained(model_args.model_name_or_path).to_dict()
            own = set(AffectGPTConfig.__annotations__) - set(_SUB_CONFIGS)
            settings = {key: value for key, value in config.items() if key in own}
        return AffectGPTForConditionalGeneration.from_components(
            llm=model_args.llm, vision=model_args.vision, audio=model_args.audio, dtype=dtype, **settings
        )
    if model_args.model_name_or_path is None:
        raise ValueError("give model_name_or_path (a folder or Hub id) or llm= (with vision= / audio=)")
    path = model_args.model_name_or_path
    if has_weights(path):
        load = {"dtype": dtype} if dtype is not None else {}
        with model_source(path):
            return AffectGPTForConditionalGeneration.from_pretrained(path, **load)
    with model_source(path):
        config = AffectGPTConfig.from_pretrained(path)
    logger.warning("%s has a config but no weights: the model starts from random weights", path)
    model = AffectGPTForConditionalGeneration(config)
    return model.to(getattr(torch, dtype)) if dtype else model


def build_processor(model_args: ModelArguments, config: AffectGPTConfig) -> AffectGPTProcessor:
    """The processor saved with the model folder, or upstream's preprocessing with Qwen2.5's tokenizer."""
    if model_args.model_name_or_path is not None:
        return AffectGPTProcessor.from_pretrained(model_args.model_name_or_path)
    return AffectGPTProcessor.from_settings(input_mode=config.input_mode)


def head_module_names(model: AffectGPTForConditionalGeneration) -> list[str]:
    """Full names of the pooling, fusion and projector modules this config has (PEFT matches by suffix)."""
    return [
        f"model.{name}"
        for name in HEAD_MODULES
        if getattr(model.model, name, None) is not None and any(True for _ in getattr(model.model, name).parameters())
    ]


def prepare_trainable(model: AffectGPTForConditionalGeneration, model_args: ModelArguments):
    """LoRA on the language model + trainable heads (upstream), or everything but the towers (`use_lora: false`)."""
    model.model.freeze_towers()
    if not model_args.use_lora:
        return model
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=model_args.lora_target_modules,
        modules_to_save=head_module_names(model),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def upcast_trainable(model: torch.nn.Module) -> None:
    """Trainable parameters in fp32 under autocast (as upstream's AMP: half-precision frozen weights, fp32 updates;
    fp16's gradient scaler refuses half-precision parameters)."""
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
