"""The full quickstart timed end to end, with the held-out hit rates whole and with each modality blanked.

Targets (issue 27): under 3 minutes on 2 CPU cores, held-out hit rate >= 0.95 with all modalities (chance 0.25), each
single-cue group >= 0.9, and black frames, silence and an empty subtitle each at least 0.10 lower; on every seed and
thread count (perf/bench_quickstart_sweep.py runs that grid). Prints the wall time of each stage, the scores per
condition, the torch thread count and the machine's load average before and after (other work on shared cores slows
every stage; compare runs only at similar load).

    python perf/bench_quickstart.py [--output-dir runs/bench-quickstart] [--reduced] [--threads 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

from affectgpt_hf.apps.quickstart import CHANCE, QuickstartSettings, run_quickstart


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="runs/bench-quickstart")
    parser.add_argument("--reduced", action="store_true", help="the test suite's reduced run instead of the full one")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target machine has 2 cores)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the toy data and the random towers")
    args = parser.parse_args()
    settings = QuickstartSettings.reduced() if args.reduced else QuickstartSettings()
    if args.seed is not None:
        settings = dataclasses.replace(settings, seed=args.seed)
    load_before = os.getloadavg()
    started = time.perf_counter()
    report = run_quickstart(args.output_dir, settings, threads=args.threads)
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    print()
    print(f"quickstart ({'reduced' if args.reduced else 'full'}): {wall:.1f} s wall on {args.threads} torch threads")
    print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in report["timings_s"].items()))
    print(f"  load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} cores")
    for condition, scores in report["conditions"].items():
        by_cues = json.dumps({k: None if v is None else round(v, 2) for k, v in scores["hit_rate_by_cues"].items()})
        print(
            f"  {condition:9s} hit rate {scores['hit_rate']:.3f} (chance {CHANCE:.2f})  "
            f"OV F {scores['ov_fscore']:.3f}  by cues {by_cues}"
        )
    full = report["conditions"]["all"]["hit_rate"]
    blanked = {c: s["hit_rate"] for c, s in report["conditions"].items() if c != "all"}
    single = [report["conditions"]["all"]["hit_rate_by_cues"].get(cue) or 0.0 for cue in ("face", "voice", "text")]
    print(
        f"  targets: wall < 180 s: {wall < 180}; hit rate >= 0.95: {full >= 0.95}; each single-cue group >= 0.9: "
        f"{min(single) >= 0.9}; every blanked modality 0.10 lower: {all(full - v >= 0.1 for v in blanked.values())}"
    )


if __name__ == "__main__":
    main()
