"""Convert an upstream AffectGPT checkpoint (`_save_checkpoint`'s .pth) into one `from_pretrained` folder.

Upstream saves only its trainable tensors (plus buffers) as `{"model": state_dict, ...}`: the pooling, fusion and
projector heads, the Q-Former of the qformer variants, and the LoRA A/B matrices of the language model (peft naming,
`llama_model.base_model.model.model.layers.N.self_attn.q_proj.lora_A.default.weight`, r=16, alpha=32). The frozen
components (Qwen2.5-7B-Instruct, CLIP ViT-L/14, chinese-hubert-large) come from their own checkpoints; `--base` (a
hub_configs folder) gives the architecture settings, the processor and the generation config.

`rename_upstream_key` and `convert_state_dict` map keys without loading any weights (the expected names and shapes come
from a model built on the meta device); `convert_checkpoint` writes the folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .cache import file_sha256
from .configuration_affectgpt import AffectGPTConfig
from .hub.model_card import CardFacts, summarize_results, write_model_card
from .hub.paper import UPSTREAM_COMMIT, UPSTREAM_REPO, UPSTREAM_WEIGHTS
from .modeling_affectgpt import HEAD_MODULES, LORA_MODULES

logger = logging.getLogger(__name__)

UPSTREAM_LLM = "Qwen/Qwen2.5-7B-Instruct"
UPSTREAM_VISION = "openai/clip-vit-large-patch14"
UPSTREAM_AUDIO = "TencentGameMate/chinese-hubert-large"
UPSTREAM_LORA_ALPHA = 32.0  # hard-coded upstream (models/affectgpt.py); r is read from the A matrices
UPSTREAM_LORA_DROPOUT = 0.05
ADAPTER_FOLDER = "adapter"

# Upstream module -> ours (a prefix rename; the parameter names below the prefix are the same).
_LINEARS = {
    "affectgpt_proj": "model.video_projector",
    "audio_llama_proj": "model.audio_projector",
    "multi_llama_proj": "model.fusion_projector",
    "video_attention_mlp": "model.video_pooler.score",
    "audio_attention_mlp": "model.audio_pooler.score",
    "multi_video_embs": "model.av_fusion.video_in",
    "multi_audio_embs": "model.av_fusion.audio_in",
    "attention_mlp": "model.av_fusion.hidden",
    "fc_att": "model.av_fusion.weights",
}
# Q-Formers: upstream's BLIP-2 BertLMHeadModel (text branch, word/position embeddings, cls removed) -> AffectGPTQFormer
_QFORMERS = {
    "video": ("video_Qformer", "video_query_tokens", "video_frame_position_embedding", "model.video_pooler"),
    "audio": ("audio_Qformer", "audio_query_tokens", "audio_position_embedding", "model.audio_pooler"),
    "multi": ("multi_Qformer", "multi_query_tokens", "multi_position_embedding", "model.av_fusion.qformer"),
}
_QFORMER_LAYER = {
    "attention.self.query": "self_attention.query",
    "attention.self.key": "self_attention.key",
    "attention.self.value": "self_attention.value",
    "attention.output.dense": "self_attention.dense",
    "attention.output.LayerNorm": "self_attention.norm",
    "crossattention.self.query": "cross_attention.query",
    "crossattention.self.key": "cross_attention.key",
    "crossattention.self.value": "cross_attention.value",
    "crossattention.output.dense": "cross_attention.dense",
    "crossattention.output.LayerNorm": "cross_attention.norm",
    "intermediate_query.dense": "intermediate",
    "output_query.dense": "output",
    "output_query.LayerNorm": "output_norm",
}
_LORA = re.compile(
    r"llama_model\.base_model\.model\.model\.layers\.(\d+)\."
    rf"({'|'.join(map(re.escape, LORA_MODULES))})\.lora_([AB])\.default\.weight"
)
# Upstream keys that are expected in a checkpoint and carry nothing this model uses.
_IGNORED = (
    (re.compile(r"image_llama_proj\.(weight|bias)"), "image_llama_proj is trainable upstream but only used for images"),
    (
        re.compile(r"(video|audio|multi)_Qformer\.bert\.embeddings\.position_ids"),
        "a Q-Former buffer (arange of BERT positions), not a weight",
    ),
)


def rename_upstream_key(key: str) -> str | None:
    """Our parameter name for an upstream checkpoint key; None for the keys that are ignored on purpose.

    LoRA keys become `model.language_model.layers.N.<module>.lora_A.weight` / `.lora_B.weight` (the module path in
    our model plus PEFT's suffix). Raises ValueError for a key that no rule knows."""
    for pattern, _ in _IGNORED:
        if pattern.fullmatch(key):
            return None
    if match := _LORA.fullmatch(key):
        layer, module, which = match.groups()
        return f"model.language_model.layers.{layer}.{module}.lora_{which}.weight"
    module, _, leaf = key.partition(".")
    if module in _LINEARS and leaf in ("weight", "bias"):
        return f"{_LINEARS[module]}.{leaf}"
    for qformer, tokens, positions, ours in _QFORMERS.values():
        if key == tokens:
            return f"{ours}.query_tokens"
        if key == f"{positions}.weight":
            return f"{ours}.position_embedding.weight"
        if key.startswith(f"{qformer}.bert."):
            rest = key[len(qformer) + len(".bert.") :]
            if rest in ("embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"):
                return f"{ours}.embed_norm.{rest.rsplit('.', 1)[1]}"
            if match := re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)", rest):
                layer, sub, leaf = match.groups()
                if sub in _QFORMER_LAYER:
                    return f"{ours}.layers.{layer}.{_QFORMER_LAYER[sub]}.{leaf}"
    raise ValueError(
        f"upstream key {key!r} is unknown: expected AffectGPT's heads ({', '.join(_LINEARS)}), a Q-Former "
        f"({', '.join(q[0] for q in _QFORMERS.values())}) or LoRA A/B of the language model"
    )


