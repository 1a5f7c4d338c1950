"""Forward cost of AffectGPT with precomputed encoder features against the bare language model on the same tokens.

A ~100M-parameter config (Qwen2 width 768, 12 layers; towers skipped since features are given). Both paths run
interleaved in one process; the ratio is what to read (target: at most 1.10x).

    .venv/bin/python perf/bench_forward.py [--batch 4] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from affectgpt_hf import AffectGPTForConditionalGeneration
from affectgpt_hf.hub.variants import variant_config, variant_processor
from affectgpt_hf.prompt import QUESTIONS, render_prompt


def build(seed: int = 0) -> AffectGPTForConditionalGeneration:
    text = {
        "model_type": "qwen2",
        "vocab_size": 16416,
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "num_key_value_heads": 4,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
    }
    torch.manual_seed(seed)
    return AffectGPTForConditionalGeneration(variant_config("tiny", text_config=text)).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = build()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    processor = variant_processor("tiny")
    prompt = render_prompt(
        model.config.input_mode, "I told you already, and I will not say it again.", QUESTIONS["description"]
    )
    ids = processor.tokenizer([prompt] * args.batch, add_special_tokens=False, return_tensors="pt")["input_ids"]
    video = torch.randn(args.batch, 8, model.config.vision_config.projection_dim)
    audio = torch.randn(args.batch, 8, model.config.audio_config.hidden_size)
    embeds = model.get_input_embeddings()(ids.clamp(max=model.config.text_config.vocab_size - 1))

    def affectgpt():
        return model(input_ids=ids, video_features=video, audio_features=audio).logits

    def bare():
        return model.lm_head(model.model.language_model(inputs_embeds=embeds).last_hidden_state)

    times = {"affectgpt": [], "bare": []}
    with torch.no_grad():
        for fn in (affectgpt, bare):
            fn()  # warm-up
        for _ in range(args.repeats):
            for name, fn in (("affectgpt", affectgpt), ("bare", bare)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"config: {params:.0f}M parameters, batch {args.batch}, {ids.shape[1]} tokens, {args.repeats} repeats")
    print(f"AffectGPT forward with precomputed features: {med['affectgpt'] * 1000:.1f} ms (median)")
    print(f"bare language model + lm_head, same tokens:  {med['bare'] * 1000:.1f} ms (median)")
    print(f"overhead: {med['affectgpt'] / med['bare']:.3f}x")


if __name__ == "__main__":
    main()
