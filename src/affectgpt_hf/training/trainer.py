"""`AffectGPTTrainer`: TRL's `SFTTrainer` with upstream's learning-rate schedule and weight-decay split, and the loss
from the model's own logits at the supervised positions where that is faster (CPU)."""

from __future__ import annotations

import functools
import math

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers import Trainer, TrainerCallback
from trl import SFTTrainer

from ..hub.model_card import write_model_card
from .collator import IGNORE_INDEX, AffectGPTSFTCollator
from .saving import CardSources, training_card_facts


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
    `fused_lm_head` says so (default on CPU). ``card``: what this project's model card is written from, at every
    checkpoint save (TRL's generic card is never written)."""

    def __init__(self, *args, card: CardSources | None = None, **kwargs) -> None:
        self.card = card  # before SFTTrainer's init, which may save a card
        super().__init__(*args, **kwargs)

    @property
    def uses_fused_lm_head(self) -> bool:
        choice = getattr(self.args, "fused_lm_head", None)
        return self.args.device.type != "cpu" if choice is None else bool(choice)

    def create_model_card(self, model_name=None, dataset_name=None, tags=None, **kwargs):
        """This project's card in output_dir (TRL writes its generic one here at every checkpoint save and on
        `push_to_hub`); `save_trained` rewrites it once the model is there."""
        if self.is_world_process_zero() and self.card is not None:
            write_model_card(self.args.output_dir, training_card_facts(self, self.card), self.card.push_repo)

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
