"""Speed of reading upstream's npz files without running code: ``affectgpt_hf.npz.load_npz`` (restricted unpickler)
against ``np.load(allow_pickle=True)``, on a 5,000-name upstream results file (``name2reason``: name -> answer text) and
a 5,000-name label file (name -> {'emo': str} / {'val': float}), both read whole.

Usage: python perf/bench_npz.py [--n 5000] [--repeats 20]
Prints the median time of each reader, measured alternately in one run, and their ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from affectgpt_hf.utils.npz import load_npz


def write_files(folder: Path, n: int, seed: int = 0) -> dict[str, Path]:
    """An upstream-style results npz and label npz of ``n`` names (answers of a few hundred characters)."""
    rng = random.Random(seed)
    words = "the person looks calm happy sad worried angry surprised tone voice face smile frown".split()
    names = [f"sample_{i:08d}" for i in range(n)]
    reasons = {name: " ".join(rng.choice(words) for _ in range(rng.randint(20, 80))) for name in names}
    labels = {name: {"emo": rng.choice(words), "val": float(np.float32(rng.uniform(-3, 3)))} for name in names}
    paths = {"name2reason": folder / "checkpoint_000030_loss_0.600.npz", "labels": folder / "label.npz"}
    np.savez_compressed(paths["name2reason"], name2reason=reasons)
    np.savez_compressed(paths["labels"], test_corpus=labels)
    return paths


def numpy_read(path: Path) -> dict:
    with np.load(path, allow_pickle=True) as archive:
        return {key: archive[key] for key in archive.files}


def median_time(read, path: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        read(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(Path(folder), args.n)
        for kind, path in paths.items():
            ours, theirs = load_npz(path), numpy_read(path)
            assert {k: v.tolist() for k, v in ours.items()} == {k: v.tolist() for k, v in theirs.items()}
            numpy_times, our_times = [], []
            for _ in range(3):  # alternate, so that load on the machine falls on both
                numpy_times.append(median_time(numpy_read, path, args.repeats))
                our_times.append(median_time(load_npz, path, args.repeats))
            numpy_s, ours_s = min(numpy_times), min(our_times)
            print(
                f"{kind:12s} {args.n} names, {path.stat().st_size / 1e3:.0f} kB: np.load(allow_pickle=True) "
                f"{numpy_s * 1e3:.2f} ms, load_npz {ours_s * 1e3:.2f} ms, ratio {ours_s / numpy_s:.2f}x"
            )


if __name__ == "__main__":
    main()
