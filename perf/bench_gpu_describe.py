"""GPU throughput of ``inference.batch`` with a 7B-shaped model (random weights from the released frame variant's
config, no download), measured side by side in one run (issue #14's GPU check; no asserts on speed):

1. media workers: ``describe`` over ``--clips`` 1280x720 clips (4 s, 25 fps, h264 at x264's default GOP, 48 kHz stereo
   aac; bench_describe.py's generator: 16 distinct videos, each clip decoded on its own), batch 8, exactly
   ``--new-tokens`` tokens each, with 0 media workers (decoding in the main process) vs ``--workers`` (pipeline.py's
   DataLoader workers), in the order ``--order``; GPU utilisation sampled through NVML every 0.1 s during each run
   (the share of time a kernel ran); whether both give the same JSONL.
2. batch-1 decode: tokens/s of one clip's generation, (time for 1 + N tokens - time for 1 token) / N, best of 3,
   against the memory-bandwidth ceiling: bytes of weights each step reads (the language model without its embedding
   table, plus the LM head; the KV cache is left out) over the card's bandwidth (``--bandwidth-tbs``, default from the
   card's name) and over a device-to-device copy's bandwidth measured in the same run.

Figures go to stdout and, as they come, to ``--out`` (JSON), so a run cut short keeps what it measured.

    python perf/bench_gpu_describe.py [--clips 256] [--workers 4] [--order 0,4,4,0] [--new-tokens 32]
        [--decode-tokens 128] [--out gpu.json]
    # the same code on the CPU with the tiny config, to check the script (figures meaningless):
    python perf/bench_gpu_describe.py --variant tiny --device cpu --dtype float32 --clips 16 --workers 2 \
        --order 0,2 --new-tokens 4 --decode-tokens 8

How to run it on the device machine: perf/README.md, "GPU".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from affectgpt_hf import AffectGPTForConditionalGeneration
from affectgpt_hf.hub.variants import VARIANTS, generation_config, variant_config, variant_processor
from affectgpt_hf.inference.arguments import InferenceArguments
from affectgpt_hf.inference.batch import describe
from affectgpt_hf.inference.prefetch import usable_cpus

sys.path.insert(0, str(Path(__file__).parent))
from bench_describe import make_720p_clips  # noqa: E402

# Peak memory bandwidth in TB/s by the card's name (vendor data sheets; the SXM parts).
BANDWIDTH_TBS = {"H200": 4.8, "H100": 3.35, "A100-SXM4-80GB": 2.039, "A100-SXM4-40GB": 1.555}


class Figures:
    """The run's figures, written to ``path`` (JSON) after every addition."""

    def __init__(self, path: str | None) -> None:
        self.path, self.data = path, {}

    def add(self, key: str, value) -> None:
        self.data[key] = value
        if self.path:
            Path(self.path).write_text(json.dumps(self.data, indent=2) + "\n")


class Utilisation:
    """Mean GPU utilisation (NVML, percent) over the ``with`` block, sampled every ``interval`` s; None off the GPU."""

    def __init__(self, device: torch.device, interval: float = 0.1) -> None:
        self.device, self.interval, self.samples = device, interval, []
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(torch.cuda.utilization(self.device))

    def __enter__(self) -> Utilisation:
        self._thread = None
        if self.device.type == "cuda":
            try:
                torch.cuda.utilization(self.device)
            except Exception as error:  # no NVML: the run goes on without the figure
                print(f"GPU utilisation cannot be read ({error}); carrying on without it", flush=True)
                return self
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(variant: str, device: torch.device, dtype: torch.dtype) -> AffectGPTForConditionalGeneration:
    """The variant's model with random weights, made on ``device`` in ``dtype`` (no copy through the CPU)."""
    torch.manual_seed(0)
    with torch.device(device):
        model = AffectGPTForConditionalGeneration._from_config(variant_config(variant), dtype=dtype).eval()
    model.generation_config = generation_config(VARIANTS[variant][1])
    return model


def decode_bytes(model: AffectGPTForConditionalGeneration) -> int:
    """Bytes of weights one decode step reads: the language model but its embedding table (one row is read), and the
    LM head."""
    return sum(
        p.numel() * p.element_size()
        for name, p in model.named_parameters()
        if name.startswith(("model.language_model.", "lm_head.")) and "embed_tokens" not in name
    )


