"""AffectGPT: frozen CLIP and HuBERT towers, pooling, audio-video pre-fusion and projectors in front of Qwen2.

Upstream math (my_affectgpt/models/affectgpt.py, `encode_*_attention`): per-modality attention pooling with raw linear
scores (no softmax), attention pre-fusion on the encoders' time-averaged features with raw fusion weights, one token
each for face/frame, audio and the fused "multi" signal, spliced into the placeholder slots of the prompt. All merging
happens in `AffectGPTModel.forward`, because TRL's fused LM head calls the backbone directly.
"""

from __future__ import annotations

import copy
import math
import os

import torch
from torch import nn
from transformers import (
    AutoModel,
    CLIPVisionModelWithProjection,
    GenerationMixin,
    PreTrainedModel,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep

from .configuration_affectgpt import AffectGPTConfig
from .prompt import AUDIO_TOKEN, MULTI_TOKEN

# Upstream's two-token stops besides eos and "###" (14374): "##" + "#" and "#" + "##" in Qwen2.5's vocabulary.
UPSTREAM_STOP_SEQUENCES = ((565, 2), (2, 565))
# AffectGPTModel's pooling, pre-fusion and projector modules in the order the model (and upstream) creates them, None
# where the input mode has no such token: the heads upstream trains fully, PEFT's `modules_to_save`, and what an
# upstream checkpoint fills.
HEAD_MODULES = ("video_pooler", "video_projector", "audio_pooler", "audio_projector", "av_fusion", "fusion_projector")
# `from_pretrained(quantization=...)`: the names `transformers serve --quantization` takes. Any quantization leaves
# these modules in the model's dtype: the frozen towers, the heads (small) and the LM head (as transformers keeps output
# embeddings), so only the language model's decoder is quantized.
QUANTIZATIONS = ("bnb-8bit", "bnb-4bit")
NOT_QUANTIZED = ("lm_head", "model.vision_tower", "model.audio_tower", *(f"model.{name}" for name in HEAD_MODULES))
# The language model's projections in each decoder layer that upstream adapts with LoRA (models/affectgpt.py).
LORA_MODULES = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)


def upstream_hidden_states(output, audio_config) -> tuple[torch.Tensor, ...]:
    """HuBERT's `hidden_states` as transformers 4.49 (upstream's pin) gave them.

    For a stable-layer-norm encoder (chinese-hubert-large is one) 4.49's last entry is the encoder output after its
    final LayerNorm (= `last_hidden_state`); transformers 5 returns the last layer's output before that norm. A
    post-norm encoder has no final norm, and both versions agree.
    """
    states = output.hidden_states
    if getattr(audio_config, "do_stable_layer_norm", False):
        states = (*states[:-1], output.last_hidden_state)
    return states


class AffectGPTAttentionPooling(nn.Module):
    """One linear score per time step; the token is the score-weighted sum (raw scores upstream, softmax optional)."""

    def __init__(self, dim: int, softmax: bool):
        super().__init__()
        self.score = nn.Linear(dim, 1)
        self.softmax = softmax

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        scores = self.score(features)  # [B, T, 1]
        if self.softmax:
            scores = scores.softmax(dim=1)
        return torch.matmul(features.transpose(1, 2), scores).squeeze(-1)  # [B, D]


class AffectGPTQFormerAttention(nn.Module):
    """BERT attention block of the BLIP-2 Q-Former: self- or cross-attention, then dense + residual LayerNorm."""

    def __init__(self, config: AffectGPTConfig, kv_dim: int):
        super().__init__()
        hidden = config.qformer_hidden_size
        self.num_heads = config.qformer_num_heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(kv_dim, hidden)
        self.value = nn.Linear(kv_dim, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=config.qformer_layer_norm_eps)
        self.dropout = nn.Dropout(config.qformer_dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.num_heads, width // self.num_heads).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        query, key, value = (
            self._heads(self.query(hidden)),
            self._heads(self.key(context)),
            self._heads(self.value(context)),
        )
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(query.shape[-1])
        attended = torch.matmul(self.dropout(scores.softmax(dim=-1)), value)
        attended = attended.transpose(1, 2).reshape(hidden.shape)
        return self.norm(self.dropout(self.dense(attended)) + hidden)


