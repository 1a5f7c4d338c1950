"""What a training run leaves: one `from_pretrained` folder (LoRA merged, processor beside it, the adapter in
`adapter/`) and this project's model card, written from the run's facts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import set_seed
from trl import SFTTrainer

from ..hub.model_card import CardFacts, write_model_card
from .arguments import AffectGPTSFTConfig, DataArguments, ModelArguments
from .features import read_features_info
from .model import build_model, has_weights


@dataclass
class CardSources:
    """What the model card of a training run is written from: its arguments, the benchmark results to add
    (``summarize_results``) and the repo it is pushed to."""

    model_args: ModelArguments
    data_args: DataArguments | None = None
    results: list | None = None
    push_repo: str | None = None


def save_trained(trainer: SFTTrainer, output_dir: str | os.PathLike, model_args: ModelArguments, processor) -> Path:
    """`output_dir`: the full model (LoRA merged) + processor, loadable with `from_pretrained`; `output_dir/adapter`:
    the PEFT adapter (LoRA + trained heads) when LoRA was used; the model card from the trainer's ``card``."""
    out = Path(output_dir)
    if not model_args.use_lora:
        trainer.save_model(str(out))  # the model, and the processor (the trainer's processing_class)
    else:
        _save_merged(trainer, out, model_args, processor)
    if trainer.accelerator.is_main_process:  # this project's card (TRL's generic one is never written: see above)
        card = getattr(trainer, "card", None) or CardSources(model_args)
        facts = training_card_facts(trainer, card)
        facts.results = card.results
        write_model_card(out, facts, card.push_repo)
    trainer.accelerator.wait_for_everyone()
    return out


def _save_merged(trainer: SFTTrainer, out: Path, model_args: ModelArguments, processor) -> None:
    adapter_dir = out / "adapter"
    trainer.save_model(str(adapter_dir))  # gathers sharded (FSDP / DeepSpeed) adapters
    if trainer.accelerator.is_main_process:
        if trainer.is_fsdp_enabled:  # shards cannot be merged in place: merge the saved adapter into a fresh base
            from peft import PeftModel

            set_seed(trainer.args.seed)  # the same base as training's (a config-only folder starts random)
            merged = PeftModel.from_pretrained(build_model(model_args), adapter_dir).merge_and_unload()
        else:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        if model_args.model_dtype:  # heads trained in fp32 under autocast: one dtype in the released folder
            merged.to(getattr(torch, model_args.model_dtype))
        merged.save_pretrained(out)
        processor.save_pretrained(out)
        (adapter_dir / "README.md").unlink(missing_ok=True)  # PEFT's generic card; the folder's card describes it


def _schedule(args: AffectGPTSFTConfig) -> str:
    lr = args.learning_rate
    if args.warmup_start_lr is not None:
        floor = lr if args.min_lr is None else args.min_lr
        after = "constant" if floor == lr else f"cosine to {floor:g}"
        return (
            f"upstream's linear_warmup_cosine_lr: {args.warmup_start_lr:g} -> {lr:g} over {args.warmup_steps} "
            f"warm-up steps, then {after}"
        )
    return f"{args.lr_scheduler_type} from {lr:g}, {args.warmup_steps} warm-up steps"


def training_card_facts(trainer: SFTTrainer, card: CardSources) -> CardFacts:
    """The card facts of a training run: where the model started, the LoRA (or full) recipe, steps, schedule, data."""
    model_args, data_args = card.model_args, card.data_args
    args = trainer.args
    world = trainer.accelerator.num_processes
    batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * world
    if model_args.use_lora:
        trained = (
            f"LoRA r={model_args.lora_r}, alpha {model_args.lora_alpha}, dropout {model_args.lora_dropout} on "
            f"`{model_args.lora_target_modules}` (merged into these weights; the adapter is in `adapter/`); pooling, "
            "fusion and projectors fully trained; towers frozen"
        )
    else:
        trained = "the language model and the pooling, fusion and projector heads fully (no LoRA); towers frozen"
    size = len(trainer.train_dataset) if trainer.train_dataset is not None else None
    data = "not recorded"
    if data_args is not None and data_args.dataset_dir:
        data = f"`{data_args.dataset_dir}` (config {data_args.dataset_config}, split {data_args.dataset_split})"
        if size is not None:
            data += f", {size:,} rows"
        info = read_features_info(data_args.dataset_dir)
        if info is not None:
            data += f"; encoder features cached by the towers of `{info.get('model')}`"
    steps = trainer.state.global_step
    planned = args.max_steps if args.max_steps and args.max_steps > 0 else None
    recipe = {
        "trained": trained,
        "steps": f"{steps:,}" + (f" of {planned:,}" if planned and planned != steps else ""),
        "batch": f"{batch} ({args.per_device_train_batch_size} per device x {args.gradient_accumulation_steps} "
        f"accumulation x {world} process(es))",
        "learning rate": _schedule(args),
        "optimiser": f"{getattr(args.optim, 'value', args.optim)} (betas {args.adam_beta1}, {args.adam_beta2}), "
        f"weight decay {args.weight_decay} except biases and 1-D parameters",
        "data": data,
        "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
        "seed": str(args.seed),
        "trainer": "TRL SFTTrainer (`affectgpt train`), hybrid description / OV-label questions per sample and epoch",
    }
    components = {"llm": model_args.llm, "vision": model_args.vision, "audio": model_args.audio}
    start = None if model_args.llm else model_args.model_name_or_path
    if start and not has_weights(start):
        recipe["initialisation"] = f"random weights (towers included) from the config of `{start}`, seed {args.seed}"
    return CardFacts(made_by="train", components=components, initialised_from=start, recipe=recipe)
