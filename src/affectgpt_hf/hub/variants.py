"""The released variants (paper face model, frame model, tiny) as AffectGPTConfig settings and generation configs.

hub_configs/generate.py writes them to folders; training, the quickstart and tests build from the same facts.
"""

from __future__ import annotations

from transformers import GenerationConfig

from ..configuration_affectgpt import PLACEHOLDER_ID_FIELDS, AffectGPTConfig
from ..tokenizer import BOS_TOKEN, ENDOFTEXT_TOKEN, EOS_TOKEN, FULL_VOCAB, added_token_id

ANSWER_STOP_ID = 14374  # "###" in Qwen2.5's vocabulary (kept by the tiny tokenizer's 16,384 ranks)

TINY_RANKS = 16384
TINY = {
    "vision_config": {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "patch_size": 32,
        "image_size": 224,
        "projection_dim": 48,
    },
    "audio_config": {
        "model_type": "hubert",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "conv_dim": [32] * 7,
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": True,
        "conv_bias": True,
    },
    "text_config": {
        "model_type": "qwen2",
        "vocab_size": 16416,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
        "bos_token_id": added_token_id(ENDOFTEXT_TOKEN, TINY_RANKS),  # as Qwen2.5's config.json
        "eos_token_id": added_token_id(EOS_TOKEN, TINY_RANKS),
    },
}


def placeholder_ids(ranks: int) -> dict[str, int]:
    """The config's placeholder id fields for a tokenizer on ``ranks`` BPE ranks."""
    return {field: added_token_id(token, ranks) for token, field in PLACEHOLDER_ID_FIELDS.items()}


VARIANTS = {
    "affectgpt-qwen2.5-7b": ({"input_mode": "multiface_audio_face_text"}, FULL_VOCAB),
    "affectgpt-qwen2.5-7b-frame": ({"input_mode": "multiframe_audio_frame_text"}, FULL_VOCAB),
    "tiny": ({"input_mode": "multiframe_audio_frame_text", **TINY, **placeholder_ids(TINY_RANKS)}, TINY_RANKS),
}


def generation_config(ranks: int) -> GenerationConfig:
    """Greedy by default; stops on <|im_end|>, <|endoftext|> and "###" (the "#"/"##" pairs are the model's default
    stopping criterion). Upstream's sampling is a set of generate() arguments, never saved here."""
    im_end, endoftext = added_token_id(EOS_TOKEN, ranks), added_token_id(ENDOFTEXT_TOKEN, ranks)
    return GenerationConfig(
        do_sample=False,
        max_new_tokens=1200,
        eos_token_id=[im_end, endoftext, ANSWER_STOP_ID],
        pad_token_id=im_end,
        bos_token_id=added_token_id(BOS_TOKEN, ranks),  # the tokenizer's bos (upstream's <|im_start|> override)
    )


def variant_config(name: str, **overrides) -> AffectGPTConfig:
    """The AffectGPTConfig of a released variant ("affectgpt-qwen2.5-7b", "affectgpt-qwen2.5-7b-frame", "tiny")."""
    if name not in VARIANTS:
        raise ValueError(f"variant {name!r} is unknown; expected one of {sorted(VARIANTS)}")
    settings, _ = VARIANTS[name]
    return AffectGPTConfig(**{**settings, **overrides})


def variant_processor(name: str, **overrides):
    """The AffectGPTProcessor of a released variant, with Qwen2.5's tokenizer (or the tiny one) built offline."""
    from ..processing_affectgpt import AffectGPTProcessor

    settings, ranks = VARIANTS[name]
    return AffectGPTProcessor.from_settings(
        input_mode=overrides.pop("input_mode", settings["input_mode"]), qwen_bpe_ranks=ranks, **overrides
    )
