"""Memory and agreement of `--quantization` (the language model's decoder only), in two parts, side by side in one run:

1. computed: the paper's face model (hub_configs/affectgpt-qwen2.5-7b: Qwen2.5-7B, CLIP ViT-L/14, chinese-hubert-large)
   built on the meta device, its parameters counted by group, and the bytes its weights hold in bf16, with bnb-8bit
   (LLM.int8: 1 byte a weight plus an fp32 scale per output row) and with bnb-4bit (NF4 with double quantization: half
   a byte a weight, one 8-bit absmax per 64 weights, one fp32 absmax per 256 of those). Weights only: the KV cache and
   activations come on top.
2. measured on the CPU: the ~96M-parameter config of bench_training.py (random weights from a fixed seed, saved once),
   fp32 against bnb-8bit and bnb-4bit (bitsandbytes' CPU backend) and, when torchao is installed, torchao's int8
   weight-only (TorchAoConfig, which transformers 5.24 accepts on the CPU). Each mode runs in its own process: the
   bytes its weights hold (packed data and scales counted), its RSS after loading, greedy agreement with fp32 over
   ``--clips`` clips x ``--new-tokens`` tokens (clips whose tokens are all equal, and the mean share of tokens before
   the first difference), the relative error of the first step's logits, and decode tokens/s (the first clip's
   generate of N tokens less its generate of 1, best of 3 each, over N - 1; generate reads the towers' features,
   computed once, so the towers and the prefill are left out). The random weights
   (the hub configs' 0.02 init) give flat logits whose argmax a small error flips: agreement here is a lower bound
   for a trained model, whose top token usually leads by a margin.

    .venv/bin/python perf/bench_quantization.py [--clips 6] [--new-tokens 24] [--threads 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_training import AUDIO, TEXT, VISION  # noqa: E402 (the ~96M config)

REPO = Path(__file__).resolve().parents[1]
FACE_MODEL = REPO / "hub_configs" / "affectgpt-qwen2.5-7b"
SEED = 42
MODES = ("fp32", "bnb-8bit", "bnb-4bit", "torchao-int8")


# ------------------------------------------------------------------------------------------- computed (7B face model)
def quantized_bytes(numel: int, out_features: int, setting: str) -> float:
    """Bytes a decoder Linear's weight holds under ``setting`` (bitsandbytes' layouts)."""
    if setting == "bnb-8bit":
        return numel + 4 * out_features  # int8 weights + fp32 row scales (SCB)
    blocks = math.ceil(numel / 64)
    return numel / 2 + blocks + 4 * math.ceil(blocks / 256) + 256 * 4 + 4  # nf4 + 8-bit absmax + fp32 absmax2, code


def face_model_memory() -> dict:
    """Parameter counts of the 7B face model by group, and GiB of its weights in bf16 / bnb-8bit / bnb-4bit."""
    import torch

    from affectgpt_hf import AffectGPTConfig, AffectGPTForConditionalGeneration
    from affectgpt_hf.modeling_affectgpt import NOT_QUANTIZED

    with torch.device("meta"):
        model = AffectGPTForConditionalGeneration(AffectGPTConfig.from_pretrained(FACE_MODEL))
    quantized = {
        f"{name}.weight": module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not name.startswith(NOT_QUANTIZED)
    }
    groups: dict[str, int] = {}
    for name, parameter in model.named_parameters():
        if name in quantized:
            group = "LLM decoder linear weights (quantized)"
        elif name.startswith("model.language_model"):
            group = "LLM embeddings, norms, biases"
        elif name.startswith("lm_head"):
            group = "LM head"
        elif name.startswith(("model.vision_tower", "model.audio_tower")):
            group = "vision + audio towers"
        else:
            group = "poolers, fusion, projectors"
        groups[group] = groups.get(group, 0) + parameter.numel()
    total = sum(groups.values())
    kept = total - groups["LLM decoder linear weights (quantized)"]
    gib = {"bf16": 2 * total / 2**30}
    for setting in ("bnb-8bit", "bnb-4bit"):
        packed = sum(quantized_bytes(m.weight.numel(), m.out_features, setting) for m in quantized.values())
        gib[setting] = (packed + 2 * kept) / 2**30
    return {"parameters": groups, "total": total, "weights_gib": gib}


# --------------------------------------------------------------------------------------------- measured (96M, CPU)
def tensor_bytes(tensor) -> int:
    """Bytes a tensor holds: a tensor subclass (torchao) by its inner tensors, bitsandbytes' weights with their
    quantization state (scales, absmax)."""
    if hasattr(tensor, "__tensor_flatten__"):
        names, _ = tensor.__tensor_flatten__()
        return sum(tensor_bytes(getattr(tensor, n)) for n in names if getattr(tensor, n) is not None)
    total = tensor.numel() * tensor.element_size()
    scale = getattr(tensor, "SCB", None)  # bnb Int8Params
    state = getattr(tensor, "quant_state", None)  # bnb Params4bit
    if scale is not None:
        total += scale.numel() * scale.element_size()
    while state is not None:
        total += sum(t.numel() * t.element_size() for t in (state.absmax, state.code, state.offset) if t is not None)
        state = state.state2 if state.nested else None
    return total


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_clips(folder: Path, count: int) -> list[str]:
    """``count`` 3 s clips (random 64x48 frames at 10 fps, a tone per clip): h264/aac mp4."""
    from affectgpt_hf.data.writers import write_video

    paths = []
    for index in range(count):
        rng = np.random.default_rng(index)
        frames = rng.integers(0, 255, size=(30, 48, 64, 3), dtype=np.uint8)
        t = np.arange(48000) / 16000
        tone = (0.3 * np.sin(2 * np.pi * (200 + 50 * index) * t)).astype(np.float32)
        path = folder / f"clip{index}.mp4"
        write_video(path, frames, fps=10, audio=tone, sampling_rate=16000)
        paths.append(str(path))
    return paths


def write_model(folder: Path) -> int:
    """The ~96M model with seeded random weights, saved with its processor; its parameter count."""
    import torch

    from affectgpt_hf import AffectGPTForConditionalGeneration
    from affectgpt_hf.hub.variants import generation_config, variant_config, variant_processor

    torch.manual_seed(SEED)
    model = AffectGPTForConditionalGeneration(
        variant_config("tiny", text_config=TEXT, vision_config=VISION, audio_config=AUDIO)
    )
    model.generation_config = generation_config(16384)
    model.save_pretrained(folder)
    variant_processor("tiny").save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def worker(mode: str, model_dir: str, clips: list[str], new_tokens: int, out: str) -> dict:
    """Load the model in ``mode``, answer every clip greedily; token ids and first-step logits go to ``out``."""
    import torch

    from affectgpt_hf import AffectGPTForConditionalGeneration, AffectGPTProcessor

    kwargs = {"device_map": "cpu"}
    if mode.startswith("bnb"):
        kwargs["quantization"] = mode
    elif mode == "torchao-int8":
        from torchao.quantization import Int8WeightOnlyConfig
        from transformers import TorchAoConfig

        kwargs["quantization_config"] = TorchAoConfig(Int8WeightOnlyConfig())
    base = rss_mib()
    model = AffectGPTForConditionalGeneration.from_pretrained(model_dir, **kwargs).eval()
    processor = AffectGPTProcessor.from_pretrained(model_dir)
    gc.collect()
    loaded = rss_mib()
    held = sum(tensor_bytes(p) for p in model.parameters()) + sum(tensor_bytes(b) for b in model.buffers())
    tokens, logits = [], []

    def generate(inputs: dict, count: int):
        with torch.no_grad():
            return model.generate(**inputs, max_new_tokens=count, min_new_tokens=count, do_sample=False,
                                  output_logits=True, return_dict_in_generate=True)  # fmt: skip

    for clip in clips:
        batch = processor(videos=[clip], subtitles=["I told you already."], return_tensors="pt")
        with torch.no_grad():  # the towers once; generate then reads their features (the LLM alone is timed)
            inputs = {
                "input_ids": batch["input_ids"],
                "attention_mask": batch["attention_mask"],
                "video_features": model.get_video_features(batch["pixel_values_videos"]),
                "audio_features": model.get_audio_features(batch["input_values"]),
            }
        output = generate(inputs, new_tokens)
        tokens.append(output.sequences[0, inputs["input_ids"].shape[1] :].tolist())
        logits.append(output.logits[0][0].float().numpy())
        if clip == clips[0]:
            seconds = {}
            for count in (1, new_tokens):
                best = float("inf")
                for _ in range(3):
                    started = time.perf_counter()
                    generate(inputs, count)
                    best = min(best, time.perf_counter() - started)
                seconds[count] = best
    np.savez(out, tokens=np.array(tokens), logits=np.stack(logits))
    return {
        "weights_mib": held / 2**20,
        "rss_after_load_mib": loaded,
        "rss_load_growth_mib": loaded - base,
        "decode_tokens_per_s": (new_tokens - 1) / (seconds[new_tokens] - seconds[1]),
    }


def run_worker(mode: str, model_dir: Path, clips: list[str], new_tokens: int, out: Path, threads: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    argv = [sys.executable, __file__, "--worker", mode, str(model_dir), str(new_tokens), str(out), *clips]
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def agreement(reference: dict, other: dict) -> dict:
    """Greedy agreement with the reference run: equal clips, mean shared prefix, first-step logits' error."""
    ref_tokens, tokens = reference["tokens"], other["tokens"]
    prefixes = []
    for a, b in zip(ref_tokens, tokens, strict=True):
        differ = np.nonzero(a != b)[0]
        prefixes.append((differ[0] if len(differ) else len(a)) / len(a))
    error = np.linalg.norm(other["logits"] - reference["logits"], axis=1) / np.linalg.norm(reference["logits"], axis=1)
    return {
        "equal_clips": int(sum(p == 1.0 for p in prefixes)),
        "mean_prefix": float(np.mean(prefixes)),
        "first_step_argmax_equal": int((other["logits"].argmax(1) == reference["logits"].argmax(1)).sum()),
        "logits_rel_error": float(error.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each worker")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, model_dir, new_tokens, out, *clips = args.worker
        print(json.dumps(worker(mode, model_dir, clips, int(new_tokens), out)))
        return

    computed = face_model_memory()
    print(f"7B face model ({FACE_MODEL.name}): {computed['total'] / 1e9:.3f}B parameters")
    for group, count in computed["parameters"].items():
        print(f"  {group:<42}{count / 1e6:>10.1f}M")
    print("  weights: " + ", ".join(f"{k} {v:.2f} GiB" for k, v in computed["weights_gib"].items()))

    try:
        import torchao  # noqa: F401
    except ImportError:
        modes = MODES[:-1]
        print("torchao is not installed: its int8 weight-only row is left out")
    else:
        modes = MODES
    with tempfile.TemporaryDirectory(prefix="bench-quantization-") as tmp:
        tmp = Path(tmp)
        params = write_model(tmp / "model")
        clips = write_clips(tmp, args.clips)
        results, outputs = {}, {}
        for mode in modes:
            results[mode] = run_worker(mode, tmp / "model", clips, args.new_tokens, tmp / f"{mode}.npz", args.threads)
            outputs[mode] = dict(np.load(tmp / f"{mode}.npz"))
    print(f"\n~96M config ({params / 1e6:.1f}M parameters), CPU, {args.threads} threads, {args.clips} clips x "
          f"{args.new_tokens} greedy tokens; agreement against fp32")  # fmt: skip
    header = f"{'mode':<14}{'weights MiB':>12}{'RSS MiB':>9}{'tok/s':>8}{'equal clips':>13}{'prefix':>8}"
    print(header + f"{'1st argmax':>11}{'logit err':>10}")
    for mode in modes:
        r, a = results[mode], agreement(outputs["fp32"], outputs[mode])
        print(f"{mode:<14}{r['weights_mib']:>12.1f}{r['rss_after_load_mib']:>9.0f}{r['decode_tokens_per_s']:>8.1f}"
              f"{a['equal_clips']:>8}/{args.clips:<4}{a['mean_prefix']:>8.2f}{a['first_step_argmax_equal']:>7}/"
              f"{args.clips:<3}{a['logits_rel_error']:>10.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