def copy_bandwidth(device: torch.device, gib: float = 4.0) -> float:
    """TB/s of a device-to-device copy (bytes read + written), best of 5."""
    source = torch.empty(int(gib * 2**30), dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(6):
        synchronize(device)
        start = time.perf_counter()
        target.copy_(source)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    del source, target
    return 2 * gib * 2**30 / best / 1e12


def describe_runs(args, model, processor, clips, device, figures: Figures) -> None:
    """Clips/s and GPU utilisation of describe with each worker count of ``args.order``; the JSONL of each count."""
    kwargs = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, progress=False)
    describe(model, processor, clips[:8], InferenceArguments(batch_size=8, num_workers=0), **kwargs)  # warm-up
    runs, outputs = [], {}
    for workers in args.order:
        synchronize(device)
        with Utilisation(device) as utilisation:
            begin = time.perf_counter()
            results = describe(model, processor, clips, InferenceArguments(batch_size=8, num_workers=workers), **kwargs)
            synchronize(device)
            wall = time.perf_counter() - begin
        errors = [r.error for r in results if r.error]
        jsonl = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in results)
        outputs.setdefault(workers, jsonl)
        runs.append(
            {
                "workers": workers,
                "clips_per_s": len(clips) / wall,
                "gpu_util": utilisation.mean,
                "seconds": wall,
                "errors": len(errors),
                "same_jsonl_as_first": outputs[workers] == jsonl,
            }
        )
        util = "n/a" if utilisation.mean is None else f"{utilisation.mean:.0f}%"
        print(
            f"{workers} workers: {len(clips) / wall:.2f} clips/s ({wall:.1f} s), GPU utilisation {util}, "
            f"{len(errors)} errors",
            flush=True,
        )
        figures.add("describe_runs", runs)
    rates = {w: statistics.median(r["clips_per_s"] for r in runs if r["workers"] == w) for w in outputs}
    serial, parallel = rates.get(0), rates.get(max(outputs))
    identical = len(set(outputs.values())) == 1
    distinct = len({json.loads(line)["text"] for line in next(iter(outputs.values())).splitlines()})
    figures.add("describe_identical_jsonl", identical)
    figures.add("describe_distinct_answers", distinct)
    if serial and parallel and max(outputs):
        figures.add("describe_ratio", parallel / serial)
        print(
            f"median {parallel:.2f} vs {serial:.2f} clips/s: {parallel / serial:.2f}x; "
            f"{'identical' if identical else 'DIFFERENT'} JSONL across worker counts "
            f"({distinct} distinct answers of {len(clips)})"
        )


def batch1_decode(args, model, processor, clip, device, figures: Figures) -> None:
    """Batch-1 decode tokens/s against the bandwidth ceilings."""

    def seconds(tokens: int) -> float:
        best = float("inf")
        for _ in range(3):
            synchronize(device)
            start = time.perf_counter()
            describe(
                model,
                processor,
                [clip],
                InferenceArguments(batch_size=1, num_workers=0),
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                progress=False,
            )
            synchronize(device)
            best = min(best, time.perf_counter() - start)
        return best

    one, more = seconds(1), seconds(1 + args.decode_tokens)
    tokens_per_s = args.decode_tokens / (more - one)
    weights = decode_bytes(model)
    result = {"tokens_per_s": tokens_per_s, "first_token_s": one, "weights_read_per_step_gb": weights / 1e9}
    print(
        f"batch-1 decode: {tokens_per_s:.1f} tokens/s ({1e3 / tokens_per_s:.2f} ms a token; first token with "
        f"preprocessing {one * 1e3:.0f} ms); {weights / 1e9:.2f} GB of weights read a step"
    )
    ceilings = {}
    if args.bandwidth_tbs:
        ceilings["peak"] = args.bandwidth_tbs
    if device.type == "cuda":
        ceilings["copy"] = copy_bandwidth(device)
    for name, tbs in ceilings.items():
        ceiling = tbs * 1e12 / weights
        result[f"ceiling_{name}"] = {"tb_per_s": tbs, "tokens_per_s": ceiling, "fraction": tokens_per_s / ceiling}
        print(
            f"  {name} bandwidth {tbs:.2f} TB/s: ceiling {ceiling:.0f} tokens/s; reached {tokens_per_s / ceiling:.0%}"
        )
    figures.add("batch1_decode", result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default="affectgpt-qwen2.5-7b-frame", choices=sorted(VARIANTS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--workers", type=int, default=4, help="media workers against 0")
    parser.add_argument("--order", help="worker counts of the describe runs, comma-separated (default 0,W,W,0)")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens each clip generates in the describe runs")
    parser.add_argument("--decode-tokens", type=int, default=128, help="tokens timed for batch-1 decode")
    parser.add_argument("--bandwidth-tbs", type=float, help="the card's peak memory bandwidth (default: by its name)")
    parser.add_argument("--clip-dir", help="keep the clips here and reuse them (default: a temp folder)")
    parser.add_argument("--out", help="write the figures here as JSON, updated as they come")
    args = parser.parse_args()
    args.order = [int(w) for w in (args.order or f"0,{args.workers},{args.workers},0").split(",")]
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here; to check the script on the CPU: --variant tiny --device cpu --dtype float32")
    figures = Figures(args.out)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    if args.bandwidth_tbs is None:
        args.bandwidth_tbs = next((tbs for name, tbs in BANDWIDTH_TBS.items() if name in card), None)
    setup = {
        "card": card,
        "variant": args.variant,
        "dtype": args.dtype,
        "cpus": usable_cpus(),
        "torch": torch.__version__,
        "clips": args.clips,
        "new_tokens": args.new_tokens,
        "order": args.order,
    }
    figures.add("setup", setup)
    print(json.dumps(setup), flush=True)

    folder = Path(args.clip_dir) if args.clip_dir else Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    started = time.perf_counter()
    clips = make_720p_clips(folder, args.clips)
    print(f"{len(clips)} clips of 1280x720 in {folder} ({time.perf_counter() - started:.0f} s to make)", flush=True)
    started = time.perf_counter()
    model, processor = build(args.variant, device, dtype), variant_processor(args.variant)
    params = sum(p.numel() for p in model.parameters())
    figures.add("params", params)
    print(f"{params / 1e9:.2f}B parameters on {card} ({time.perf_counter() - started:.0f} s to build)", flush=True)
    if device.type == "cuda":
        print(f"GPU memory after the build: {torch.cuda.memory_allocated(device) / 2**30:.1f} GiB", flush=True)

    batch1_decode(args, model, processor, clips[0], device, figures)
    describe_runs(args, model, processor, clips, device, figures)
    if device.type == "cuda":
        figures.add("peak_gpu_memory_gib", torch.cuda.max_memory_allocated(device) / 2**30)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
