"""Speed of MER-UniBench scoring: 10,000 OV samples on all 5 wheels, resource loading included, ours vs upstream.

Usage: python perf/bench_unibench.py [--upstream UPSTREAM_SRC] [--n 10000]
  --upstream (or $UPSTREAM_AFFECTGPT): the `AffectGPT/` folder of `git archive fffca79 AffectGPT`; its heavy imports
  (vllm, cv2, torchaudio, openai, transformers) are stubbed. Without it the upstream part is skipped with a message.
Needs $MER_UNIBENCH_WHEEL_DIR (or --wheel-dir). Prints figures measured side by side in one run; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path


def make_inputs(vocabulary: list[str], n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """n (prediction, reference) label strings in upstream's "[a, b]" form, with unknown words and neutral."""
    rng = random.Random(seed)
    extra = ["neutral", "blorf", "Happy", " sad "]

    def one() -> str:
        k = rng.randint(0, 5)
        return (
            "[" + ", ".join(rng.choice(vocabulary) if rng.random() < 0.9 else rng.choice(extra) for _ in range(k)) + "]"
        )

    return [one() for _ in range(n)], [one() for _ in range(n)]


def run_upstream(root: Path, wheel_dir: Path, preds: list[str], refs: list[str]) -> tuple[float, list[float]]:
    """Import upstream's ew_metric (which reads format.csv and synonym.xlsx at import), then score."""
    for name in ("cv2", "torchaudio", "openai", "vllm", "toolkit.globals", "transformers"):
        module = types.ModuleType(name)
        module.LLM = module.SamplingParams = module.AutoTokenizer = object
        sys.modules.setdefault(name, module)
    sys.path.insert(0, str(root))
    import config  # upstream's config.py

    config.EMOTION_WHEEL_ROOT = str(wheel_dir)
    import toolkit.utils.functions  # noqa: F401  (heavy third-party imports, outside the timed part)

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        from my_affectgpt.evaluation import ew_metric  # reads the resources at import

        names = [f"s{i}" for i in range(len(preds))]
        scores = ew_metric.wheel_metric_calculation(
            name2gt=dict(zip(names, refs, strict=True)),
            name2pred=dict(zip(names, preds, strict=True)),
            inter_print=False,
        )
    return time.perf_counter() - start, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    env = os.environ.get("AFFECTGPT_UPSTREAM_ENV")
    parser.add_argument(
        "--upstream",
        default=os.environ.get("UPSTREAM_AFFECTGPT") or (f"{env}/src/AffectGPT" if env else None),
        help="upstream AffectGPT's source (default: $UPSTREAM_AFFECTGPT, else $AFFECTGPT_UPSTREAM_ENV/src/AffectGPT)",
    )
    parser.add_argument("--wheel-dir", default=os.environ.get("MER_UNIBENCH_WHEEL_DIR"))
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    if not args.wheel_dir:
        sys.exit("set MER_UNIBENCH_WHEEL_DIR or pass --wheel-dir")
    os.environ["MER_UNIBENCH_WHEEL_DIR"] = args.wheel_dir
    warnings.filterwarnings("ignore")

    from affectgpt_hf.unibench import ovmer_scores, resources

    cache = tempfile.mkdtemp(prefix="unibench-bench-")
    vocabulary = sorted(resources.load_wheels(args.wheel_dir, cache_dir=cache).vocabulary)
    preds, refs = make_inputs(vocabulary, args.n)
    resources._MEMORY.clear()
    print(f"MER-UniBench OV scoring, {args.n} samples, 5 wheels, resource loading included")

    # ours, cold: no disk cache (xlsx parsed), then warm process start (JSON disk cache), then in-memory
    cold_dir = tempfile.mkdtemp(prefix="unibench-cold-")
    start = time.perf_counter()
    wheels = resources.load_wheels(args.wheel_dir, cache_dir=cold_dir)
    ours = ovmer_scores(preds, refs, wheels)
    t_cold = time.perf_counter() - start
    resources._MEMORY.clear()
    start = time.perf_counter()
    wheels = resources.load_wheels(args.wheel_dir, cache_dir=cold_dir)
    ovmer_scores(preds, refs, wheels)
    t_disk = time.perf_counter() - start
    start = time.perf_counter()
    ovmer_scores(preds, refs, wheels)
    t_mem = time.perf_counter() - start
    print(f"  ours, no cache (xlsx parsed)      : {t_cold:8.3f} s")
    print(f"  ours, disk cache (new process)    : {t_disk:8.3f} s")
    print(f"  ours, wheels in memory            : {t_mem:8.3f} s")

    import evaluate

    metric_dir = Path(__file__).resolve().parents[1] / "metrics" / "mer_unibench"
    start = time.perf_counter()
    module = evaluate.load(str(metric_dir), "ovmer")
    via_evaluate = module.compute(predictions=preds, references=refs)
    t_eval = time.perf_counter() - start
    print(f"  evaluate.load + compute           : {t_eval:8.3f} s")

    root = Path(args.upstream)
    if not (root / "my_affectgpt" / "evaluation" / "ew_metric.py").is_file():
        print(f"  upstream: skipped ({root} is not an exported AffectGPT/ folder; pass --upstream)")
        return
    t_up, up = run_upstream(root, Path(args.wheel_dir), preds, refs)
    print(f"  upstream fffca79 (import + score) : {t_up:8.3f} s")
    print(f"  speed-up, function level          : {t_up / t_disk:8.1f}x (disk cache), {t_up / t_cold:.1f}x (no cache)")
    print(f"  speed-up, evaluate.load + compute : {t_up / t_eval:8.1f}x")
    diff = max(abs(a - b) for a, b in zip(up, [ours["fscore"], ours["precision"], ours["recall"]], strict=True))
    print(f"  same scores: max |ours - upstream| = {diff:.2e}; evaluate fscore {via_evaluate['fscore']:.6f}")


if __name__ == "__main__":
    main()
