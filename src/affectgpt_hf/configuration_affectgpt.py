"""AffectGPTConfig: the vision, audio and text sub-configs plus AffectGPT's pooling, fusion and prompt settings."""

from __future__ import annotations

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig
from transformers.configuration_utils import PreTrainedConfig, SubConfigSpec

from .prompt import (
    AUDIO_TOKEN,
    FACE_TOKEN,
    FRAME_TOKEN,
    IMAGE_TOKEN,
    INPUT_MODES,
    MULTI_TOKEN,
    modalities_of,
    query_token_counts,
    uses_audio_of,
    visual_token_of,
)
from .tokenizer import ENDOFTEXT_TOKEN, EOS_TOKEN, added_token_id

# Input modes with at most one visual stream: the model has one vision tower input (`pixel_values_videos`), which is
# faces or frames by the mode. Upstream's two-stream ablations ("faceframe", "multiface_audio_face_frame_text") and the
# image mode (its projector is unused upstream) are not offered.
SUPPORTED_INPUT_MODES = (
    "multiface_audio_face_text",
    "multiframe_audio_frame_text",
    "multiface_text",
    "face",
    "frame",
    "audioonly",
    "textonly",
    "faceonly",
    "frameonly",
    "audio_text",
    "face_text",
    "frame_text",
)
# The config field that holds each placeholder's id (set by the tokenizer the model is paired with).
PLACEHOLDER_ID_FIELDS = {
    IMAGE_TOKEN: "image_token_id",
    AUDIO_TOKEN: "audio_token_id",
    FRAME_TOKEN: "frame_token_id",
    FACE_TOKEN: "face_token_id",
    MULTI_TOKEN: "multi_token_id",
}


