"""Command-line / YAML arguments of `affectgpt train`: model and data arguments beside TRL's `SFTConfig`.

`TrlParser((ModelArguments, DataArguments, AffectGPTSFTConfig))` reads them from `--config CONFIG.yaml` and
`--field value` overrides. The project fields (`warmup_start_lr`, `min_lr`) carry upstream's
`linear_warmup_cosine_lr` schedule, which no stock scheduler expresses (its warm-up starts above 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from trl import SFTConfig

from ..modeling_affectgpt import LORA_MODULES

# LoRA on the language model's attention and MLP projections only: a plain name list (q_proj, ..., down_proj) would
# also hit CLIP's q/k/v projections and HuBERT's, which upstream keeps frozen.
LANGUAGE_MODEL_LORA_TARGETS = rf"model\.language_model\.layers\.\d+\.({'|'.join(map(re.escape, LORA_MODULES))})"


@dataclass
class ModelArguments:
    """Which AffectGPT to train: a folder (`from_pretrained` weights, or a hub_configs folder with config only) or
    pretrained components (`llm`, `vision`, `audio`) assembled with `from_components`; and the LoRA recipe."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "a folder or Hub id with AffectGPT weights, or a hub_configs folder (config.json without weights: "
            "with llm/vision/audio the architecture settings come from it, without them the model starts random)"
        },
    )
    llm: str | None = field(default=None, metadata={"help": "causal LM id or folder (e.g. Qwen/Qwen2.5-7B-Instruct)"})
    vision: str | None = field(default=None, metadata={"help": "CLIP id or folder (openai/clip-vit-large-patch14)"})
    audio: str | None = field(default=None, metadata={"help": "HuBERT id or folder (chinese-hubert-large)"})
    model_dtype: str | None = field(
        default=None, metadata={"help": "dtype to load components in (float32, bfloat16, float16; default: theirs)"}
    )
    use_lora: bool = field(
        default=True,
        metadata={"help": "LoRA on the language model (upstream); false trains the whole language model and lm_head"},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (upstream 16)"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (upstream 32)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout (upstream 0.05)"})
    lora_target_modules: str = field(
        default=LANGUAGE_MODEL_LORA_TARGETS, metadata={"help": "regex of the modules that get LoRA (full match)"}
    )


@dataclass
class DataArguments:
    """Where the training rows come from: a `save_to_disk` folder (e.g. `affectgpt cache-features` output), a
    Hub-ready folder (`affectgpt dataset build`), or an upstream MER-Caption release folder."""

    dataset_dir: str | None = field(default=None, metadata={"help": "data set folder (see above)"})
    dataset_config: str = field(default="mer_caption_plus", metadata={"help": "config of a release or Hub folder"})
    dataset_split: str = field(default="train", metadata={"help": "split of a release or Hub folder"})
    max_train_samples: int | None = field(default=None, metadata={"help": "keep only the first N rows"})
    max_redraws: int = field(
        default=10, metadata={"help": "tries to replace a sample over max_length by another (upstream: 10)"}
    )


@dataclass
class AffectGPTSFTConfig(SFTConfig):
    """`SFTConfig` plus upstream's warm-up start and floor of the learning rate (`linear_warmup_cosine_lr`), and the
    choice of how the loss is computed."""

    warmup_start_lr: float | None = field(
        default=None,
        metadata={
            "help": "upstream schedule: linear warm-up from this lr to learning_rate over warmup_steps, then cosine "
            "to min_lr (constant when min_lr == learning_rate); None keeps lr_scheduler_type"
        },
    )
    min_lr: float | None = field(
        default=None, metadata={"help": "floor of the upstream schedule's cosine (default: learning_rate)"}
    )
    results: str | None = field(
        default=None,
        metadata={
            "help": "benchmark.json (affectgpt benchmark) of this model: its MER-UniBench scores go into the card's "
            "results table and model-index (a report of another model is refused)"
        },
    )
    fused_lm_head: bool | None = field(
        default=None,
        metadata={
            "help": "loss through TRL's fused LM head (true: no full logits, the memory saver for a 152k vocabulary) "
            "or from the model's logits as upstream (false; computed only at the positions that have a label); the "
            "same loss either way. Default: fused on a GPU, the model's logits on CPU, where the fused kernel's torch "
            'fallback is slower (perf/README.md, "Training")'
        },
    )