def ignore_reason(key: str) -> str | None:
    """Why an upstream key is skipped, or None if it is converted."""
    return next((reason for pattern, reason in _IGNORED if pattern.fullmatch(key)), None)


@dataclass
class ConvertedState:
    """An upstream state dict in our names: head tensors, LoRA pairs per language-model module, skipped keys."""

    heads: dict[str, torch.Tensor] = field(default_factory=dict)
    lora: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # module path -> (A, B)
    ignored: dict[str, str] = field(default_factory=dict)  # upstream key -> reason
    sources: dict[str, str] = field(default_factory=dict)  # our key -> upstream key

    @property
    def lora_rank(self) -> int | None:
        return next((a.shape[0] for a, _ in self.lora.values()), None)


def expected_shapes(config: AffectGPTConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of every parameter of a model built from `config` (on the meta device: no memory)."""
    from .modeling_affectgpt import AffectGPTForConditionalGeneration

    with torch.device("meta"):
        model = AffectGPTForConditionalGeneration(config)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], config: AffectGPTConfig | None = None, strict_lora: bool = True
) -> ConvertedState:
    """Rename an upstream state dict; with `config`, check it against that architecture.

    The check: every upstream key maps onto a parameter of the model (else ValueError naming the upstream key); every
    head parameter of the model is given (else ValueError naming it and the upstream key it comes from); shapes agree;
    LoRA pairs cover q/k/v/o/gate/up/down of every layer with one rank (a checkpoint without any LoRA is accepted with
    a warning when `strict_lora` is False)."""
    result = ConvertedState()
    lora_parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        ours = rename_upstream_key(key)
        if ours is None:
            result.ignored[key] = ignore_reason(key) or "ignored"
            logger.info("skipping upstream key %s: %s", key, result.ignored[key])
            continue
        if ".lora_" in ours:
            module, which = ours.rsplit(".lora_", 1)
            lora_parts.setdefault(module, {})[which[0]] = tensor
        else:
            result.heads[ours] = tensor
        result.sources[ours] = key
    for module, parts in lora_parts.items():
        if set(parts) != {"A", "B"}:
            missing = "lora_B" if "A" in parts else "lora_A"
            raise ValueError(
                f"upstream checkpoint has {_upstream_lora_key(module, 'AB'[missing == 'lora_B'])} but not "
                f"its {missing} ({_upstream_lora_key(module, missing[-1])})"
            )
        result.lora[module] = (parts["A"], parts["B"])
    if config is not None:
        check_state(result, config, strict_lora)
    return result


def _upstream_lora_key(module: str, which: str) -> str:
    path = module.removeprefix("model.language_model.")
    return f"llama_model.base_model.model.model.{path}.lora_{which}.default.weight"


def _upstream_name(ours: str) -> str:
    """The upstream key that maps onto one of our head parameters (for error messages about missing keys)."""
    for upstream, mine in _LINEARS.items():
        if ours.startswith(mine + "."):
            return upstream + ours[len(mine) :]
    for qformer, tokens, positions, mine in _QFORMERS.values():
        if not ours.startswith(mine + "."):
            continue
        rest = ours[len(mine) + 1 :]
        if rest == "query_tokens":
            return tokens
        if rest == "position_embedding.weight":
            return f"{positions}.weight"
        if rest.startswith("embed_norm."):
            return f"{qformer}.bert.embeddings.LayerNorm.{rest.split('.')[-1]}"
        if match := re.fullmatch(r"layers\.(\d+)\.(.+)\.(weight|bias)", rest):
            layer, sub, leaf = match.groups()
            upstream_sub = {v: k for k, v in _QFORMER_LAYER.items()}.get(sub, sub)
            return f"{qformer}.bert.encoder.layer.{layer}.{upstream_sub}.{leaf}"
    return "?"


def _describe(config: AffectGPTConfig) -> str:
    return (
        f"input_mode={config.input_mode!r}, video_pooling={config.video_pooling!r}, "
        f"audio_pooling={config.audio_pooling!r}, fusion={config.fusion!r}"
    )


def check_state(state: ConvertedState, config: AffectGPTConfig, strict_lora: bool = True) -> None:
    """Raise ValueError unless the converted tensors fill exactly this architecture's heads and LoRA targets."""
    shapes = expected_shapes(config)
    heads = {name: shape for name, shape in shapes.items() if name.split(".")[:2][-1] in HEAD_MODULES}
    for ours, tensor in state.heads.items():
        upstream = state.sources[ours]
        if ours not in heads:
            raise ValueError(
                f"upstream key {upstream!r} (-> {ours}) has no place in this architecture ({_describe(config)}); "
                "does --base match the checkpoint?"
            )
        if tuple(tensor.shape) != heads[ours]:
            raise ValueError(
                f"upstream key {upstream!r} has shape {tuple(tensor.shape)}, but {ours} expects {heads[ours]} "
                f"(check the components' sizes and --base)"
            )
    missing = sorted(set(heads) - set(state.heads))
    if missing:
        raise ValueError(
            f"upstream checkpoint lacks {_upstream_name(missing[0])!r} (for {missing[0]}"
            + (f", and {len(missing) - 1} more" if len(missing) > 1 else "")
            + f"), which this architecture needs ({_describe(config)})"
        )
    layers = config.text_config.num_hidden_layers
    wanted = {f"model.language_model.layers.{i}.{m}" for i in range(layers) for m in LORA_MODULES}
    if not state.lora:
        if strict_lora:
            raise ValueError(
                f"upstream checkpoint holds no LoRA weights (expected {_upstream_lora_key(sorted(wanted)[0], 'A')} "
                "and the like); pass strict_lora=False to convert the heads alone"
            )
        logger.warning("the checkpoint holds no LoRA weights: the language model stays as the base model")
        return
    for module, (a, b) in state.lora.items():
        upstream = _upstream_lora_key(module, "A")
        if module not in wanted:
            raise ValueError(f"upstream key {upstream!r} names a layer the language model ({layers} layers) lacks")
        weight = shapes[f"{module}.weight"]
        rank = a.shape[0]
        if a.ndim != 2 or b.ndim != 2 or tuple(a.shape) != (rank, weight[1]) or tuple(b.shape) != (weight[0], rank):
            raise ValueError(
                f"upstream keys {upstream!r} / lora_B have shapes {tuple(a.shape)} / {tuple(b.shape)}, but {module} "
                f"({weight[0]}x{weight[1]}) needs (r, {weight[1]}) / ({weight[0]}, r)"
            )
    ranks = {a.shape[0] for a, _ in state.lora.values()}
    if len(ranks) > 1:
        raise ValueError(f"upstream LoRA matrices have several ranks {sorted(ranks)}; expected one")
    absent = sorted(wanted - set(state.lora))
    if absent:
        raise ValueError(
            f"upstream checkpoint lacks {_upstream_lora_key(absent[0], 'A')!r}"
            + (f" (and {len(absent) - 1} more LoRA modules)" if len(absent) > 1 else "")
        )


def load_upstream_state_dict(checkpoint: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The `model` state dict of an upstream .pth (`torch.load(weights_only=True)`); a bare state dict also works."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; expected an upstream AffectGPT .pth")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # bad bytes fail in many ways (UnpicklingError, KeyError, RuntimeError, EOFError)
        raise ValueError(
            f"checkpoint {path} does not load as tensors ({type(error).__name__} from torch.load(weights_only=True)): "
            "not a torch file, or one holding Python objects, which are not loaded as they may run code; expected "
            "an upstream AffectGPT .pth (torch.save of {'model': state_dict})"
        ) from error
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"checkpoint {path} is not an upstream AffectGPT checkpoint: expected {{'model': state_dict}}")
    return state


