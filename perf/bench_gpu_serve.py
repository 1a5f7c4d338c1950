"""GPU rows of issue 31, prepared for a lent GPU (no asserts on speed): the 7B face model's memory and batch-1 decode
speed in bf16 against `--quantization bnb-8bit` and `bnb-4bit` (the language model's decoder only), and, with
`--part serve`, `affectgpt serve` on the GPU against `describe` in one process.

1. ``--part quantization`` (needs transformers 5.24 and bitsandbytes, no PyAV): the variant's model with random
   weights made on the GPU in bf16 and saved once (~16.5 GB for the 7B face model), then loaded by
   `from_pretrained(quantization=...)` in its own process per setting: GPU memory allocated after loading and at the
   peak of decoding, the weights' footprint, batch-1 decode tokens/s ((time for 1 + N tokens - time for 1) / N, best
   of 3) on a synthetic prompt (random pixels and waveforms, the prompt's placeholders in place: decoding costs the
   same whatever the words; the towers' features are computed once and passed to generate, so the language model is
   timed alone), and the greedy tokens on ``--prompts`` such prompts, compared with bf16's (random weights: agreement
   is a lower bound for a trained model).
2. ``--part serve`` (needs PyAV, openai, fastapi, uvicorn and the saved folder of part 1, ``--weights-dir``):
   requests/s and latency percentiles of 1 and 8 `openai` clients against `affectgpt serve` (bf16, then each
   ``--serve-quantization``), and `describe` on the same clips in this process (bench_serve.py's measurement).

Figures go to stdout and, as they come, to ``--out`` (JSON). How to run it on the device machine: perf/README.md,
"GPU (bench_gpu_serve.py)". On the CPU, to check the script (tiny config, figures meaningless; bitsandbytes runs
there too):

    .venv/bin/python perf/bench_gpu_serve.py --variant tiny --device cpu --decode-tokens 8 --prompts 2
    .venv/bin/python perf/bench_gpu_serve.py --part serve --variant tiny --device cpu --weights-dir WEIGHTS --clips 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from affectgpt_hf import AffectGPTForConditionalGeneration
from affectgpt_hf.hub.variants import VARIANTS, generation_config, variant_config

SETTINGS = ("bf16", "bnb-8bit", "bnb-4bit")


class Figures:
    """The run's figures, written to ``path`` (JSON) after every addition."""

    def __init__(self, path: str | None) -> None:
        self.path, self.data = path, {}

    def add(self, key: str, value) -> None:
        self.data[key] = value
        print(f"{key}: {json.dumps(value)}", flush=True)
        if self.path:
            Path(self.path).write_text(json.dumps(self.data, indent=2) + "\n")


def dtype_of(device: str) -> torch.dtype:
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def save_random_model(variant: str, device: str, folder: Path) -> int:
    """The variant's model with random weights, made on ``device`` and saved to ``folder``; its parameter count."""
    torch.manual_seed(0)
    with torch.device(device):
        model = AffectGPTForConditionalGeneration._from_config(variant_config(variant), dtype=dtype_of(device))
    model.generation_config = generation_config(VARIANTS[variant][1])
    model.save_pretrained(folder)
    count = sum(p.numel() for p in model.parameters())
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return count


