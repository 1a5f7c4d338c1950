"""The quickstart over seeds and torch thread counts: per condition and per single-cue group, the mean, min and max
held-out hit rate, and how many runs meet the targets (issue 27).

Seeds stand in for machines (a CPU that rounds differently is another draw of the same process) and the thread count
changes the order of float reductions, so a setting that converges passes on every (seed, threads). Each run is a
fresh process, one at a time; its row (scores, wall time, load average) is appended to ``--jsonl``, and the table is
printed from that file, so an interrupted sweep can be summarised (``--summary-only``) or extended.

    python perf/bench_quickstart_sweep.py [--reduced] [--seeds 0,1,2,3,4] [--threads 1,2]
        [--set FIELD=VALUE ...] [--cue-mix JSON] [--voices JSON] [--label NAME] [--jsonl runs/sweep/quickstart.jsonl]
        [--summary-only]

``--set`` changes a `QuickstartSettings` field for the sweep (e.g. ``--set learning_rate=4e-3``); ``--cue-mix`` and
``--voices`` replace `data.toy.CUE_MIX` and voice styles of `data.toy.VOICES` in the runs' processes; ``--label``
names the setting in the JSONL (rows of one label are summarised together). The time target is met by a wall time
under 3 minutes or, on a loaded machine, by a 1-thread run's CPU seconds under 180.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CUE_GROUPS = ("face", "voice", "text")
# The targets for the full run.
MIN_ALL, MIN_SINGLE_CUE, MIN_BLANK_DROP, MAX_WALL_S = 0.95, 0.9, 0.10, 180.0

ONE_RUN = """
import json, sys, time, dataclasses
from affectgpt_hf.apps.quickstart import QuickstartSettings, run_quickstart
out, reduced, threads, overrides = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), json.loads(sys.argv[4])
import affectgpt_hf.data.toy as toy
if len(sys.argv) > 5 and sys.argv[5]:
    toy.CUE_MIX = tuple((share, tuple(cues)) for share, cues in json.loads(sys.argv[5]))
for emotion, style in (json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}).items():
    toy.VOICES[emotion] = toy.VoiceStyle(*style)
