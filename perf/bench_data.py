"""Rows/s of building MER-Caption+ from a generated release, num_proc=1 against num_proc=2, in one run.

    python perf/bench_data.py [--rows 2000] [--verify-rows 200]

Two workloads: the default build (tables + container-byte checks of every media file) and ``verify_media=True``
(every clip, wav and face decoded through media.py). Each timing builds into a fresh cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from affectgpt_hf.data import build_dataset
from affectgpt_hf.data.mini_release import write_mini_release


def make_release(folder: Path, rows: int) -> Path:
    """A mer_caption_plus release of ``rows`` clips: 4 generated clips, hard-linked under every name."""
    root = write_mini_release(folder, "mer_caption_plus", count=4)
    seeds = sorted(p.stem for p in (root / "video").glob("*.mp4"))
    names = [f"sample_{index:08d}" for index in range(rows)]
    for index, name in enumerate(names):
        seed = seeds[index % 4]
        if name in seeds:
            continue
        os.link(root / "video" / f"{seed}.mp4", root / "video" / f"{name}.mp4")
        os.link(root / "audio" / f"{seed}.wav", root / "audio" / f"{name}.wav")
        (root / "openface_face" / name).mkdir()
        os.link(root / "openface_face" / seed / f"{seed}.npy", root / "openface_face" / name / f"{name}.npy")
    for table in ("subtitle_chieng.csv", "track2_train_mercaptionplus.csv", "track3_train_mercaptionplus.csv"):
        frame = pd.read_csv(root / table, dtype={"name": str})
        frame = pd.concat([frame] * (rows // 4 + 1), ignore_index=True).iloc[:rows]
        frame["name"] = names
        frame.to_csv(root / table, index=False)
    return root


def rows_per_second(root: Path, num_proc: int | None, verify: bool, rows: int) -> float:
    cache = tempfile.mkdtemp(prefix="bench-data-cache-")
    try:
        start = time.perf_counter()
        ds = build_dataset(root, "mer_caption_plus", split="train", num_proc=num_proc, verify_media=verify,
                           cache_dir=cache)  # fmt: skip
        elapsed = time.perf_counter() - start
        assert len(ds) == rows
        return rows / elapsed
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--verify-rows", type=int, default=200)
    args = parser.parse_args()
    import datasets

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        results = []
        for verify, rows in ((False, args.rows), (True, args.verify_rows)):
            root = make_release(Path(tmp) / f"release-{verify}", rows)
            one = rows_per_second(root, None, verify, rows)
            two = rows_per_second(root, 2, verify, rows)
            results.append((("decode via media.py" if verify else "default checks"), rows, one, two))
    print(f"{'workload':<22}{'rows':>7}{'num_proc=1 rows/s':>20}{'num_proc=2 rows/s':>20}{'ratio':>8}")
    for name, rows, one, two in results:
        print(f"{name:<22}{rows:>7}{one:>20.1f}{two:>20.1f}{two / one:>8.2f}")
    print(f"(cpu count: {os.cpu_count()})")


if __name__ == "__main__":
    main()