class AffectGPTQFormerLayer(nn.Module):
    """Query self-attention, cross-attention to the encoder states, then the query feed-forward (no text branch)."""

    def __init__(self, config: AffectGPTConfig, encoder_dim: int):
        super().__init__()
        hidden = config.qformer_hidden_size
        self.self_attention = AffectGPTQFormerAttention(config, hidden)
        self.cross_attention = AffectGPTQFormerAttention(config, encoder_dim)
        self.intermediate = nn.Linear(hidden, config.qformer_intermediate_size)
        self.output = nn.Linear(config.qformer_intermediate_size, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=config.qformer_layer_norm_eps)
        self.dropout = nn.Dropout(config.qformer_dropout)

    def forward(self, queries: torch.Tensor, encoder_states: torch.Tensor) -> torch.Tensor:
        queries = self.self_attention(queries, queries)
        queries = self.cross_attention(queries, encoder_states)
        expanded = nn.functional.gelu(self.intermediate(queries))
        return self.output_norm(self.dropout(self.output(expanded)) + queries)


class AffectGPTQFormer(nn.Module):
    """Learned queries read a feature sequence (plus learned positions) through a 2-layer Q-Former -> [B, K, 768]."""

    def __init__(self, config: AffectGPTConfig, encoder_dim: int, num_positions: int, num_queries: int):
        super().__init__()
        self.query_tokens = nn.Parameter(torch.zeros(1, num_queries, config.qformer_hidden_size))
        self.position_embedding = nn.Embedding(num_positions, encoder_dim)
        self.embed_norm = nn.LayerNorm(config.qformer_hidden_size, eps=config.qformer_layer_norm_eps)
        self.dropout = nn.Dropout(config.qformer_dropout)
        self.layers = nn.ModuleList(
            [AffectGPTQFormerLayer(config, encoder_dim) for _ in range(config.qformer_num_layers)]
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(features.shape[1], device=features.device)
        encoder_states = features + self.position_embedding(positions)
        queries = self.dropout(self.embed_norm(self.query_tokens.expand(features.shape[0], -1, -1)))
        for layer in self.layers:
            queries = layer(queries, encoder_states)
        return queries


class AffectGPTAttentionFusion(nn.Module):
    """Pre-fusion: time-averaged video and audio features projected to a shared width, mixed by two raw weights."""

    def __init__(self, config: AffectGPTConfig):
        super().__init__()
        width = config.fusion_hidden_size
        self.video_in = nn.Linear(config.vision_config.projection_dim, width)
        self.audio_in = nn.Linear(config.audio_config.hidden_size, width)
        self.hidden = nn.Linear(2 * width, width)
        self.weights = nn.Linear(width, 2)
        self.softmax = config.softmax_attention_weights

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        video, audio = self.video_in(video.mean(dim=1)), self.audio_in(audio.mean(dim=1))
        weights = self.weights(self.hidden(torch.cat([video, audio], dim=-1)))  # [B, 2]
        if self.softmax:
            weights = weights.softmax(dim=-1)
        stacked = torch.stack([video, audio], dim=2)  # [B, width, 2]
        return torch.matmul(stacked, weights.unsqueeze(-1)).squeeze(-1)[:, None]  # [B, 1, width]


class AffectGPTQFormerFusion(nn.Module):
    """Q-Former pre-fusion: both feature sequences projected to the shared width, concatenated in time, queried."""

    def __init__(self, config: AffectGPTConfig):
        super().__init__()
        width = config.fusion_hidden_size
        self.video_in = nn.Linear(config.vision_config.projection_dim, width)
        self.audio_in = nn.Linear(config.audio_config.hidden_size, width)
        self.qformer = AffectGPTQFormer(config, width, config.fusion_position_embeddings, config.num_multi_query_tokens)

    def forward(self, video: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.qformer(torch.cat([self.video_in(video), self.audio_in(audio)], dim=1))


class AffectGPTPreTrainedModel(PreTrainedModel):
    config: AffectGPTConfig
    config_class = AffectGPTConfig
    base_model_prefix = "model"
    input_modalities = ("text", "video", "audio")
    supports_gradient_checkpointing = True
    _no_split_modules = [
        "Qwen2DecoderLayer",
        "CLIPEncoderLayer",
        "HubertEncoderLayerStableLayerNorm",
        "HubertEncoderLayer",
    ]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def _init_weights(self, module: nn.Module) -> None:
        """Heads start as upstream's: PyTorch's default Linear init; Q-Former queries and internals BERT-style."""
        if isinstance(module, AffectGPTQFormer):
            init.normal_(module.query_tokens, mean=0.0, std=self.config.qformer_initializer_range)
            init.normal_(module.position_embedding.weight, mean=0.0, std=1.0)
        elif isinstance(module, nn.Linear) and _is_head_module(self, module):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1])
                init.uniform_(module.bias, -bound, bound)
        else:
            super()._init_weights(module)


