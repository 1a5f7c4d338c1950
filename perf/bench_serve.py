"""What `affectgpt serve` costs over `describe` on the same clips: requests/s and latency percentiles with 1 and 8
concurrent `openai` clients against the server (a subprocess on 127.0.0.1, the tiny sensitive model, clips named by
path under --media-dir), and `describe` in this process on the same clips, one clip per call and in batches of 8.

transformers' server generates one request at a time (its continuous batching is for text-only models), so 8 clients
queue: the figures are the server's overhead per request at 1 client (latency against describe's one-clip call) and
its throughput at 8 clients against describe's batch of 8. Every answer is checked against describe's one-clip
answers. describe runs on a thread of its own, as the server's generation does (see `run_describe`).

    .venv/bin/python perf/bench_serve.py [--clips 16] [--rounds 2] [--max-tokens 16]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SUBTITLE = "I told you already."


def write_clips(folder: Path, count: int) -> list[Path]:
    """``count`` 3 s clips (random 64x48 frames at 10 fps, a tone per clip): h264/aac mp4."""
    from affectgpt_hf.data.writers import write_video

    paths = []
    for index in range(count):
        rng = np.random.default_rng(index)
        tone = (0.3 * np.sin(2 * np.pi * (200 + 25 * index) * np.arange(48000) / 16000)).astype(np.float32)
        path = folder / f"clip{index}.mp4"
        write_video(path, rng.integers(0, 255, (30, 48, 64, 3), dtype=np.uint8), fps=10, audio=tone)
        paths.append(path)
    return paths


def write_model(folder: Path) -> Path:
    """The tiny model with wider random weights (tests/utils.tiny_config's `sensitive`), so answers follow the clip."""
    import torch

    from affectgpt_hf import AffectGPTForConditionalGeneration
    from affectgpt_hf.hub.variants import generation_config, variant_config, variant_processor

    config = variant_config("tiny")
    text = {**config.text_config.to_dict(), "initializer_range": 0.3}
    vision = {**config.vision_config.to_dict(), "initializer_factor": 10.0}
    torch.manual_seed(0)
    model = AffectGPTForConditionalGeneration(variant_config("tiny", text_config=text, vision_config=vision))
    model.generation_config = generation_config(16384)
    model.save_pretrained(folder)
    variant_processor("tiny").save_pretrained(folder)
    return folder


def summary(latencies: list[float], seconds: float) -> dict:
    ordered = sorted(latencies)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]

    return {
        "requests": len(ordered),
        "per_s": len(ordered) / seconds,
        "p50": at(0.5),
        "p90": at(0.9),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def run_describe(model, processor, clips: list[Path], batch: int, max_tokens: int) -> tuple[dict, list[str]]:
    """describe over ``clips`` in batches of ``batch`` on a thread of its own, as the server generates on its inference
    thread (torch's intra-op threads behave differently off the main thread: on the loaded 2-core machine the tiny
    model generated 4x faster there); each clip's latency is its batch's time."""
    found: list = []
    worker = threading.Thread(target=lambda: found.append(_describe(model, processor, clips, batch, max_tokens)))
    worker.start()
    worker.join()
    return found[0]


def _describe(model, processor, clips: list[Path], batch: int, max_tokens: int) -> tuple[dict, list[str]]:
    from affectgpt_hf.inference.arguments import InferenceArguments
    from affectgpt_hf.inference.batch import Clip, describe

    runtime = InferenceArguments(batch_size=batch, num_workers=0, max_new_tokens=max_tokens)
    latencies, texts = [], []
    started = time.perf_counter()
    for first in range(0, len(clips), batch):
        group = [Clip(p.stem, video=str(p), subtitle=SUBTITLE) for p in clips[first : first + batch]]
        begun = time.perf_counter()
        results = describe(model, processor, group, runtime, progress=False)
        latencies += [time.perf_counter() - begun] * len(group)
        texts += [r.text for r in results]
    return summary(latencies, time.perf_counter() - started), texts


def run_clients(client, model: str, clips: list[Path], concurrency: int, max_tokens: int) -> tuple[dict, list[str]]:
    """Every clip asked once by ``concurrency`` client threads taking clips in turn."""
    latencies, texts, errors = [0.0] * len(clips), [""] * len(clips), []

    def work(worker: int) -> None:
        for index in range(worker, len(clips), concurrency):
            parts = [{"type": "video_url", "video_url": {"url": clips[index].name}}, {"type": "text", "text": SUBTITLE}]
            begun = time.perf_counter()
            try:
                answer = client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": parts}], max_tokens=max_tokens
                )
            except Exception as error:  # noqa: BLE001 (reported below)
                errors.append(error)
                return
            latencies[index] = time.perf_counter() - begun
            texts[index] = answer.choices[0].message.content

    threads = [threading.Thread(target=work, args=(w,)) for w in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed: {errors[0]}")
    return summary(latencies, time.perf_counter() - started), texts


def start_server(model: Path, media: Path, log: Path, extra: list[str] = ()) -> tuple[subprocess.Popen, int]:
    """`affectgpt serve` on a free port (``extra``: more of its options), once it answers /health."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "affectgpt_hf.cli", "serve", "--model", str(model), "--port", str(port)]
    command += ["--media-dir", str(media), "--max-pending", "64", *extra]
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return process, port
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("the server did not answer /health within 300 s")


def line(name: str, figures: dict) -> str:
    return (f"{name:<34}{figures['requests']:>5}{figures['per_s']:>9.2f}{figures['p50']:>9.3f}{figures['p90']:>9.3f}"
            f"{figures['max']:>9.3f}{figures['mean']:>9.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="every measurement repeated, alternating")
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import openai

    from affectgpt_hf.inference.batch import load_model

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        (tmp / "media").mkdir()
        clips = write_clips(tmp / "media", args.clips)
        model_dir = write_model(tmp / "model")
        model, processor = load_model(model_dir)
        process, port = start_server(model_dir, tmp / "media", tmp / "server.log")
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=600)
        try:
            run_describe(model, processor, clips[:2], 1, args.max_tokens)  # warm-up, both sides
            run_clients(client, str(model_dir), clips[:2], 1, args.max_tokens)
            rows: list[tuple[str, dict]] = []
            reference: list[str] | None = None
            for round_ in range(args.rounds):
                for name, run in (
                    ("describe, 1 clip per call", lambda: run_describe(model, processor, clips, 1, args.max_tokens)),
                    ("serve, 1 client", lambda: run_clients(client, str(model_dir), clips, 1, args.max_tokens)),
                    ("serve, 8 clients", lambda: run_clients(client, str(model_dir), clips, 8, args.max_tokens)),
                    ("describe, batches of 8", lambda: run_describe(model, processor, clips, 8, args.max_tokens)),
                ):
                    figures, texts = run()
                    reference = reference or texts
                    if texts != reference and not name.endswith("batches of 8"):
                        raise RuntimeError(f"{name}: answers differ from describe's")
                    rows.append((f"{name} (round {round_ + 1})", figures))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"tiny sensitive model, {args.clips} clips x {args.max_tokens} tokens, CPU ({os.cpu_count()} cores); "
          "latencies in s")  # fmt: skip
    print(f"{'':<34}{'n':>5}{'req/s':>9}{'p50':>9}{'p90':>9}{'max':>9}{'mean':>9}")
    for name, figures in rows:
        print(line(name, figures))
    for round_ in range(args.rounds):
        one_d, one_s, eight_s, eight_d = (figures for _, figures in rows[4 * round_ : 4 * round_ + 4])
        print(f"round {round_ + 1}: serve/describe latency at 1 client {one_s['mean'] / one_d['mean']:.2f}x "
              f"({1000 * (one_s['mean'] - one_d['mean']):+.0f} ms a request); throughput 8 clients / describe "
              f"batch 8 {eight_s['per_s'] / eight_d['per_s']:.2f}x, 8 clients / 1 client "
              f"{eight_s['per_s'] / one_s['per_s']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
