"""How quickly the command line answers: `affectgpt --help`, `affectgpt <command> --help` and `import affectgpt_hf`,
against `trl --help` (and `trl sft --help`, `accelerate --help`, `datasets-cli --help`), in one run, alternating.

Each command runs ``--repeats`` times as a fresh process, the runs of all commands interleaved so that load on the
machine weighs on each alike; the table gives the median wall time and its ratio to `trl --help`'s.

    .venv/bin/python perf/bench_cli.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
REFERENCES = [["trl", "--help"], ["trl", "sft", "--help"], ["accelerate", "--help"], ["datasets-cli", "--help"]]
OURS = [
    ["python", "-c", "import affectgpt_hf"],
    ["affectgpt", "--help"],
    *[
        ["affectgpt", *command.split(), "--help"]
        for command in (
            "describe",
            "benchmark",
            "evaluate",
            "train",
            "cache-features",
            "dataset build",
            "convert",
            "card",
            "faces extract",
            "toy-data",
            "quickstart",
            "demo",
        )
    ],
]


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([str(BIN / argv[0]), *argv[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    commands = REFERENCES + OURS
    times: dict[str, list[float]] = {" ".join(c): [] for c in commands}
    for _ in range(args.repeats):
        for command in commands:
            times[" ".join(command)].append(seconds(command))
    base = statistics.median(times["trl --help"])
    print(f"{'command':40s} {'median s':>9s} {'x trl --help':>13s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:40s} {median:9.3f} {median / base:13.2f}")


if __name__ == "__main__":
    main()
