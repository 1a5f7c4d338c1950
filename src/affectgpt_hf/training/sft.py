"""`affectgpt train`: the SFT recipe in TRL's shape, ``main(script_args, training_args, model_args)`` and its parser.

Upstream's recipe (hub_configs/affectgpt-qwen2.5-7b/train.yaml): frozen CLIP and HuBERT; LoRA r=16, alpha 32, dropout
0.05 on q/k/v/o/gate/up/down of the language model; pooling, pre-fusion and projectors fully trained; AdamW, weight
decay 0.05 except biases and 1-D parameters; `linear_warmup_cosine_lr` from 1e-6 to 1e-5 over 5,000 steps, then
constant (init_lr == min_lr).
Upstream: train_configs/emercoarse_highlevelfilter4_outputhybird_bestsetup_bestfusion_lz.yaml
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from transformers import GenerationConfig, set_seed

from ..hub.model_card import summarize_results
from .arguments import AffectGPTSFTConfig, DataArguments, ModelArguments
from .collator import AffectGPTSFTCollator
from .data import check_feature_cache, load_training_dataset
from .model import build_model, build_processor, prepare_trainable, upcast_trainable
from .saving import CardSources, save_trained
from .trainer import AffectGPTTrainer, EpochCallback


def main(script_args: DataArguments, training_args: AffectGPTSFTConfig, model_args: ModelArguments) -> Path:
    """Run the SFT recipe end to end and return the output folder: the data (``script_args``), TRL's training
    arguments, the model. ``resume_from_checkpoint`` takes a checkpoint folder, or `true` / `last` for the newest one in
    output_dir; it is checked before any model is built."""
    resume = resume_checkpoint(training_args, model_args)
    trainer = build_trainer(script_args, training_args, model_args)
    trainer.train(resume_from_checkpoint=resume)
    out = save_trained(trainer, training_args.output_dir, model_args, trainer.processing_class)
    push_repo = trainer.card.push_repo
    if push_repo and trainer.accelerator.is_main_process:
        from ..hub.push import push_folder

        private = training_args.hub_private_repo is not False  # private unless --public / hub_private_repo: false
        print(f"pushed: {push_folder(out, push_repo, private=private, token=training_args.hub_token)}")
    return out


def build_trainer(
    script_args: DataArguments, training_args: AffectGPTSFTConfig, model_args: ModelArguments
) -> AffectGPTTrainer:
    """Model, data, collator and `AffectGPTTrainer`, ready for `.train()`."""
    training_args.remove_unused_columns = False
    training_args.dataset_kwargs = {**(training_args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    push_repo = _take_over_push(training_args)
    results = (
        summarize_results(training_args.results, training_args.output_dir, push_repo) if training_args.results else None
    )
    set_seed(training_args.seed)
    dataset = load_training_dataset(script_args)
    model = build_model(model_args)
    check_feature_cache(script_args, model)
    processor = build_processor(model_args, model.config)
    if model_args.model_name_or_path and os.path.isfile(
        os.path.join(model_args.model_name_or_path, "generation_config.json")
    ):
        model.generation_config = GenerationConfig.from_pretrained(model_args.model_name_or_path)
    model = prepare_trainable(model, model_args)
    if training_args.bf16 or training_args.fp16:
        upcast_trainable(model)
    collator = AffectGPTSFTCollator(
        processor,
        seed=training_args.seed,
        max_length=training_args.max_length,
        dataset=dataset,
        max_redraws=script_args.max_redraws,
    )
    return AffectGPTTrainer(
        model=model,
        args=training_args,
        data_collator=collator,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=[EpochCallback(collator)],
        card=CardSources(model_args, script_args, results, push_repo),
    )


def resume_checkpoint(training_args: AffectGPTSFTConfig, model_args: ModelArguments) -> str | None:
    """The checkpoint folder ``resume_from_checkpoint`` names (`true` / `last`: the newest checkpoint-N in output_dir),
    or None; ``ValueError`` when there is none, or when it was saved with the other ``use_lora`` setting (a LoRA
    checkpoint holds an adapter, a full one the model's weights)."""
    resume = training_args.resume_from_checkpoint
    if resume is None or resume is False or str(resume).lower() in ("false", "none", ""):
        return None
    if str(resume).lower() in ("true", "last"):
        found = sorted(Path(training_args.output_dir).glob("checkpoint-*"), key=_step_of)
        if not found:
            raise ValueError(
                f"resume_from_checkpoint={resume}: {training_args.output_dir} holds no checkpoint-N folder to resume"
            )
        folder = found[-1]
    else:
        folder = Path(resume)
        if not folder.is_dir():
            raise ValueError(f"resume_from_checkpoint {folder} is not a folder; expected a checkpoint-N folder")
    is_lora = (folder / "adapter_config.json").is_file()
    if is_lora != model_args.use_lora:
        held = "a LoRA adapter (adapter_config.json)" if is_lora else "the full model's weights, no LoRA adapter"
        raise ValueError(
            f"checkpoint {folder} holds {held}, but use_lora is {model_args.use_lora}; resume it with --use_lora "
            f"{str(is_lora).lower()}, as it was trained"
        )
    return str(folder)


def _step_of(folder: Path) -> int:
    tail = folder.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _take_over_push(training_args: AffectGPTSFTConfig) -> str | None:
    """The repo `push_to_hub` asks for, with the Trainer's own push turned off: the finished folder (merged model,
    processor, this project's card) is uploaded once, by :func:`main`, through `affectgpt_hf.hub.push`."""
    if not training_args.push_to_hub:
        return None
    if not training_args.hub_model_id:
        raise ValueError("push_to_hub is set but hub_model_id is not; pass --push-to-hub REPO_ID (or --hub_model_id)")
    training_args.push_to_hub = False
    return training_args.hub_model_id


def parse_train_args(argv: list[str] | None = None):
    """`--config CONFIG.yaml [--field value ...]` -> (DataArguments, AffectGPTSFTConfig, ModelArguments), the order of
    :func:`main`'s arguments."""
    from trl import TrlParser

    parser = TrlParser(
        (DataArguments, AffectGPTSFTConfig, ModelArguments),
        prog="affectgpt train",
        usage="affectgpt train --config CONFIG.yaml [--field value ...] [--push-to-hub REPO_ID [--public]]",
        description=TRAIN_OPTIONS,
        formatter_class=_TrainHelp,
    )
    *parsed, unknown = parser.parse_args_and_config(args=hub_options(argv), return_remaining_strings=True)
    if unknown:
        names = [item for item in unknown if item.startswith("-")] or unknown
        raise ValueError(
            f"unknown field(s) {', '.join(names)} (in the --config file or on the command line); "
            "`affectgpt train --help` lists the fields"
        )
    return tuple(parsed)


class _TrainHelp(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """TrlParser's help (each field's default shown), with the description's own line breaks kept."""


TRAIN_OPTIONS = """TRL SFT of an AffectGPT model. Besides the fields below:
  --config CONFIG.yaml     the recipe: a YAML mapping of these fields (hub_configs/affectgpt-qwen2.5-7b/train.yaml,
                           hub_configs/tiny/train.yaml); fields given on the command line override it
  --push-to-hub REPO_ID    upload the finished folder to the Hub (private unless --public)
  --public                 with --push-to-hub: a public repository"""


def hub_options(argv: list[str] | None) -> list[str] | None:
    """`--push-to-hub REPO_ID` and `--public` (the options of `affectgpt convert`) as TrainingArguments fields:
    `--push_to_hub true --hub_model_id REPO_ID`, `--hub_private_repo false`."""
    if argv is None:
        return None
    out, rest = [], list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--push-to-hub" and rest and not rest[0].startswith("--") and rest[0].lower() not in _BOOLS:
            out += ["--push_to_hub", "true", "--hub_model_id", rest.pop(0)]
        elif arg == "--public":
            out += ["--hub_private_repo", "false"]
        else:
            out.append(arg)
    return out


_BOOLS = ("true", "false", "yes", "no", "1", "0")