def base_settings(base: str | os.PathLike) -> dict:
    """AffectGPTConfig settings of a hub_configs folder (architecture, query tokens, placeholder ids), sub-configs
    excluded: those come from the components."""
    config_file = Path(base) / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"--base {base} has no config.json; expected a hub_configs folder")
    raw = json.loads(config_file.read_text(encoding="utf-8"))
    if raw.get("model_type") != "affectgpt":
        raise ValueError(f"--base {base}: config.json has model_type {raw.get('model_type')!r}, expected 'affectgpt'")
    skip = {"vision_config", "audio_config", "text_config"}
    own = set(AffectGPTConfig.__annotations__) - skip
    return {key: value for key, value in raw.items() if key in own}


def component_config(
    settings: dict, llm: str | os.PathLike, vision: str | os.PathLike | None, audio: str | os.PathLike | None
) -> AffectGPTConfig:
    """The AffectGPTConfig that `from_components` will build, from the components' configs alone (no weights)."""
    from transformers import AutoConfig, CLIPVisionConfig

    kwargs = dict(settings, text_config=AutoConfig.from_pretrained(llm).to_dict())
    if vision is not None:
        kwargs["vision_config"] = CLIPVisionConfig.from_pretrained(vision).to_dict()
    if audio is not None:
        kwargs["audio_config"] = AutoConfig.from_pretrained(audio).to_dict()
    return AffectGPTConfig(**kwargs)


