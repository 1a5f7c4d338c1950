"""The golden recipe shared by upstream's harness (transformers 4.49 venv) and our test (transformers 5 venv).

Everything random here is a pure function of a name and a seed (torch's CPU generator, no global state), so both
stacks build bit-identical tiny components and inputs without storing weights: every tensor of a component is filled
by `fill_module` from sha256(seed, tensor name) and rounded through fp16 (upstream loads its LLM in fp16, then
`model.float()`, so only fp16-exact values survive both stacks unchanged). Needs only torch, numpy and the stdlib.
"""

from __future__ import annotations

import hashlib
import json
import math
import wave
from pathlib import Path

import numpy as np
import torch

SEED = 20250712
UPSTREAM_COMMIT = "fffca79"
NUM_FRAMES = 8
FACE_COUNT, FACE_SIZE = 12, 112  # OpenFace crops as upstream stores them: (N, 112, 112, 3) uint8, BGR
WAV_SECONDS, SAMPLE_RATE = 5, 16000
SUBTITLE = "I told you already, I am not going back there."
OV_LABELS = "worried, anxious"  # upstream's ovlabel string (", ".join of the openset)
DESCRIPTION = "The person frowns and speaks quickly; the subtitle suggests worry about going back."
MAX_NEW_TOKENS = 24
LORA_R = 16

# Tiny components: the real Qwen2.5 vocabulary and upstream's encoder families at small widths.
CLIP_CONFIG = {
    "projection_dim": 48,
    "vision_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 224,
        "patch_size": 32,
        "hidden_act": "quick_gelu",
        "projection_dim": 48,  # real CLIP folders repeat it here; CLIPVisionConfig reads it from here
    },
    "text_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "vocab_size": 99,
        "max_position_embeddings": 16,
    },
}
HUBERT_CONFIG = {  # stable layer norm, as chinese-hubert-large
    "hidden_size": 32,
    "num_hidden_layers": 5,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [16] * 7,
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "do_stable_layer_norm": True,
    "feat_extract_norm": "layer",
    "conv_bias": True,
    "vocab_size": 32,
}
QWEN2_CONFIG = {  # Qwen2.5-7B-Instruct's vocabulary, rope and norms at toy widths
    "vocab_size": 152064,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-06,
    "tie_word_embeddings": False,
    "use_sliding_window": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "hidden_act": "silu",
}
QWEN_GENERATION_CONFIG = {  # Qwen2.5-7B-Instruct's generation_config.json
    "bos_token_id": 151643,
    "pad_token_id": 151643,
    "do_sample": True,
    "eos_token_id": [151645, 151643],
    "repetition_penalty": 1.05,
    "temperature": 0.7,
    "top_p": 0.8,
    "top_k": 20,
}
FEATURE_EXTRACTOR = {  # chinese-hubert-large's preprocessor_config.json
    "do_normalize": True,
    "feature_extractor_type": "Wav2Vec2FeatureExtractor",
    "feature_size": 1,
    "padding_side": "right",
    "padding_value": 0,
    "return_attention_mask": True,
    "sampling_rate": 16000,
}
IMAGE_PROCESSOR = {  # clip-vit-large-patch14's preprocessor_config.json
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": 224,
}

# The variants: upstream's yaml (face or frame model) and model.* overrides -> our hub_configs base and its overrides.
VARIANTS = {
    "face": {
        "yaml": "emercoarse_highlevelfilter4_outputhybird_bestsetup_bestfusion_lz.yaml",
        "options": {},
        "base": "affectgpt-qwen2.5-7b",
        "ours": {},
    },
    "frame": {
        "yaml": "mercaptionplus_outputhybird_bestsetup_bestfusion_frame_lz.yaml",
        "options": {},
        "base": "affectgpt-qwen2.5-7b-frame",
        "ours": {},
    },
    "qformer_fusion": {
        "yaml": "emercoarse_highlevelfilter4_outputhybird_bestsetup_bestfusion_lz.yaml",
        "options": {"multi_fusion_type": "qformer"},
        "base": "affectgpt-qwen2.5-7b",
        "ours": {"fusion": "qformer"},
    },
    "qformer_pooling": {
        "yaml": "emercoarse_highlevelfilter4_outputhybird_bestsetup_bestfusion_lz.yaml",
        "options": {"video_fusion_type": "qformer", "audio_fusion_type": "qformer"},
        "base": "affectgpt-qwen2.5-7b",
        "ours": {"video_pooling": "qformer", "audio_pooling": "qformer"},
    },
}
TASKS = ("ov_labels", "description")


def _seed_of(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}\x1f{name}".encode()).digest()[:8], "big") % (2**63)


def fill_value(name: str, shape: tuple[int, ...], seed: int = SEED) -> torch.Tensor:
    """The value of one tensor: norms' weights near 1, biases small, matrices ~ N(0, 1/fan_in); fp16-exact fp32."""
    g = torch.Generator().manual_seed(_seed_of(seed, name))
    noise = torch.randn(shape, generator=g, dtype=torch.float32)
    leaf = name.rsplit(".", 1)[-1]
    lowered = name.lower()
    is_norm = any(key in lowered for key in ("norm", "ln_", "layernorm", "layer_norm")) or "original0" in name
    if len(shape) <= 1 and is_norm and leaf in ("weight", "original0"):
        value = 1.0 + 0.1 * noise
    elif len(shape) <= 1:
        value = 0.1 * noise
    elif "embed" in lowered or "query_tokens" in lowered or "class_embedding" in lowered:
        value = 0.5 * noise
    else:
        fan_in = math.prod(shape[1:])
        value = noise / math.sqrt(fan_in)
    return value.half().float()


