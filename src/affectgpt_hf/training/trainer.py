"""The SFT recipe: build AffectGPT, apply upstream's LoRA, train with TRL's `SFTTrainer`, save a loadable folder.

Upstream (train_configs/emercoarse_highlevelfilter4_outputhybird_bestsetup_bestfusion_lz.yaml,
my_affectgpt/models/affectgpt.py; hub_configs/affectgpt-qwen2.5-7b/train.yaml): frozen CLIP and HuBERT; LoRA r=16, alpha
32, dropout 0.05 on q/k/v/o/gate/up/down of the language model; pooling, pre-fusion and projectors fully trained; AdamW,
weight decay 0.05 except biases and 1-D parameters; `linear_warmup_cosine_lr` from 1e-6 to 1e-5 over 5,000 steps, then
constant (init_lr == min_lr).
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import os
from pathlib import Path

import datasets
import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers import GenerationConfig, Trainer, TrainerCallback, set_seed
from trl import SFTTrainer

from ..configuration_affectgpt import AffectGPTConfig
from ..hub.model_card import CardFacts, summarize_results, write_model_card
from ..inference.batch import model_source
from ..modeling_affectgpt import HEAD_MODULES, AffectGPTForConditionalGeneration
from ..processing_affectgpt import AffectGPTProcessor
from .arguments import AffectGPTSFTConfig, DataArguments, ModelArguments
from .collator import AUDIO_FEATURES, IGNORE_INDEX, VIDEO_FEATURES, AffectGPTSFTCollator
from .features import read_features_info, towers_checksum

logger = logging.getLogger(__name__)

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_SUB_CONFIGS = ("vision_config", "audio_config", "text_config")


# ------------------------------------------------------------------------------------------------------------- model
def _has_weights(path: str) -> bool:
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
    if _has_weights(path):
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


# --------------------------------------------------------------------------------------------------------------- data
def load_training_dataset(data_args: DataArguments) -> datasets.Dataset:
    """Rows from a `save_to_disk` folder (a feature cache), a Hub-ready folder, or an upstream release folder."""
    if data_args.dataset_dir is None:
        raise ValueError("dataset_dir is not set; expected a data set folder or an upstream MER-Caption release")
    folder = Path(data_args.dataset_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset_dir {folder} is not a folder")
    if (folder / "state.json").exists() or (folder / "dataset_dict.json").exists():
        dataset = datasets.load_from_disk(str(folder))
        if isinstance(dataset, datasets.DatasetDict):
            dataset = dataset[data_args.dataset_split]
    elif (folder / "README.md").exists():
        from ..data.hub import load_hub_folder

        dataset = load_hub_folder(folder, data_args.dataset_config, data_args.dataset_split)
    else:
        from ..data.builder import load_mer_caption

        dataset = load_mer_caption(folder, data_args.dataset_config, split=data_args.dataset_split)
    if "name" not in dataset.column_names or not {"description", "ov_labels"} & set(dataset.column_names):
        raise ValueError(
            f"{folder} has columns {dataset.column_names}; expected a MER-Caption table (name, subtitle, description "
            "and/or ov_labels, media or cached features)"
        )
    if not {"video", "audio", "face", VIDEO_FEATURES, AUDIO_FEATURES} & set(dataset.column_names):
        raise ValueError(
            f"{folder} holds no media (video, audio, face) and no cached features, only the table; build it with "
            "`affectgpt dataset build --embed-media`, pass the upstream release folder itself, or add the media "
            "with affectgpt_hf.data.attach_media"
        )
    if data_args.max_train_samples is not None:
        if data_args.max_train_samples < 1:
            raise ValueError(f"max_train_samples={data_args.max_train_samples}; expected a positive number of rows")
        dataset = dataset.select(range(min(data_args.max_train_samples, len(dataset))))
    return dataset


def dataset_fingerprint(data_args: DataArguments) -> str:
    """A cheap key of the rows :func:`load_training_dataset` reads (nothing is loaded): a `save_to_disk` folder by its
    state and data files, a Hub-ready folder by the files its README lists, a release by its tables and media
    folders; each with sizes and modification times."""
    from ..cache import stat_fingerprint

    folder = Path(data_args.dataset_dir)
    if (folder / "state.json").exists() or (folder / "dataset_dict.json").exists():
        return stat_fingerprint(sorted(p for p in folder.rglob("*") if p.suffix in (".json", ".arrow")))
    if (folder / "README.md").exists():
        from ..data.hub import hub_folder_files

        return stat_fingerprint(hub_folder_files(folder, data_args.dataset_config, data_args.dataset_split))
    from ..data.builder import release_fingerprint

    return release_fingerprint(folder, data_args.dataset_config)


# ------------------------------------------------------------------------------------------------------------ trainer
def upstream_lr_factor(step: int, lr: float, start_lr: float, min_lr: float, warmup: int, total: int) -> float:
    """Upstream's `linear_warmup_cosine_lr` as a multiple of `lr`: linear from start_lr to lr over `warmup` steps,
    then cosine from lr to min_lr over the remaining steps (per step; upstream's cosine is per 5,000-step epoch,
    the same curve when min_lr == lr, its setting)."""
    if step < warmup:
        return (start_lr + (lr - start_lr) * step / max(warmup, 1)) / lr
    progress = min(1.0, (step - warmup) / max(total - warmup, 1))
    return (min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))) / lr


class EpochCallback(TrainerCallback):
    """Tells the collator which epoch starts, so each sample's hybrid question is drawn from (seed, epoch, name)."""

    def __init__(self, collator: AffectGPTSFTCollator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = int(math.floor((state.epoch or 0.0) + 1e-6))


def supervised_logits(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Forward arguments that compute logits only at the positions followed by a label (prompt and padding need none:
    most of a batch's tokens, and on CPU the LM head and its softmax over the vocabulary are most of a small model's
    step), flattened as transformers' `slice_logits_to_keep` does with a boolean mask, with the labels those logits
    predict: the same loss as from full logits. Nothing when no position has a label."""
    targets = labels[:, 1:]
    supervised = targets != IGNORE_INDEX
    if not supervised.any():
        return {}
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = supervised
    return {"logits_to_keep": keep, "shift_labels": targets[supervised]}


class AffectGPTTrainer(SFTTrainer):
    """`SFTTrainer` with upstream's scheduler (`warmup_start_lr`) and weight-decay split (no decay for biases and
    1-D parameters), and the loss from the model's own logits (at the supervised positions only) where
    `fused_lm_head` says so (default on CPU)."""

    @property
    def uses_fused_lm_head(self) -> bool:
        choice = getattr(self.args, "fused_lm_head", None)
        return self.args.device.type != "cpu" if choice is None else bool(choice)

    def create_model_card(self, model_name=None, dataset_name=None, tags=None, **kwargs):
        """This project's card in output_dir (TRL writes its generic one here at every checkpoint save and on
        `push_to_hub`); `save_trained` rewrites it once the model is there."""
        if self.is_world_process_zero() and getattr(self, "card_sources", None) is not None:
            write_model_card(self.args.output_dir, training_card_facts(self, *self.card_sources), self.push_repo)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.uses_fused_lm_head:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        # The model's own token-mean cross-entropy (`Trainer.compute_loss` passes num_items_in_batch, so gradient
        # accumulation and DDP normalise as with the fused head), from logits at the supervised positions only unless
        # the caller wants the outputs (evaluation's prediction_step: every position's logits, as before); token
        # accuracy logged as TRL does.
        kept = {} if return_outputs else supervised_logits(inputs["labels"])
        inputs = {**inputs, "use_cache": False, **kept}
        loss, outputs = Trainer.compute_loss(
            self, model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        with torch.no_grad():
            targets = inputs.get("shift_labels", inputs["labels"][:, 1:])
            logits = outputs.logits if "shift_labels" in inputs else outputs.logits[:, :-1]  # [N, V] or [B, L - 1, V]
            valid = targets != IGNORE_INDEX
            correct = logits[valid].argmax(dim=-1) == targets[valid]
            num_valid = self.accelerator.gather_for_metrics(valid.sum()).sum()
            num_correct = self.accelerator.gather_for_metrics(correct.sum()).sum()
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["mean_token_accuracy"].append((num_correct / num_valid).item() if num_valid > 0 else 0.0)
        return (loss, outputs) if return_outputs else loss

    def get_decay_parameter_names(self, model: torch.nn.Module) -> list[str]:
        return [name for name, param in model.named_parameters() if param.ndim >= 2 and "bias" not in name]

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        args = self.args
        if self.lr_scheduler is None and getattr(args, "warmup_start_lr", None) is not None:
            lr = args.learning_rate
            factor = functools.partial(
                upstream_lr_factor,
                lr=lr,
                start_lr=args.warmup_start_lr,
                min_lr=lr if args.min_lr is None else args.min_lr,
                warmup=args.get_warmup_steps(num_training_steps),
                total=num_training_steps,
            )
            self.lr_scheduler = LambdaLR(optimizer or self.optimizer, factor)
            self._created_lr_scheduler = True
        return super().create_scheduler(num_training_steps, optimizer)


# ------------------------------------------------------------------------------------------------------------- saving
def save_trained(trainer: SFTTrainer, output_dir: str | os.PathLike, model_args: ModelArguments, processor) -> Path:
    """`output_dir`: the full model (LoRA merged) + processor, loadable with `from_pretrained`; `output_dir/adapter`:
    the PEFT adapter (LoRA + trained heads) when LoRA was used."""
    out = Path(output_dir)
    if not model_args.use_lora:
        trainer.save_model(str(out))  # the model, and the processor (the trainer's processing_class)
    else:
        _save_merged(trainer, out, model_args, processor)
    if trainer.accelerator.is_main_process:  # this project's card (TRL's generic one is never written: see above)
        facts = training_card_facts(trainer, model_args, getattr(trainer, "card_sources", (None, None))[1])
        facts.results = getattr(trainer, "card_results", None)
        write_model_card(out, facts, getattr(trainer, "push_repo", None))
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


def training_card_facts(trainer: SFTTrainer, model_args: ModelArguments, data_args: DataArguments | None) -> CardFacts:
    """The card facts of a training run: where the model started, the LoRA (or full) recipe, steps, schedule, data."""
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
    if start and not _has_weights(start):
        recipe["initialisation"] = f"random weights (towers included) from the config of `{start}`, seed {args.seed}"
    return CardFacts(made_by="train", components=components, initialised_from=start, recipe=recipe)


# --------------------------------------------------------------------------------------------------------------- main
def build_trainer(
    model_args: ModelArguments, data_args: DataArguments, training_args: AffectGPTSFTConfig
) -> AffectGPTTrainer:
    """Model, data, collator and `AffectGPTTrainer`, ready for `.train()`."""
    training_args.remove_unused_columns = False
    training_args.dataset_kwargs = {**(training_args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    push_repo = _take_over_push(training_args)
    results = (
        summarize_results(training_args.results, training_args.output_dir, push_repo) if training_args.results else None
    )
    set_seed(training_args.seed)
    dataset = load_training_dataset(data_args)
    model = build_model(model_args)
    _check_feature_cache(data_args, model)
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
        max_redraws=data_args.max_redraws,
    )
    trainer = AffectGPTTrainer(
        model=model,
        args=training_args,
        data_collator=collator,
        train_dataset=dataset,
        processing_class=processor,
        callbacks=[EpochCallback(collator)],
    )
    trainer.card_sources, trainer.card_results, trainer.push_repo = (model_args, data_args), results, push_repo
    return trainer


def _take_over_push(training_args: AffectGPTSFTConfig) -> str | None:
    """The repo `push_to_hub` asks for, with the Trainer's own push turned off: the finished folder (merged model,
    processor, this project's card) is uploaded once, by `train`, through `affectgpt_hf.hub.push`."""
    if not training_args.push_to_hub:
        return None
    if not training_args.hub_model_id:
        raise ValueError("push_to_hub is set but hub_model_id is not; pass --push-to-hub REPO_ID (or --hub_model_id)")
    training_args.push_to_hub = False
    return training_args.hub_model_id