def _is_head_module(model: nn.Module, module: nn.Module) -> bool:
    heads = getattr(model, "model", model)
    return any(module is head for head in getattr(heads, "_head_linears", lambda: ())())


class AffectGPTModel(AffectGPTPreTrainedModel):
    """Towers, pooling, fusion and projectors around the Qwen2 backbone; returns the backbone's `last_hidden_state`."""

    def __init__(self, config: AffectGPTConfig):
        super().__init__(config)
        width = config.text_config.hidden_size
        self.vision_tower = (
            CLIPVisionModelWithProjection._from_config(config.vision_config) if config.uses_video else None
        )
        self.audio_tower = AutoModel.from_config(config.audio_config) if config.uses_audio else None
        tokens = config.modality_tokens
        video_dim, audio_dim = config.vision_config.projection_dim, config.audio_config.hidden_size
        self.video_pooler = self.video_projector = self.audio_pooler = self.audio_projector = None
        if config.visual_token in tokens:
            self.video_pooler = self._pooler(config.video_pooling, video_dim, 32, config.num_video_query_tokens)
            self.video_projector = nn.Linear(self._pooled_dim(config.video_pooling, video_dim), width)
        if AUDIO_TOKEN in tokens:
            self.audio_pooler = self._pooler(config.audio_pooling, audio_dim, 8, config.num_audio_query_tokens)
            self.audio_projector = nn.Linear(self._pooled_dim(config.audio_pooling, audio_dim), width)
        self.av_fusion = self.fusion_projector = None
        if config.uses_multi:
            qformer = config.fusion == "qformer"
            self.av_fusion = AffectGPTQFormerFusion(config) if qformer else AffectGPTAttentionFusion(config)
            self.fusion_projector = nn.Linear(
                config.qformer_hidden_size if qformer else config.fusion_hidden_size, width
            )
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()
        self.freeze_towers()

    def _pooler(self, kind: str, dim: int, positions: int, queries: int) -> nn.Module | None:
        if kind == "attention":
            return AffectGPTAttentionPooling(dim, self.config.softmax_attention_weights)
        if kind == "qformer":
            return AffectGPTQFormer(self.config, dim, positions, queries)
        return None  # mean pooling has no parameters

    def _pooled_dim(self, kind: str, dim: int) -> int:
        return self.config.qformer_hidden_size if kind == "qformer" else dim

    def _head_linears(self):
        for name in HEAD_MODULES:
            module = getattr(self, name, None)
            if module is not None:
                yield from (m for m in module.modules() if isinstance(m, nn.Linear))

    def freeze_towers(self) -> None:
        """The encoders are frozen and kept in eval mode (deterministic features, as the feature cache assumes)."""
        for tower in (self.vision_tower, self.audio_tower):
            if tower is not None:
                tower.requires_grad_(False)
                tower.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        for tower in (self.vision_tower, self.audio_tower):
            if tower is not None:
                tower.eval()
        return self

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_video_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """Frozen CLIP image features per frame: [B, T, 3, H, W] -> [B, T, projection_dim] (before pooling)."""
        if self.vision_tower is None:
            raise ValueError(f"input_mode {self.config.input_mode!r} has no visual input, so there is no vision tower")
        batch, frames = pixel_values_videos.shape[:2]
        pixels = pixel_values_videos.flatten(0, 1).to(self.vision_tower.dtype)
        features = self.vision_tower(pixel_values=pixels).image_embeds
        return features.view(batch, frames, -1)

    def get_audio_features(self, input_values: torch.Tensor) -> torch.Tensor:
        """Frozen HuBERT features per clip: mean of the last 4 hidden states, then over time: [B, N, S] -> [B, N, H].

        The hidden states are those upstream's transformers 4.49 returned (see `upstream_hidden_states`).
        """
        if self.audio_tower is None:
            raise ValueError(f"input_mode {self.config.input_mode!r} has no audio input, so there is no audio tower")
        batch, clips = input_values.shape[:2]
        output = self.audio_tower(input_values.flatten(0, 1).to(self.audio_tower.dtype), output_hidden_states=True)
        states = upstream_hidden_states(output, self.audio_tower.config)
        layers = torch.stack(states[-self.config.audio_feature_layers :]).mean(dim=0)
        return layers.mean(dim=1).view(batch, clips, -1)

    def _pool(self, pooler: nn.Module | None, features: torch.Tensor, num_tokens: int) -> torch.Tensor:
        if isinstance(pooler, AffectGPTQFormer):
            return pooler(features)
        pooled = pooler(features) if pooler is not None else features.mean(dim=1)
        return pooled[:, None].expand(-1, num_tokens, -1)

    def get_placeholder_mask(self, input_ids: torch.Tensor, token_id: int, name: str, tokens_per_sample: int):
        """Positions of one placeholder; every sample must hold exactly `tokens_per_sample` of them."""
        mask = input_ids == token_id
        counts = mask.sum(dim=1)
        if not bool((counts == tokens_per_sample).all()):
            raise ValueError(
                f"input_ids hold {counts.tolist()} {name} tokens per sample, but the features give {tokens_per_sample} "
                f"per sample; build prompts with the processor of this model"
            )
        return mask

    def _merge_modalities(
        self, input_ids, inputs_embeds, pixel_values_videos, input_values, video_features, audio_features
    ):
        """Put the modality tokens into the placeholder slots of `inputs_embeds`: encoder features, then pooled and
        projected tokens, then the scatter."""
        present = self._present_placeholders(input_ids)
        if not present:
            return inputs_embeds  # decode steps: the modality tokens were merged at prefill
        video_features, audio_features = self._encoder_features(
            present, pixel_values_videos, input_values, video_features, audio_features
        )
        modality_tokens = self._modality_tokens(present, video_features, audio_features, inputs_embeds.dtype)
        return self._scatter_modality_tokens(input_ids, inputs_embeds, modality_tokens)

    def _present_placeholders(self, input_ids: torch.Tensor) -> set[str]:
        """The input mode's placeholder tokens that occur in `input_ids`."""
        config = self.config
        return {token for token in config.modality_tokens if (input_ids == config.placeholder_id(token)).any()}

    def _encoder_features(self, present, pixel_values_videos, input_values, video_features, audio_features):
        """The video and audio features the present placeholders need: those given, else the towers' on the media."""
        config = self.config
        if video_features is None and (config.visual_token in present or MULTI_TOKEN in present):
            if pixel_values_videos is None:
                raise ValueError(
                    f"input_ids hold {config.visual_token} but neither pixel_values_videos nor video_features was given"
                )
            video_features = self.get_video_features(pixel_values_videos)
        if audio_features is None and (AUDIO_TOKEN in present or MULTI_TOKEN in present):
            if input_values is None:
                raise ValueError(
                    "input_ids hold <AudioHere> or <MultiHere> but neither input_values nor audio_features was given"
                )
            audio_features = self.get_audio_features(input_values)
        return video_features, audio_features

    def _modality_tokens(self, present, video_features, audio_features, dtype) -> dict[str, torch.Tensor]:
        """Pool and project each present modality (pre-fuse audio and video for `<MultiHere>`): placeholder ->
        [B, K, width] with K its query tokens."""
        config = self.config
        tokens = {}
        if config.visual_token in present:
            pooled = self._pool(self.video_pooler, video_features.to(dtype), config.num_video_query_tokens)
            tokens[config.visual_token] = self.video_projector(pooled)
        if AUDIO_TOKEN in present:
            pooled = self._pool(self.audio_pooler, audio_features.to(dtype), config.num_audio_query_tokens)
            tokens[AUDIO_TOKEN] = self.audio_projector(pooled)
        if MULTI_TOKEN in present:
            fused = self.fusion_projector(self.av_fusion(video_features.to(dtype), audio_features.to(dtype)))
            tokens[MULTI_TOKEN] = fused.expand(-1, config.num_multi_query_tokens, -1) if fused.shape[1] == 1 else fused
        return tokens

    def _scatter_modality_tokens(self, input_ids, inputs_embeds, modality_tokens: dict[str, torch.Tensor]):
        """`masked_scatter` each placeholder's tokens into its positions, after checking the counts per sample."""
        for token, values in modality_tokens.items():
            mask = self.get_placeholder_mask(input_ids, self.config.placeholder_id(token), token, values.shape[1])
            if values.shape[0] != input_ids.shape[0]:
                raise ValueError(
                    f"{token} features cover {values.shape[0]} samples but input_ids has {input_ids.shape[0]} rows"
                )
            inputs_embeds = inputs_embeds.masked_scatter(
                mask.unsqueeze(-1).to(inputs_embeds.device), values.to(inputs_embeds.device, inputs_embeds.dtype)
            )
        return inputs_embeds

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        input_values: torch.Tensor | None = None,
        video_features: torch.Tensor | None = None,
        audio_features: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        """`pixel_values_videos` [B,8,3,224,224] (faces or frames by input_mode) and `input_values` [B,8,32000], or the
        towers' outputs `video_features` [B,8,768] / `audio_features` [B,8,1024] (see get_*_features) instead."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            placeholder_ids = torch.tensor(self.config.placeholder_ids, device=input_ids.device)
            text_ids = input_ids.masked_fill(torch.isin(input_ids, placeholder_ids), 0)
            inputs_embeds = self.get_input_embeddings()(text_ids)
            inputs_embeds = self._merge_modalities(
                input_ids, inputs_embeds, pixel_values_videos, input_values, video_features, audio_features
            )
        return self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
            **kwargs,
        )


class StopOnTokenSequences(StoppingCriteria):
    """Marks a row done when its last tokens equal one of the sequences (upstream's "#"/"##" stops, batched)."""

    def __init__(self, sequences):
        self.sequences = [torch.tensor(seq) for seq in sequences]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for seq in self.sequences:
            if input_ids.shape[1] >= len(seq):
                done |= (input_ids[:, -len(seq) :] == seq.to(input_ids.device)).all(dim=1)
        return done


class AffectGPTForConditionalGeneration(AffectGPTPreTrainedModel, GenerationMixin):
    """AffectGPTModel + a top-level `lm_head` (the layout TRL's SFTTrainer and PEFT expect)."""

    _tied_weights_keys = {}

    def __init__(self, config: AffectGPTConfig):
        super().__init__(config)
        self.model = AffectGPTModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as transformers does, with the custom pipeline registered in the config (``custom_pipelines``), so
        ``pipeline(model=FOLDER, trust_remote_code=True)`` works; the import below makes transformers copy
        pipeline_affectgpt.py (and speech.py, which it imports) beside this file."""
        from .pipeline_affectgpt import custom_pipelines

        self.config.custom_pipelines = custom_pipelines()
        return super().save_pretrained(save_directory, *args, **kwargs)

    def get_video_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        return self.model.get_video_features(pixel_values_videos)

    def get_audio_features(self, input_values: torch.Tensor) -> torch.Tensor:
        return self.model.get_audio_features(input_values)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        input_values: torch.Tensor | None = None,
        video_features: torch.Tensor | None = None,
        audio_features: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        r"""Logits (and the loss with `labels`) of the prompt with its modality tokens in the placeholder slots.

        Shapes for the released models (B samples, L tokens; frames, clips and widths come from the config):

        Args:
            input_ids (`torch.LongTensor` of shape `[B, L]`): the processor's ids; each sample holds the input mode's
                placeholders (`<FaceHere>` or `<FrameHere>`, `<AudioHere>`, `<MultiHere>`), whose embeddings are
                replaced by the modality tokens. Pass this or `inputs_embeds`.
            attention_mask (`torch.Tensor` of shape `[B, L]`): 1 for tokens, 0 for padding.
            position_ids (`torch.LongTensor` of shape `[B, L]`, *optional*): positions for the language model.
            cache (`Cache`, *optional*): the language model's key/value cache from earlier steps (generation).
            inputs_embeds (`torch.Tensor` of shape `[B, L, hidden_size]`, *optional*): embeddings used as they are;
                nothing is merged into them.
            pixel_values_videos (`torch.Tensor` of shape `[B, 8, 3, 224, 224]`): the sampled faces or frames (by
                `input_mode`), normalised by the image processor; read by the vision tower at prefill.
            input_values (`torch.Tensor` of shape `[B, 8, 32000]`): 8 audio clips of 2 s at 16 kHz each, normalised
                by the feature extractor; read by the audio tower at prefill.
            video_features (`torch.Tensor` of shape `[B, 8, 768]`, *optional*): the vision tower's output
                (`get_video_features`, before pooling) in place of `pixel_values_videos`.
            audio_features (`torch.Tensor` of shape `[B, 8, 1024]`, *optional*): the audio tower's output
                (`get_audio_features`, before pooling) in place of `input_values`.
            labels (`torch.LongTensor` of shape `[B, L]`, *optional*): target ids aligned with `input_ids` (shifted
                inside the loss); -100 marks positions without loss (bos, prompt and padding in training).
            use_cache (`bool`, *optional*): return the key/value cache.
            logits_to_keep (`int` or `torch.Tensor`): compute logits for the last N positions only (0: all), for
                the positions a 1-D tensor lists, or for the `True` positions of a `[B, L]` boolean mask (logits
                flattened to `[N, vocab_size]`), as transformers' `slice_logits_to_keep`.
            **kwargs: passed to the language model and the loss (e.g. `num_items_in_batch`).

        Returns:
            `CausalLMOutputWithPast`: `loss` (a scalar, with `labels`), `logits` `[B, L, vocab_size]` (fewer positions
            with `logits_to_keep`), `cache`, and the language model's `hidden_states` / `attentions` when asked for.
        """
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            pixel_values_videos=pixel_values_videos,
            input_values=input_values,
            video_features=video_features,
            audio_features=audio_features,
            use_cache=use_cache,
            **kwargs,
        )
        hidden_states = slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep)
        logits = self.lm_head(hidden_states)
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs
            )
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    def generate(self, *args, stopping_criteria: StoppingCriteriaList | None = None, **kwargs):
        """`GenerationMixin.generate` plus upstream's default "#"/"##" two-token stops (eos and "###" come from the
        generation config's eos ids)."""
        criteria = StoppingCriteriaList(stopping_criteria or [])
        if not any(isinstance(c, StopOnTokenSequences) for c in criteria):
            criteria.append(StopOnTokenSequences(UPSTREAM_STOP_SEQUENCES))
        return super().generate(*args, stopping_criteria=criteria, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, quantization: str | None = None, **kwargs):
        """`PreTrainedModel.from_pretrained`, plus ``quantization="bnb-8bit"|"bnb-4bit"`` (bitsandbytes): only the
        language model's decoder is quantized (:func:`llm_only_quantization_config`); a ``quantization_config`` passed
        instead gets the same modules left out unless it names its own."""
        given = kwargs.get("quantization_config")
        if quantization is not None and given is not None:
            raise ValueError("pass quantization= (a name) or quantization_config= (a config), not both")
        if quantization is not None or (given is not None and not isinstance(given, dict)):
            kwargs["quantization_config"] = llm_only_quantization_config(quantization or given)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)

    @classmethod
    def from_components(
        cls,
        llm: str | os.PathLike,
        vision: str | os.PathLike | None = None,
        audio: str | os.PathLike | None = None,
        dtype: torch.dtype | str | None = None,
        **settings,
    ) -> AffectGPTForConditionalGeneration:
        """Assemble a model from pretrained components (Hub ids or folders): a causal LM (Qwen2.5), a CLIP checkpoint
        and a HuBERT checkpoint; the AffectGPT heads start fresh. `settings` are AffectGPTConfig fields."""
        from transformers import AutoModelForCausalLM

        load = {"dtype": dtype} if dtype is not None else {}
        causal_lm = AutoModelForCausalLM.from_pretrained(llm, **load)
        config_kwargs = dict(settings, text_config=causal_lm.config.to_dict())
        vision_model = audio_model = None
        if vision is not None:
            vision_model = CLIPVisionModelWithProjection.from_pretrained(vision, **load)
            config_kwargs["vision_config"] = vision_model.config.to_dict()
        if audio is not None:
            audio_model = AutoModel.from_pretrained(audio, **load)
            config_kwargs["audio_config"] = audio_model.config.to_dict()
        config = AffectGPTConfig(**config_kwargs)
        for name, component in (("vision", vision_model), ("audio", audio_model)):
            needed = config.uses_video if name == "vision" else config.uses_audio
            if needed and component is None:
                raise ValueError(f"input_mode {config.input_mode!r} needs a {name} component: pass {name}=ID_OR_FOLDER")
        with torch.device("meta"):
            model = cls(config)
        model.model.language_model = causal_lm.model
        model.lm_head = causal_lm.lm_head
        if vision_model is not None:
            model.model.vision_tower = vision_model
        if audio_model is not None:
            model.model.audio_tower = audio_model
        target = causal_lm.lm_head.weight
        for name in HEAD_MODULES:
            module = getattr(model.model, name)
            if module is not None:
                module.to_empty(device=target.device)
                for sub in module.modules():
                    model._init_weights(sub)
                module.to(target.dtype)
        model.model.freeze_towers()
        return model