@torch.no_grad()
def load_heads(model, state: ConvertedState) -> None:
    """Copy the converted head tensors into the model (cast to each parameter's dtype)."""
    params = dict(model.named_parameters())
    for name, tensor in state.heads.items():
        params[name].copy_(tensor.to(params[name].dtype))


@torch.no_grad()
def merge_lora_weights(model, state: ConvertedState, alpha: float = UPSTREAM_LORA_ALPHA) -> None:
    """W <- W + (B @ A) * alpha / r for every LoRA module (computed in float32)."""
    for module, (a, b) in state.lora.items():
        weight = model.get_parameter(f"{module}.weight")
        delta = (b.float() @ a.float()) * (alpha / a.shape[0])
        weight.copy_((weight.float() + delta.to(weight.device)).to(weight.dtype))


def save_adapter(state: ConvertedState, folder: str | os.PathLike, alpha: float = UPSTREAM_LORA_ALPHA) -> Path:
    """Write the LoRA as a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) for our model."""
    from peft import LoraConfig
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    modules = sorted(state.lora)
    LoraConfig(
        r=state.lora_rank,
        lora_alpha=alpha,
        lora_dropout=UPSTREAM_LORA_DROPOUT,
        target_modules=modules,
        task_type="CAUSAL_LM",
    ).save_pretrained(folder)
    tensors = {}
    for module in modules:
        a, b = state.lora[module]
        tensors[f"base_model.model.{module}.lora_A.weight"] = a.contiguous()
        tensors[f"base_model.model.{module}.lora_B.weight"] = b.contiguous()
    save_file(tensors, folder / "adapter_model.safetensors", metadata={"format": "pt"})
    return folder


def _str(value: str | os.PathLike | None) -> str | None:
    return None if value is None else str(value)