settings = QuickstartSettings.reduced() if reduced else QuickstartSettings()
settings = dataclasses.replace(settings, **overrides)
run_quickstart(out, settings, threads=threads)
"""


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def run_one(
    out: Path, reduced: bool, seed: int, threads: int, overrides: dict, cue_mix: str | None = None, voices: str = ""
) -> dict:
    """One quickstart in a fresh process -> the row: its scores by condition and cue group, wall time, load."""
    shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", ONE_RUN, str(out), "1" if reduced else "0", str(threads), json.dumps(overrides)]
        + [cue_mix or "", voices or "{}"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    report = json.loads((out / "report.json").read_text())
    row = {
        "seed": seed,
        "threads": threads,
        "wall_s": wall,
        "cpu_s": cpu,  # user + system seconds of the run's process and its children (less moved by load than wall)
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "settings": report["settings"],
        "hit_rate": {c: v["hit_rate"] for c, v in report["conditions"].items()},
        "ov_fscore": {c: v["ov_fscore"] for c, v in report["conditions"].items()},
        "held_out": report["clips"]["held_out"],
        "by_cues": report["conditions"]["all"]["hit_rate_by_cues"],
        "timings_s": report["timings_s"],
    }
    shutil.rmtree(out / "work", ignore_errors=True)
    return row


def meets_targets(row: dict) -> dict[str, bool]:
    """The issue's four targets for one run, and the reduced test's bar (tests/test_quickstart.py: each blanked input
    loses more than two clips in hit rate + OV F-score)."""
    rates, both = row["hit_rate"], {c: row["hit_rate"][c] + row["ov_fscore"][c] for c in row["hit_rate"]}
    return {
        "all": rates["all"] >= MIN_ALL,
        "cues": all((row["by_cues"].get(cue) or 0.0) >= MIN_SINGLE_CUE for cue in CUE_GROUPS),
        "blanks": all(rates["all"] - v >= MIN_BLANK_DROP for c, v in rates.items() if c != "all"),
        # on a loaded machine the wall time says little; a 1-thread run's CPU seconds are its unloaded wall time
        "time": row["wall_s"] < MAX_WALL_S or (row["threads"] == 1 and row.get("cpu_s", MAX_WALL_S) < MAX_WALL_S),
        "test bar": all(both["all"] > v + 2 * 2 / row["held_out"] for c, v in both.items() if c != "all"),
    }


def summary(rows: list[dict]) -> str:
    """Mean, min and max per condition and per single-cue group, the runs meeting each target, and wall times."""

    def line(name: str, values: list[float]) -> str:
        return f"| {name} | {statistics.mean(values):.3f} | {min(values):.3f} | {max(values):.3f} |"

    seeds, threads = sorted({r["seed"] for r in rows}), sorted({r["threads"] for r in rows})
    lines = [
        f"runs: {len(rows)} (seeds {seeds} x threads {threads})",
        "",
        "| held-out hit rate | mean | min | max |",
        "| --- | --- | --- | --- |",
    ]
    conditions = list(rows[0]["hit_rate"])
    lines += [line(condition, [r["hit_rate"][condition] for r in rows]) for condition in conditions]
    lines += [line(f"all, {cue} only", [r["by_cues"].get(cue) or 0.0 for r in rows]) for cue in CUE_GROUPS]
    for condition in conditions[1:]:
        lines.append(line(f"all - {condition}", [r["hit_rate"]["all"] - r["hit_rate"][condition] for r in rows]))
    lines.append(line("wall (s)", [r["wall_s"] for r in rows]))
    if all("cpu_s" in r for r in rows):
        lines.append(line("CPU time (s)", [r["cpu_s"] for r in rows]))
    loads = [value for r in rows for value in (r["load_before"], r["load_after"])]
    lines.append(f"\nload average (1 min) over the runs: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    targets = [meets_targets(r) for r in rows]
    lines.append(
        "runs meeting the full run's targets: "
        + ", ".join(f"{key} {sum(t[key] for t in targets)}/{len(rows)}" for key in targets[0])
        + f"; all four targets {sum(all(t[k] for k in ('all', 'cues', 'blanks', 'time')) for t in targets)}/{len(rows)}"
    )
    lines.append("")
    head = ["seed", "threads", "wall", "CPU", *conditions, "face / voice / text only"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("| --- " * len(head) + "|")
    for r in sorted(rows, key=lambda r: (r["seed"], r["threads"])):
        cues = " / ".join(f"{r['by_cues'].get(cue) or 0.0:.2f}" for cue in CUE_GROUPS)
        rates = " | ".join(f"{r['hit_rate'][c]:.3f}" for c in conditions)
        cpu = f"{r['cpu_s']:.0f} s" if "cpu_s" in r else "-"
        lines.append(f"| {r['seed']} | {r['threads']} | {r['wall_s']:.0f} s | {cpu} | {rates} | {cues} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="the test suite's reduced run instead of the full one")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--threads", default="1,2", help="torch thread counts")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a QuickstartSettings field")
    parser.add_argument("--cue-mix", default=None, help="JSON [[share, [cues...]], ...] in place of data.toy.CUE_MIX")
    parser.add_argument(
        "--voices", default="", help='JSON {"surprised": [f0, glide, arch, syllables_per_s, loudness, tilt, rough]}'
    )
    parser.add_argument("--label", default=None, help="name of the setting in the JSONL (default: from --set)")
    parser.add_argument("--output-dir", default="runs/sweep")
    parser.add_argument("--jsonl", default=None, help="rows file (default: OUTPUT_DIR/quickstart.jsonl)")
    parser.add_argument("--summary-only", action="store_true", help="print the table of the rows in --jsonl")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    overrides = {key: _value(value) for key, value in overrides.items()}
    from affectgpt_hf.apps.quickstart import QuickstartSettings

    fields = {f.name for f in dataclasses.fields(QuickstartSettings)} - {"seed"}
    if set(overrides) - fields:
        parser.error(f"--set {sorted(set(overrides) - fields)}: not QuickstartSettings fields {sorted(fields)}")
    kind = "reduced" if args.reduced else "full"
    label = args.label or ",".join(f"{k}={v}" for k, v in overrides.items()) or "default"
    jsonl = Path(args.jsonl or Path(args.output_dir) / "quickstart.jsonl")
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for threads in [int(t) for t in args.threads.split(",")]:
                out = Path(args.output_dir) / f"{kind}-seed{seed}-threads{threads}"
                row = run_one(out, args.reduced, seed, threads, {**overrides, "seed": seed}, args.cue_mix, args.voices)
                row.update(kind=kind, label=label, cue_mix=args.cue_mix, voices=args.voices or None)
                with jsonl.open("a") as file:
                    file.write(json.dumps(row) + "\n")
                rates = " ".join(f"{c} {v:.3f}" for c, v in row["hit_rate"].items())
                cues = " ".join(f"{cue} {row['by_cues'].get(cue) or 0.0:.2f}" for cue in CUE_GROUPS)
                print(f"seed {seed} threads {threads}: {row['wall_s']:.0f} s, {rates}; only {cues}", flush=True)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["kind"] == kind and r["label"] == label]
    print(f"\n{kind} quickstart, setting {label!r}")
    print(summary(rows))


if __name__ == "__main__":
    main()