@torch.no_grad()
def fill_module(module: torch.nn.Module, prefix: str, seed: int = SEED, names=None) -> list[str]:
    """Overwrite every parameter (or those in `names`) of `module` by `fill_value(prefix + name)`; returns the names."""
    done = []
    for name, param in module.named_parameters():
        if names is not None and name not in names:
            continue
        param.copy_(fill_value(f"{prefix}.{name}", tuple(param.shape), seed).to(param.dtype))
        done.append(name)
    return done


def face_crops(seed: int = SEED) -> np.ndarray:
    """(FACE_COUNT, 112, 112, 3) uint8 face crops (smooth blobs plus noise)."""
    g = torch.Generator().manual_seed(_seed_of(seed, "faces"))
    base = torch.randint(0, 256, (FACE_COUNT, 14, 14, 3), generator=g, dtype=torch.int64)
    big = base.repeat_interleave(8, dim=1).repeat_interleave(8, dim=2)
    noise = torch.randint(-20, 21, big.shape, generator=g, dtype=torch.int64)
    return (big + noise).clamp(0, 255).to(torch.uint8).numpy()


def video_frames(seed: int = SEED) -> np.ndarray:
    """(8, 224, 224, 3) uint8 RGB frames: what decord hands upstream at width=height=224 (decoding left out)."""
    g = torch.Generator().manual_seed(_seed_of(seed, "frames"))
    base = torch.randint(0, 256, (NUM_FRAMES, 28, 28, 3), generator=g, dtype=torch.int64)
    big = base.repeat_interleave(8, dim=1).repeat_interleave(8, dim=2)
    noise = torch.randint(-12, 13, big.shape, generator=g, dtype=torch.int64)
    return (big + noise).clamp(0, 255).to(torch.uint8).numpy()


def wav_samples(seed: int = SEED) -> np.ndarray:
    """WAV_SECONDS of 16 kHz int16 audio: a two-tone chord computed in integers, plus seeded noise."""
    g = torch.Generator().manual_seed(_seed_of(seed, "wav"))
    n = WAV_SECONDS * SAMPLE_RATE
    t = torch.arange(n, dtype=torch.int64)
    # Triangle waves from integer arithmetic (no libm): exact on every platform.
    tri1 = (t * 220 * 4 * 4096 // SAMPLE_RATE) % (4 * 4096)
    tri1 = torch.where(tri1 < 2 * 4096, tri1 - 4096, 3 * 4096 - tri1)
    tri2 = (t * 331 * 4 * 4096 // SAMPLE_RATE) % (4 * 4096)
    tri2 = torch.where(tri2 < 2 * 4096, tri2 - 4096, 3 * 4096 - tri2)
    noise = torch.randint(-1500, 1501, (n,), generator=g, dtype=torch.int64)
    return (tri1 + tri2 // 2 + noise).clamp(-32768, 32767).to(torch.int16).numpy()


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """16-bit mono PCM WAV through the stdlib (byte-identical on every stack)."""
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(samples.astype("<i2").tobytes())
    return path


def sha256_array(array) -> str:
    """sha256 of an array's dtype, shape and little-endian bytes."""
    arr = np.ascontiguousarray(np.asarray(array))
    header = json.dumps([str(arr.dtype), list(arr.shape)]).encode()
    return hashlib.sha256(header + arr.tobytes()).hexdigest()


def state_digest(state: dict) -> str:
    """One sha256 over a state dict's sorted keys, dtypes, shapes and values."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(key.encode() + b"\x1f")
        digest.update(sha256_array(tensor.numpy()).encode())
    return digest.hexdigest()


# Compact logits: where positions are kept whole (as a fixed vocabulary subset) and how many top entries elsewhere.
TOP_K = 8
ROW_SUBSET = 2048


def row_subset_ids(vocab_size: int, seed: int = SEED) -> np.ndarray:
    g = torch.Generator().manual_seed(_seed_of(seed, "row-subset"))
    return torch.randperm(vocab_size, generator=g)[:ROW_SUBSET].sort().values.numpy()


def compact_logits(logits: torch.Tensor, labels: torch.Tensor, seed: int = SEED) -> dict[str, np.ndarray]:
    """[T, V] logits -> per position: logsumexp, top-k ids and values; at the first, a middle and the last supervised
    positions, a fixed subset of ROW_SUBSET vocabulary entries; and the row sums (a checksum of every entry)."""
    logits = logits.detach().double()
    top = logits.topk(TOP_K, dim=-1)
    supervised = (labels[1:] != -100).nonzero().flatten()  # logits at t predict labels at t + 1
    picks = sorted({int(supervised[0]), int(supervised[len(supervised) // 2]), int(supervised[-1])})
    subset = row_subset_ids(logits.shape[-1], seed)
    return {
        "logsumexp": logits.logsumexp(-1).float().numpy(),
        "row_sum": logits.sum(-1).float().numpy(),
        "top_ids": top.indices.int().numpy(),
        "top_values": top.values.float().numpy(),
        "row_positions": np.array(picks, dtype=np.int32),
        "rows": logits[picks][:, subset].float().numpy(),
    }