def synthetic_inputs(config, seed: int, device: str, length: int = 120) -> dict[str, torch.Tensor]:
    """A prompt of ``length`` random word ids holding each placeholder of the input mode once, with random pixels and
    waveforms: what `generate` reads, without decoding media."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 10000, (1, length), generator=generator)
    tokens = [config.multi_token_id, config.audio_token_id, config.face_token_id]
    if config.input_mode.startswith("multiframe"):
        tokens[2] = config.frame_token_id
    for slot, token in zip((30, 60, 90), tokens, strict=True):
        ids[0, slot] = token
    return {
        "input_ids": ids.to(device),
        "attention_mask": torch.ones_like(ids).to(device),
        "pixel_values_videos": torch.randn(1, 8, 3, 224, 224, generator=generator).to(device, dtype_of(device)),
        "input_values": torch.randn(1, 8, 32000, generator=generator).to(device, dtype_of(device)),
    }


def with_features(model, inputs: dict) -> dict:
    """``inputs`` with the towers' features in place of pixels and waveforms: generate then runs the language model
    alone, which is what the quantization changes (the towers, unquantized, are timed out)."""
    with torch.no_grad():
        return {
            "input_ids": inputs["input_ids"],
            "attention_mask": inputs["attention_mask"],
            "video_features": model.get_video_features(inputs["pixel_values_videos"]),
            "audio_features": model.get_audio_features(inputs["input_values"]),
        }


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def quantization_worker(setting: str, folder: str, device: str, decode_tokens: int, prompts: int) -> dict:
    """One setting in this process: memory after loading, at the decoding peak, decode tokens/s, greedy tokens."""
    kwargs = {"device_map": {"": device}, "dtype": dtype_of(device)}
    if setting != "bf16":
        kwargs["quantization"] = setting
    model = AffectGPTForConditionalGeneration.from_pretrained(folder, **kwargs).eval()
    cuda = device.startswith("cuda")
    loaded = torch.cuda.memory_allocated() / 2**30 if cuda else None
    inputs = with_features(model, synthetic_inputs(model.config, 0, device))

    def seconds(tokens: int) -> float:
        best = float("inf")
        for _ in range(3):
            synchronize(device)
            start = time.perf_counter()
            with torch.no_grad():
                model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
            synchronize(device)
            best = min(best, time.perf_counter() - start)
        return best

    one, more = seconds(1), seconds(1 + decode_tokens)
    answers = []
    for seed in range(prompts):
        prompt = with_features(model, synthetic_inputs(model.config, seed, device))
        with torch.no_grad():
            output = model.generate(**prompt, max_new_tokens=decode_tokens, min_new_tokens=decode_tokens)
        answers.append(output[0, prompt["input_ids"].shape[1] :].tolist())
    return {
        "gpu_gib_after_load": loaded,
        "gpu_gib_peak": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "footprint_gib": model.get_memory_footprint() / 2**30,
        "decode_tokens_per_s": decode_tokens / (more - one),
        "first_token_s": one,
        "answers": answers,
    }


def run_quantization(args, figures: Figures) -> None:
    folder = Path(args.weights_dir)
    if not (folder / "config.json").exists():
        started = time.perf_counter()
        count = save_random_model(args.variant, args.device, folder)
        figures.add("model", {"parameters": count, "saved_s": round(time.perf_counter() - started, 1)})
    reference = None
    for setting in args.settings:
        argv = [sys.executable, __file__, "--worker", setting, str(folder), args.device, str(args.decode_tokens)]
        result = subprocess.run([*argv, str(args.prompts)], capture_output=True, text=True)
        if result.returncode != 0:
            figures.add(setting, {"error": result.stderr[-2000:]})
            continue
        row = json.loads(result.stdout.strip().splitlines()[-1])
        answers = row.pop("answers")
        reference = reference if reference is not None else answers
        row["greedy_equal_prompts"] = f"{sum(a == b for a, b in zip(answers, reference, strict=True))}/{len(answers)}"
        figures.add(setting, row)


def run_serve(args, figures: Figures) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import openai
    from bench_serve import run_clients, run_describe, start_server, write_clips

    from affectgpt_hf.hub.variants import variant_processor
    from affectgpt_hf.inference.batch import load_model

    folder = Path(args.weights_dir)
    if not (folder / "processor_config.json").exists():
        variant_processor(args.variant).save_pretrained(folder)
    media = Path(tempfile.mkdtemp(prefix="bench-gpu-serve-"))
    clips = write_clips(media, args.clips)
    model, processor = load_model(folder, device=args.device)
    run_describe(model, processor, clips[:2], 1, args.max_tokens)
    figures.add("describe_1_clip_per_call", run_describe(model, processor, clips, 1, args.max_tokens)[0])
    figures.add("describe_batches_of_8", run_describe(model, processor, clips, 8, args.max_tokens)[0])
    del model
    for setting in ("bf16", *args.serve_quantization):
        extra = [] if setting == "bf16" else ["--quantization", setting]
        process, port = start_server(folder, media, media / f"server-{setting}.log", extra + ["--device", args.device])
        try:
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-", max_retries=0, timeout=600)
            run_clients(client, str(folder), clips[:2], 1, args.max_tokens)
            for clients in (1, 8):
                figures.add(f"serve_{setting}_{clients}_clients", run_clients(client, str(folder), clips, clients,
                                                                             args.max_tokens)[0])  # fmt: skip
        finally:
            process.terminate()
            process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("quantization", "serve"), default="quantization")
    parser.add_argument("--variant", default="affectgpt-qwen2.5-7b", choices=sorted(VARIANTS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=4, help="synthetic prompts whose greedy tokens are compared")
    parser.add_argument("--weights-dir", default=None, help="where the random model is saved (default: a temp folder)")
    parser.add_argument("--clips", type=int, default=32, help="serve: clips asked")
    parser.add_argument("--max-tokens", type=int, default=32, help="serve: tokens an answer")
    parser.add_argument("--serve-quantization", nargs="*", default=["bnb-4bit"], choices=SETTINGS[1:])
    parser.add_argument("--out", help="write the figures here as JSON, updated as they come")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        setting, folder, device, tokens, prompts = args.worker
        print(json.dumps(quantization_worker(setting, folder, device, int(tokens), int(prompts))))
        return
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device here; to check the script on the CPU: --variant tiny --device cpu")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.weights_dir = args.weights_dir or tempfile.mkdtemp(prefix="bench-gpu-weights-")
    figures = Figures(args.out)
    card = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    figures.add("setup", {"card": card, "variant": args.variant, "torch": torch.__version__, "part": args.part})
    if args.part == "quantization":
        run_quantization(args, figures)
    else:
        run_serve(args, figures)


if __name__ == "__main__":
    main()
