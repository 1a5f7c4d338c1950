"""Training steps/s and peak memory: raw media (towers run every step) against cached encoder features, and the loss
from the model's logits at the supervised positions (the CPU default) against its logits at every position (as
before) and against TRL's fused LM head, in one run.

A ~95M-parameter config built from variant_config("tiny") with bigger sizes (Qwen2 width 512 x 10 layers, CLIP width
512 x 6, HuBERT width 512 x 6), random weights from a fixed seed, the paper recipe (LoRA on the language model +
trainable heads, towers frozen), fp32 on CPU, batch 2, dataloader in the main process. Each mode runs in its own
subprocess so that peak RSS (resource.getrusage maxrss) is its own; the one-off cost of `cache-features` is reported
too. ``--tiny`` times the quickstart's model instead (the tiny variant as it is, full training).

    .venv/bin/python perf/bench_training.py [--rows 8] [--steps 6] [--warmup 2] [--batch 2] [--lora true] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED = 42
TEXT = {
    "model_type": "qwen2",
    "vocab_size": 16416,
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 10,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}
VISION = {
    "model_type": "clip_vision_model",
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 6,
    "num_attention_heads": 8,
    "patch_size": 32,
    "image_size": 224,
    "projection_dim": 512,
}
AUDIO = {
    "model_type": "hubert",
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 6,
    "num_attention_heads": 8,
    "conv_dim": [512] * 7,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "conv_bias": True,
}


def write_model_folder(folder: Path, tiny: bool = False) -> int:
    """Config + processor of the benchmark model (no weights: every process makes the same seeded random init)."""
    import torch

    from affectgpt_hf import AffectGPTForConditionalGeneration
    from affectgpt_hf.hub.variants import variant_config, variant_processor

    sizes = {} if tiny else {"text_config": TEXT, "vision_config": VISION, "audio_config": AUDIO}
    config = variant_config("tiny", **sizes)
    config.save_pretrained(folder)
    variant_processor("tiny").save_pretrained(folder)
    with torch.device("meta"):
        return sum(p.numel() for p in AffectGPTForConditionalGeneration(config).parameters())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker_cache(model_dir: str, release: str, output: str) -> dict:
    from affectgpt_hf.training.cache_arguments import CacheFeaturesArguments
    from affectgpt_hf.training.features import cache_features_command

    start = time.perf_counter()
    cache_features_command(
        CacheFeaturesArguments(model=str(model_dir), dataset=str(release), output=str(output), batch_size=4, seed=SEED)
    )
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib()}


def worker_train(
    model_dir: str, data_dir: str, output: str, steps: int, warmup: int, batch: int, lora: str, fused: str
) -> dict:
    from transformers import TrainerCallback

    from affectgpt_hf.training import build_trainer, parse_train_args
    from affectgpt_hf.training import trainer as trainer_module

    if fused == "every-logit":  # the model's logits at every position: the non-fused loss before supervised_logits
        trainer_module.supervised_logits = lambda labels: {}
        fused = "false"

    argv = ["--model_name_or_path", model_dir, "--dataset_dir", data_dir, "--output_dir", output,
            "--use_lora", lora, "--max_steps", str(warmup + steps), "--per_device_train_batch_size", str(batch),
            "--learning_rate", "1e-4", "--bf16", "false", "--activation_checkpointing", "false", "--use_cpu", "true",
            "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "100",
            "--seed", str(SEED), "--fused_lm_head", fused]  # fmt: skip
    trainer = build_trainer(*parse_train_args(argv))
    times: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            times.append(time.perf_counter())

        def on_train_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter())

    trainer.add_callback(StepClock())
    trainer.train()
    # the clock of step k starts before its batch is collated (the dataloader is read inside the step loop)
    measured = times[warmup:]
    elapsed = measured[-1] - measured[0]
    return {"steps_per_s": steps / elapsed, "s_per_step": elapsed / steps, "peak_rss_mib": peak_rss_mib()}


def run_worker(*argv: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, __file__, "--worker", *argv], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"worker {argv[0]} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8, help="clips in the generated release")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--lora", default=None, help="true: the paper recipe; false: full training (default: false "
                        "with --tiny, else true)")  # fmt: skip
    parser.add_argument("--tiny", action="store_true", help="the quickstart's tiny model instead of the 96M config")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "cache":
            out = worker_cache(*rest)
        else:
            model_dir, data_dir, output, steps, warmup, batch, lora, fused = rest
            out = worker_train(model_dir, data_dir, output, int(steps), int(warmup), int(batch), lora, fused)
        print(json.dumps(out))
        return

    from affectgpt_hf.data.mini_release import write_mini_release

    lora = args.lora or ("false" if args.tiny else "true")

    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        tmp = Path(tmp)
        params = write_model_folder(tmp / "model", args.tiny)
        release = write_mini_release(tmp / "release", "mer_caption_plus", count=args.rows)
        cache = run_worker("cache", str(tmp / "model"), str(release), str(tmp / "features"))
        common = (str(args.steps), str(args.warmup), str(args.batch), lora)
        model, features = str(tmp / "model"), str(tmp / "features")
        raw = run_worker("train", model, str(release), str(tmp / "out-raw"), *common, "false")
        cached = run_worker("train", model, features, str(tmp / "out-cached"), *common, "false")
        every = run_worker("train", model, features, str(tmp / "out-every"), *common, "every-logit")
        fused = run_worker("train", model, features, str(tmp / "out-fused"), *common, "true")
    print(f"model: {params / 1e6:.1f}M parameters; LoRA {lora}; batch {args.batch}; {args.steps} timed steps "
          f"after {args.warmup}; {args.rows} clips of 1 s; fp32 CPU, {os.cpu_count()} cores")  # fmt: skip
    print(f"{'mode':<40}{'steps/s':>10}{'s/step':>10}{'peak RSS MiB':>14}")
    modes = (("raw media, supervised logits", raw), ("cached features, supervised logits", cached),
             ("cached features, every logit", every), ("cached features, fused LM head", fused))  # fmt: skip
    for name, result in modes:
        print(f"{name:<40}{result['steps_per_s']:>10.3f}{result['s_per_step']:>10.2f}{result['peak_rss_mib']:>14.0f}")
    print(f"speed-up cached / raw: {cached['steps_per_s'] / raw['steps_per_s']:.2f}x; "
          f"peak RSS ratio raw / cached: {raw['peak_rss_mib'] / cached['peak_rss_mib']:.2f}x")  # fmt: skip
    for name, other in (("every logit", every), ("fused LM head", fused)):
        print(f"speed-up supervised logits / {name} (cached features): "
              f"{cached['steps_per_s'] / other['steps_per_s']:.2f}x; peak RSS ratio {name} / supervised logits: "
              f"{other['peak_rss_mib'] / cached['peak_rss_mib']:.2f}x")  # fmt: skip
    seconds, rss = cache["seconds"], cache["peak_rss_mib"]
    print(f"cache-features (one-off, {args.rows} clips): {seconds:.1f} s, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
