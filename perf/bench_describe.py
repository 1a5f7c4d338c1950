"""Throughput of inference.batch (the path behind `affectgpt describe`, the benchmark runner and the Space),
measured side by side in one run. ``--compare batch`` (default): clips/s at batch 1 and batch 8 (no asserts), on

  (a) the tiny config (hub_configs/tiny, ~1M parameters), and
  (b) a ~100M-parameter config built from variants.variant_config("tiny") with larger towers and LLM (random weights).

``--compare workers``: the tiny config, 64 clips of 1280x720 (4 s, 25 fps, h264 at x264's default GOP, 48 kHz stereo
aac), batch 8: clips/s with 0 media workers (decoding in the main process) vs 2 (pipeline.py's DataLoader workers
decoding the next batches while the model generates), runs in the order 0, 2, 2, 0 (``--repeats`` times); asserts that
both give the identical JSONL. 16 distinct videos (encoding 720p is slow) are each used by 4 clips with different
subtitles; every clip is decoded on its own. ``--model-threads T``: torch threads of the model during the runs with
workers (default: as the serial runs), so that the workers get cores of their own (pipeline.model_threads_left).

Each clip: 8 frames + 8 audio clips decoded from a generated mp4 (PyAV), the OV prompt, then exactly
``--new-tokens`` generated tokens (min_new_tokens = max_new_tokens, so every batch does the same work; random weights
would otherwise stop at arbitrary points). Preprocessing is included, as in a real run.

    .venv/bin/python perf/bench_describe.py [--clips 16] [--new-tokens 32] [--device cpu] [--dtype float32]
    .venv/bin/python perf/bench_describe.py --compare workers [--clips 64] [--workers 2] [--model-threads 1]
        [--clip-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from affectgpt_hf import AffectGPTForConditionalGeneration
from affectgpt_hf.data.writers import write_video
from affectgpt_hf.hub.variants import TINY, TINY_RANKS, generation_config, variant_config, variant_processor
from affectgpt_hf.inference.arguments import InferenceArguments
from affectgpt_hf.inference.batch import Clip, describe

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
    runtime = InferenceArguments(batch_size=batch_size, num_workers=0)
    describe(model, processor, clips[:batch_size], runtime, **kwargs)  # warm-up
    started = time.perf_counter()
    results = describe(model, processor, clips, runtime, **kwargs)
    elapsed = time.perf_counter() - started
    assert all(r.error is None for r in results)
    return len(clips) / elapsed


def make_720p_clips(folder: Path, count: int, videos: int = 16, seconds: float = 4.0) -> list[Clip]:
    """``count`` clips over ``videos`` distinct 720p mp4s (reused from ``folder`` when already there)."""
    fps, height, width = 25, 720, 1280
    frames_count = round(seconds * fps)
    folder.mkdir(parents=True, exist_ok=True)
    for v in range(videos):
        path = folder / f"video{v:02d}.mp4"
        if path.exists():
            continue
        rng = np.random.default_rng(v)
        texture = rng.integers(0, 255, (height // 8, (width + 4 * frames_count) // 8, 3), dtype=np.uint8)
        texture = texture.repeat(8, axis=0).repeat(8, axis=1)  # blocky texture: a realistic bitrate
        frames = np.stack([texture[:, 4 * i : 4 * i + width] for i in range(frames_count)])
        t = np.arange(round(seconds * 48000)) / 48000
        audio = 0.3 * np.stack([np.sin(2 * np.pi * (300 + 20 * v) * t), np.sin(2 * np.pi * 660 * t)])
        partial = path.with_suffix(".part.mp4")
        write_video(partial, frames, fps=fps, audio=audio, sampling_rate=48000, options={"preset": "veryfast"})
        partial.rename(path)
    words = "you never listen to me and I am tired of saying it again".split()
    return [
        Clip(f"clip{i:02d}", video=str(folder / f"video{i % videos:02d}.mp4"), subtitle=" ".join(words[: 3 + i % 9]))
        for i in range(count)
    ]


def compare_workers(args: argparse.Namespace, processor, dtype: torch.dtype) -> None:
    """Clips/s with 0 vs ``args.workers`` media workers; the JSONL must be identical."""
    folder = Path(args.clip_dir) if args.clip_dir else Path(tempfile.mkdtemp(prefix="bench-describe-"))
    started = time.perf_counter()
    clips = make_720p_clips(folder, args.clips)
    print(f"{len(clips)} clips of 1280x720 in {folder} ({time.perf_counter() - started:.0f} s to make)")
    model = build("tiny", args.device, dtype)
    kwargs = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, progress=False)
    describe(model, processor, clips[:8], InferenceArguments(batch_size=8, num_workers=0), **kwargs)  # warm-up
    rates: dict[int, list[float]] = {0: [], args.workers: []}
    busy: list[float] = []  # cores the serial runs kept busy: CPU time of this process over wall time
    outputs: dict[int, str] = {}
    serial_threads = torch.get_num_threads()
    for _ in range(args.repeats):
        for workers in (0, args.workers, args.workers, 0):
            torch.set_num_threads(args.model_threads if workers and args.model_threads else serial_threads)
            begin, cpu = time.perf_counter(), time.process_time()
            results = describe(model, processor, clips, InferenceArguments(batch_size=8, num_workers=workers), **kwargs)
            wall = time.perf_counter() - begin
            torch.set_num_threads(serial_threads)
            rates[workers].append(len(clips) / wall)
            if workers == 0:
                busy.append((time.process_time() - cpu) / wall)
            assert all(r.error is None for r in results), [r.error for r in results if r.error]
            jsonl = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results)
            assert outputs.setdefault(workers, jsonl) == jsonl, f"{workers} workers: the JSONL changed between runs"
    assert outputs[0] == outputs[args.workers], "the JSONL with workers differs from the serial one"
    distinct = len({json.loads(line)["text"] for line in outputs[0].splitlines()})
    serial, parallel = statistics.median(rates[0]), statistics.median(rates[args.workers])
    print(f"load average before: {args.load}; after: {os.getloadavg()[0]:.2f}")
    threads = args.model_threads or serial_threads
    print(f"0 workers, {serial_threads} torch threads: {' '.join(f'{r:.2f}' for r in rates[0])} clips/s")
    parallel_rates = " ".join(f"{r:.2f}" for r in rates[args.workers])
    print(f"{args.workers} workers, {threads} torch threads: {parallel_rates} clips/s")
    print(f"median {parallel:.2f} vs {serial:.2f} clips/s: {parallel / serial:.2f}x; identical JSONL "
          f"({distinct} distinct answers of {len(clips)})")  # fmt: skip
    cores, cpus = statistics.median(busy), len(os.sched_getaffinity(0))
    print(f"the serial runs kept {cores:.2f} of {cpus} cores busy: workers can give about {cpus / cores:.2f}x at most "
          "here (the bound for the same work; one decoding thread a clip costs a little less)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", choices=["batch", "workers"], default="batch")
    parser.add_argument("--clips", type=int, default=None, help="default 16 (batch), 64 (workers)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--configs", nargs="+", default=["tiny", "medium"])
    parser.add_argument("--workers", type=int, default=2, help="workers against 0 (--compare workers)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of 0, N, N, 0 workers (--compare workers)")
    parser.add_argument("--model-threads", type=int, help="torch threads in the runs with workers (--compare workers)")
    parser.add_argument("--clip-dir", help="keep the 720p clips here and reuse them (--compare workers)")
    args = parser.parse_args()
    args.load = f"{os.getloadavg()[0]:.2f}"
    dtype = getattr(torch, args.dtype)
    processor = variant_processor("tiny")
    if args.compare == "workers":
        args.clips = args.clips or 64
        print(f"device {args.device}, dtype {args.dtype}, torch threads {torch.get_num_threads()}, "
              f"CPUs {len(os.sched_getaffinity(0))}, batch 8, {args.new_tokens} new tokens each")  # fmt: skip
        compare_workers(args, processor, dtype)
        return
    args.clips = args.clips or 16
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