def _check_feature_cache(data_args: DataArguments, model) -> None:
    """A cache of another input mode is refused (its features are not what this model's heads take), and so is one
    whose source rows have changed since it was made (it holds the earlier rows); one of other towers is warned about
    (the model then trains on features of towers it is not saved with)."""
    info = read_features_info(data_args.dataset_dir) if data_args.dataset_dir else None
    if info is None:
        return
    data = info.get("data")
    if data and Path(data["dataset_dir"]).is_dir():
        source = DataArguments(**{key: data[key] for key in ("dataset_dir", "dataset_config", "dataset_split")})
        try:
            current = dataset_fingerprint(source)
        except ValueError:  # the config or its files are gone: the source is not what the cache was made from
            current = None
        if current != data["fingerprint"]:
            raise ValueError(
                f"the feature cache {data_args.dataset_dir} was made from {data['dataset_dir']} (config "
                f"{data['dataset_config']}, split {data['dataset_split']}), which has changed since; its rows are the "
                "earlier ones. Run `affectgpt cache-features` again over it"
            )
    mode = model.config.input_mode
    if info.get("input_mode", mode) != mode:
        raise ValueError(
            f"the cached features in {data_args.dataset_dir} were made for input_mode {info['input_mode']!r} (by "
            f"{info.get('model')}), but this model's input_mode is {mode!r}; run `affectgpt cache-features --model` "
            "with this model"
        )
    checksum = towers_checksum(model)
    if not math.isclose(info["towers_checksum"], checksum, rel_tol=1e-6, abs_tol=1e-6):
        logger.warning(
            "the cached features in %s were made by towers with checksum %r (%s), but this model's towers give %r: "
            "the model trains on features of other towers than it is saved with",
            data_args.dataset_dir,
            info["towers_checksum"],
            info.get("model"),
            checksum,
        )