def card_facts(
    checkpoint: Path,
    base: Path,
    components: dict[str, str | None],
    state: ConvertedState,
    merged: bool,
    alpha: float,
) -> CardFacts:
    """What the converted folder's card says: components, the checkpoint's identity, what became of its LoRA and
    which upstream keys were skipped."""
    from . import __version__

    lora = "no LoRA in the checkpoint"
    if state.lora:
        rank = state.lora_rank
        lora = (
            f"merged into the language model's weights (W + BA * {alpha:g}/{rank})"
            if merged
            else f"kept as a PEFT adapter in `{ADAPTER_FOLDER}/` (r={rank}, alpha={alpha:g}); the weights here are the "
            "base language model's"
        )
    skipped = "; ".join(f"`{key}`: {reason}" for key, reason in sorted(state.ignored.items())) or "none"
    provenance = {
        "upstream checkpoint": f"`{checkpoint.name}` (sha256 `{file_sha256(checkpoint)}`)",
        "upstream code": f"{UPSTREAM_REPO} at `{UPSTREAM_COMMIT}` (released checkpoints: `{UPSTREAM_WEIGHTS}`)",
        "upstream recipe": "LoRA on q/k/v/o/gate/up/down of the language model, heads fully trained, on "
        "MER-Caption+ (paper App. B; hub_configs/affectgpt-qwen2.5-7b/train.yaml restates it)",
        "architecture settings": f"`{base.name}` (a hub_configs folder: config, processor, generation config)",
        "LoRA": lora,
        "upstream keys skipped on purpose": skipped,
        "converted with": f"`affectgpt convert`, affectgpt_hf {__version__}",
    }
    return CardFacts(
        made_by="convert",
        components=components,
        provenance=provenance,
        adapter=ADAPTER_FOLDER if state.lora and not merged else None,
    )


def convert_checkpoint(
    checkpoint: str | os.PathLike,
    base: str | os.PathLike,
    output_dir: str | os.PathLike,
    llm: str | os.PathLike = UPSTREAM_LLM,
    vision: str | os.PathLike | None = UPSTREAM_VISION,
    audio: str | os.PathLike | None = UPSTREAM_AUDIO,
    merge_lora: bool = False,
    dtype: torch.dtype | str | None = None,
    lora_alpha: float = UPSTREAM_LORA_ALPHA,
    strict_lora: bool = True,
    results: str | os.PathLike | None = None,
    model_id: str | None = None,
) -> Path:
    """Upstream .pth + components + a hub_configs folder -> a folder with model, processor, generation config, README.

    The mapping is checked against the architecture before any component weights load. Without `merge_lora` the LoRA
    is written as a PEFT adapter in `output_dir/adapter/`; `strict_lora=False` accepts a checkpoint without LoRA.
    `results` (a benchmark.json of this model) adds MER-UniBench scores to the card; `model_id` (the Hub repo it will
    be pushed to) is the id the card's usage snippet loads (default: the output folder)."""
    from transformers import GenerationConfig

    from .modeling_affectgpt import AffectGPTForConditionalGeneration
    from .processing_affectgpt import AffectGPTProcessor

    checkpoint, base, output_dir = Path(checkpoint), Path(base), Path(output_dir)
    summary = summarize_results(results, output_dir, model_id) if results else None  # refused before any work
    settings = base_settings(base)
    upstream = load_upstream_state_dict(checkpoint)
    state = convert_state_dict(upstream)  # unknown keys fail here, before any component is touched
    config = AffectGPTConfig(**settings)
    vision = vision if config.uses_video else None
    audio = audio if config.uses_audio else None
    config = component_config(settings, llm, vision, audio)
    check_state(state, config, strict_lora=strict_lora)
    logger.info(
        "mapped %d head tensors and %d LoRA modules (rank %s) from %s",
        len(state.heads),
        len(state.lora),
        state.lora_rank,
        checkpoint,
    )

    model = AffectGPTForConditionalGeneration.from_components(
        llm=llm, vision=vision, audio=audio, dtype=dtype, **settings
    )
    load_heads(model, state)
    merged = merge_lora and bool(state.lora)
    if merged:
        merge_lora_weights(model, state, lora_alpha)
    model.generation_config = GenerationConfig.from_pretrained(base)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    if state.lora and not merged:
        save_adapter(state, output_dir / ADAPTER_FOLDER, lora_alpha)
    AffectGPTProcessor.from_pretrained(base).save_pretrained(output_dir)
    components = {"llm": str(llm), "vision": _str(vision), "audio": _str(audio)}
    facts = card_facts(checkpoint, base, components, state, merged, lora_alpha)
    facts.results = summary
    write_model_card(output_dir, facts, model_id)
    logger.info("wrote %s", output_dir)
    return output_dir


__all__ = [
    "ConvertedState",
    "UPSTREAM_AUDIO",
    "UPSTREAM_LLM",
    "UPSTREAM_VISION",
    "base_settings",
    "card_facts",
    "convert_checkpoint",
    "check_state",
    "convert_state_dict",
    "expected_shapes",
    "load_upstream_state_dict",
    "merge_lora_weights",
    "rename_upstream_key",
    "save_adapter",
]
