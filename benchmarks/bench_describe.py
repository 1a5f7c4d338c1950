"""Throughput of inference.describe (the path behind `affectgpt describe`, the benchmark runner and the Space):
clips/s at batch 1 and batch 8, measured side by side in one run (no asserts), on

  (a) the tiny config (hub_configs/tiny, ~1M parameters), and
  (b) a ~100M-parameter config built from variants.variant_config("tiny") with larger towers and LLM (random weights).

Each clip: 8 frames + 8 audio clips decoded from a generated mp4 (PyAV), the OV prompt, then exactly
``--new-tokens`` generated tokens (min_new_tokens = max_new_tokens, so every batch does the same work; random weights
would otherwise stop at arbitrary points). Preprocessing is included, as in a real run.

    .venv/bin/python benchmarks/bench_describe.py [--clips 16] [--new-tokens 32] [--device cpu] [--dtype float32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from affectgpt_hf import AffectGPTForConditionalGeneration
from affectgpt_hf.inference import Clip, describe
from affectgpt_hf.media import write_video
from affectgpt_hf.variants import TINY, TINY_RANKS, generation_config, variant_config, variant_processor

# ~100M parameters: CLIP-like vision 384 x 6, HuBERT-like audio 384 x 4, Qwen2-like LLM 768 x 8 (tiny vocabulary).
MEDIUM = {
    "vision_config": {**TINY["vision_config"], "hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6,
                      "num_attention_heads": 6, "projection_dim": 512},
    "audio_config": {**TINY["audio_config"], "hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 4,
                     "num_attention_heads": 6, "conv_dim": [256] * 7},
    "text_config": {**TINY["text_config"], "hidden_size": 768, "intermediate_size": 2816, "num_hidden_layers": 8,
                    "num_attention_heads": 12, "num_key_value_heads": 2},
}  # fmt: skip


def build(name: str, device: str, dtype: torch.dtype) -> AffectGPTForConditionalGeneration:
    torch.manual_seed(0)
    config = variant_config("tiny", **(MEDIUM if name == "medium" else {}))
    model = AffectGPTForConditionalGeneration(config).eval().to(device, dtype)
    model.generation_config = generation_config(TINY_RANKS)
    return model


def make_clips(folder: Path, count: int) -> list[Clip]:
    clips = []
    rng = np.random.default_rng(0)
    for i in range(count):
        seconds = 2.0 + (i % 4)  # different lengths: different prompt lengths are not an issue, media are
        frames = rng.integers(0, 255, size=(int(seconds * 10), 96, 128, 3), dtype=np.uint8)
        t = np.arange(int(seconds * 16000)) / 16000
        audio = (0.3 * np.sin(2 * np.pi * (200 + 30 * i) * t)).astype(np.float32)
        path = folder / f"clip{i}.mp4"
        write_video(path, frames, fps=10, audio=audio, sampling_rate=16000)
        subtitle = " ".join(["I told you already, and I will not say it again."] * (1 + i % 3))
        clips.append(Clip(f"clip{i}", video=str(path), subtitle=subtitle))
    return clips


def clips_per_second(model, processor, clips, batch_size: int, new_tokens: int) -> float:
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, progress=False)
    describe(model, processor, clips[:batch_size], batch_size=batch_size, **kwargs)  # warm-up
    started = time.perf_counter()
    results = describe(model, processor, clips, batch_size=batch_size, **kwargs)
    elapsed = time.perf_counter() - started
    assert all(r.error is None for r in results)
    return len(clips) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--configs", nargs="+", default=["tiny", "medium"])
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    processor = variant_processor("tiny")
    print(f"device {args.device}, dtype {args.dtype}, torch threads {torch.get_num_threads()}, "
          f"{args.clips} clips, {args.new_tokens} new tokens each")  # fmt: skip
    print(f"{'config':8} {'params':>9} {'batch 1':>12} {'batch 8':>12} {'8 / 1':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(tmp), args.clips)
        for name in args.configs:
            model = build(name, args.device, dtype)
            params = sum(p.numel() for p in model.parameters())
            one = clips_per_second(model, processor, clips, 1, args.new_tokens)
            eight = clips_per_second(model, processor, clips, 8, args.new_tokens)
            print(f"{name:8} {params / 1e6:8.1f}M {one:8.2f} c/s {eight:8.2f} c/s {eight / one:6.2f}x")
            del model


if __name__ == "__main__":
    main()