def llm_only_quantization_config(quantization):
    """``"bnb-8bit"`` / ``"bnb-4bit"`` or a transformers quantization config -> one that quantizes the language model's
    decoder only: `NOT_QUANTIZED` (towers, poolers, fusion, projectors, LM head) stays in the model's dtype. The names
    build the configs `transformers serve` builds (8-bit LLM.int8; 4-bit NF4 with double quantization); a config that
    names its own modules to skip is kept as given."""
    from transformers import BitsAndBytesConfig

    if isinstance(quantization, str):
        if quantization == "bnb-8bit":
            config = BitsAndBytesConfig(load_in_8bit=True)
        elif quantization == "bnb-4bit":
            config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)
        else:
            raise ValueError(f"quantization {quantization!r} is unknown; expected one of {', '.join(QUANTIZATIONS)}")
    else:
        config = copy.deepcopy(quantization)
    for skip in ("llm_int8_skip_modules", "modules_to_not_convert"):  # bitsandbytes' name, and the other quantizers'
        if hasattr(config, skip) and getattr(config, skip) is None:
            setattr(config, skip, list(NOT_QUANTIZED))
    return config


__all__ = [
    "HEAD_MODULES",
    "LORA_MODULES",
    "NOT_QUANTIZED",
    "QUANTIZATIONS",
    "llm_only_quantization_config",
    "AffectGPTPreTrainedModel",
    "AffectGPTModel",
    "AffectGPTForConditionalGeneration",
]