def train(model_args: ModelArguments, data_args: DataArguments, training_args: AffectGPTSFTConfig) -> Path:
    """Run the SFT recipe end to end; `resume_from_checkpoint` takes a checkpoint folder, or `true` / `last` for the
    newest one in output_dir. Returns the output folder."""
    trainer = build_trainer(model_args, data_args, training_args)
    resume = training_args.resume_from_checkpoint
    if isinstance(resume, str) and resume.lower() in ("true", "last"):
        resume = True  # the newest checkpoint-* in output_dir
    trainer.train(resume_from_checkpoint=resume)
    out = save_trained(trainer, training_args.output_dir, model_args, trainer.processing_class)
    if trainer.push_repo and trainer.accelerator.is_main_process:
        from ..hub.push import push_folder

        private = training_args.hub_private_repo is not False  # private unless --public / hub_private_repo: false
        print(f"pushed: {push_folder(out, trainer.push_repo, private=private, token=training_args.hub_token)}")
    return out


def parse_train_args(argv: list[str] | None = None):
    """`--config CONFIG.yaml [--field value ...]` -> (ModelArguments, DataArguments, AffectGPTSFTConfig)."""
    from trl import TrlParser

    parser = TrlParser(
        (ModelArguments, DataArguments, AffectGPTSFTConfig),
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