@strict
class AffectGPTConfig(PreTrainedConfig):
    r"""AffectGPT (Lian et al., ICML 2025): frozen CLIP and HuBERT towers, pooled and pre-fused into 3 Qwen2.5 tokens.

    Defaults are the released model: Qwen2.5-7B-Instruct, CLIP ViT-L/14 (projected 768-d image features),
    chinese-hubert-large (mean of its last 4 layers, then over time), attention pooling and attention pre-fusion with
    raw (unnormalised) scores, faces + audio + subtitle (`multiface_audio_face_text`).

    Args:
        input_mode: upstream's `face_or_frame`: which prompt sentences, hence which modality tokens, the model sees.
        video_pooling / audio_pooling: how 8 frame / clip features become the modality token (`attention`: one linear
            score per step, `mean`, `qformer`).
        fusion: pre-fusion of audio and video into the `<MultiHere>` token (`attention`, `qformer`, or `none` for modes
            without it).
        softmax_attention_weights: normalise pooling and fusion scores with a softmax (off, as upstream).
        num_*_query_tokens: placeholder tokens per modality (1 upstream).
    """

    model_type = "affectgpt"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="clip_vision_model",
            init_kwargs={
                "hidden_size": 1024,
                "intermediate_size": 4096,
                "num_hidden_layers": 24,
                "num_attention_heads": 16,
                "patch_size": 14,
                "image_size": 224,
                "projection_dim": 768,
                "hidden_act": "quick_gelu",
            },
        ),
        "audio_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="hubert",
            init_kwargs={
                "hidden_size": 1024,
                "intermediate_size": 4096,
                "num_hidden_layers": 24,
                "num_attention_heads": 16,
                "feat_extract_norm": "layer",
                "feat_proj_layer_norm": True,
                "do_stable_layer_norm": True,
                "conv_bias": True,
            },
        ),
        "text_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="qwen2",
            init_kwargs={
                "vocab_size": 152064,
                "hidden_size": 3584,
                "intermediate_size": 18944,
                "num_hidden_layers": 28,
                "num_attention_heads": 28,
                "num_key_value_heads": 4,
                "max_position_embeddings": 32768,
                "rms_norm_eps": 1e-6,
                "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
                "tie_word_embeddings": False,
                # Qwen2.5-7B-Instruct's own config.json (bos <|endoftext|>); AffectGPT's bos is the tokenizer's.
                "bos_token_id": added_token_id(ENDOFTEXT_TOKEN),
                "eos_token_id": added_token_id(EOS_TOKEN),
            },
        ),
    }

    vision_config: dict | PreTrainedConfig | None = None
    audio_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None

    input_mode: str = "multiface_audio_face_text"
    num_frames: int = 8
    num_audio_clips: int = 8
    audio_clip_seconds: float = 2.0
    audio_sampling_rate: int = 16000
    audio_feature_layers: int = 4
    video_pooling: Literal["attention", "mean", "qformer"] = "attention"
    audio_pooling: Literal["attention", "mean", "qformer"] = "attention"
    fusion: Literal["attention", "qformer", "none"] = "attention"
    softmax_attention_weights: bool = False
    num_video_query_tokens: int = 1
    num_audio_query_tokens: int = 1
    num_multi_query_tokens: int = 1
    # Q-Former (BLIP-2 style, BERT-base sizes as upstream) for `qformer` pooling or fusion.
    qformer_hidden_size: int = 768
    qformer_num_layers: int = 2
    qformer_num_heads: int = 12
    qformer_intermediate_size: int = 3072
    qformer_dropout: float = 0.1
    qformer_layer_norm_eps: float = 1e-12
    qformer_initializer_range: float = 0.02
    fusion_position_embeddings: int = 264
    # Placeholder ids in Qwen2.5's vocabulary (tokenizer.py adds them after Qwen2.5's added tokens).
    image_token_id: int = added_token_id(IMAGE_TOKEN)
    audio_token_id: int = added_token_id(AUDIO_TOKEN)
    frame_token_id: int = added_token_id(FRAME_TOKEN)
    face_token_id: int = added_token_id(FACE_TOKEN)
    multi_token_id: int = added_token_id(MULTI_TOKEN)
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.input_mode not in SUPPORTED_INPUT_MODES:
            known = "" if self.input_mode in INPUT_MODES else " (not an upstream mode)"
            raise ValueError(
                f"input_mode {self.input_mode!r}{known} is not supported; expected one of {list(SUPPORTED_INPUT_MODES)}"
            )
        if self.uses_multi and self.fusion == "none":
            raise ValueError(f"input_mode {self.input_mode!r} has a <MultiHere> token, so fusion cannot be 'none'")

    @property
    def modality_tokens(self) -> frozenset[str]:
        """Placeholder tokens of the input mode's prompt."""
        return modalities_of(self.input_mode)

    @property
    def uses_multi(self) -> bool:
        return MULTI_TOKEN in self.modality_tokens

    @property
    def uses_audio(self) -> bool:
        """The audio tower runs for the audio token or the fused token."""
        return uses_audio_of(self.input_mode)

    @property
    def visual_token(self) -> str | None:
        """`<FaceHere>` or `<FrameHere>`: which visual stream the mode reads (faces for multiface_* modes)."""
        return visual_token_of(self.input_mode)

    @property
    def uses_video(self) -> bool:
        return self.visual_token is not None

    @property
    def visual_token_id(self) -> int:
        return self.face_token_id if self.visual_token == FACE_TOKEN else self.frame_token_id

    def placeholder_id(self, token: str) -> int:
        """The id of one placeholder token (`<FaceHere>`, ...) in this model's vocabulary."""
        return getattr(self, PLACEHOLDER_ID_FIELDS[token])

    @property
    def placeholder_ids(self) -> list[int]:
        """The ids of all five placeholders: never embedded as text (their slots get the modality tokens)."""
        return [self.placeholder_id(token) for token in PLACEHOLDER_ID_FIELDS]

    @property
    def fusion_hidden_size(self) -> int:
        """Width of the pre-fusion space: the larger encoder width (1024 upstream)."""
        return max(self.vision_config.projection_dim, self.audio_config.hidden_size)

    def query_tokens(self) -> dict[str, int]:
        """Placeholder token -> how many times the prompt repeats it."""
        return query_token_counts(self.num_video_query_tokens, self.num_audio_query_tokens, self.num_multi_query_tokens)


__all__ = ["AffectGPTConfig", "PLACEHOLDER_ID_FIELDS", "SUPPORTED_INPUT_MODES"]
