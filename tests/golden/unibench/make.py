"""Recompute tests/golden/unibench_upstream.json with upstream AffectGPT's own scoring code in its pinned environment.

Every case's inputs (``predictions``, ``references``) are read from the golden file itself; every number beside them
(``upstream``, ``upstream_npz``) is recomputed by upstream's functions at commit fffca79:

- ovmer: ``my_affectgpt/evaluation/ew_metric.py::wheel_metric_calculation(name2gt=, name2pred=)`` (the mean over the
  five level-1 wheels of [F-score, precision, recall]) and, per wheel, ``wheel.py::calculate_openset_overlap_rate(
  metric="case3_wheel{k}_level1")``; ``upstream_npz``: the same through ``openset_npz=`` (an ``-openset.npz`` file);
- basic: ``ew_metric.py::hitrate_metric_calculation(name2gt=, name2pred=)`` -> [hit rate, M-score];
- sentiment: ``evaluation.py::calculate_dimension_zeroshot`` (its source executed as written; ``evaluation.py`` itself
  is a script, not importable) on an ``-openset.npz`` / ``-openset-sentiment.npz`` pair holding the predictions, so
  its LLM steps are skipped as upstream skips them when the files exist.

Run it with upstream's pinned venv (tests/golden/upstream/make.sh builds it), from anywhere:

    PYTHONPATH=$AFFECTGPT_UPSTREAM_ENV/shims $AFFECTGPT_UPSTREAM_ENV/venv/bin/python tests/golden/unibench/make.py \\
        --upstream $AFFECTGPT_UPSTREAM_ENV/src/AffectGPT [--check]

``--check`` exits 1 if any recomputed number differs from the file (nothing is written); without it the file is
rewritten. Upstream reads the emotion wheels from its own ``./emotion_wheel``, byte-identical to the pinned
``../shared/emotion_wheel`` (``SHA256SUMS``); the script checks that before scoring.

Modules upstream imports at the top of ew_metric.py but never calls in scoring (``vllm``) get an empty stand-in;
``openai`` is the shims folder's stub.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
import types
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "unibench_upstream.json"
COMMIT = "fffca794c6792023234565370e3f69f0488aede9"
WHEEL_FILES = ("format.csv", "synonym.xlsx", "wheel1.xlsx", "wheel2.xlsx", "wheel3.xlsx", "wheel4.xlsx", "wheel5.xlsx")
WHEELS = [f"case3_wheel{k}_level1" for k in range(1, 6)]
GENERATOR = (
    "tests/golden/unibench/make.py: upstream's scoring functions in its pinned venv (openpyxl 3.1.5 added to read "
    "the wheels), vllm stubbed, openai from the shims; see tests/golden/README.md"
)


def _load_upstream(src: Path, shared_wheels: Path | None):
    """Import upstream's scoring modules from ``src`` (working directory = src: its config reads ./emotion_wheel)."""
    if shared_wheels is not None:
        for name in WHEEL_FILES:
            ours = hashlib.sha256((shared_wheels / name).read_bytes()).hexdigest()
            theirs = hashlib.sha256((src / "emotion_wheel" / name).read_bytes()).hexdigest()
            if ours != theirs:
                raise SystemExit(f"{name}: upstream's wheel file differs from {shared_wheels / name}")
    os.chdir(src)
    sys.path.insert(0, str(src))
    vllm = types.ModuleType("vllm")  # imported at ew_metric.py's top for its LLM steps, unused by the scores
    vllm.LLM = vllm.SamplingParams = None
    sys.modules.setdefault("vllm", vllm)
    with contextlib.redirect_stdout(io.StringIO()):
        from my_affectgpt.evaluation import ew_metric, wheel
    return ew_metric, wheel


def _zeroshot_function(src: Path):
    """``calculate_dimension_zeroshot`` from evaluation.py, its source executed as written."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    tree = ast.parse((src / "evaluation.py").read_text(encoding="utf-8"))
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "calculate_dimension_zeroshot"]
    namespace = {"np": np, "os": os, "accuracy_score": accuracy_score, "f1_score": f1_score}
    exec(compile(ast.Module([node], type_ignores=[]), str(src / "evaluation.py"), "exec"), namespace)
    return namespace["calculate_dimension_zeroshot"]


def _names(values) -> list[str]:
    return [f"sample_{i:05d}" for i in range(len(values))]


def _ovmer(case: dict, ew_metric, wheel, tmp: Path) -> dict:
    import numpy as np

    names = _names(case["references"])
    name2gt = dict(zip(names, case["references"], strict=True))
    name2pred = dict(zip(names, case["predictions"], strict=True))
    quiet = {"format_mapping": ew_metric.format_mapping, "raw_mapping": ew_metric.raw_mapping, "inter_print": False}
    fscore, precision, recall = ew_metric.wheel_metric_calculation(
        name2gt=name2gt, name2pred=name2pred, inter_print=False
    )
    per_wheel = [
        list(wheel.calculate_openset_overlap_rate(name2gt=name2gt, name2pred=name2pred, metric=m, **quiet))
        for m in WHEELS
    ]
    out = dict(case)
    out["upstream"] = {
        "fscore": _number(fscore),
        "precision": _number(precision),
        "recall": _number(recall),
        "per_wheel_precision_recall": [[_number(p), _number(r)] for p, r in per_wheel],
    }
    if "upstream_npz" in case:  # predictions as upstream's -openset.npz holds them: one string per clip
        npz = tmp / "checkpoint_000001-openset.npz"
        np.savez_compressed(npz, filenames=np.array(names), fileitems=np.array(case["predictions"]))
        f2, p2, r2 = ew_metric.wheel_metric_calculation(name2gt=name2gt, openset_npz=str(npz), inter_print=False)
        out["upstream_npz"] = {"fscore": _number(f2), "precision": _number(p2), "recall": _number(r2)}
    return out


def _basic(case: dict, ew_metric) -> dict:
    names = _names(case["references"])
    name2gt = dict(zip(names, case["references"], strict=True))
    name2pred = dict(zip(names, case["predictions"], strict=True))
    hit, mscore = ew_metric.hitrate_metric_calculation(name2gt=name2gt, name2pred=name2pred, inter_print=False)
    return {**case, "upstream": {"hit_rate": _number(hit), "mscore": _number(mscore)}}


def _sentiment(case: dict, zeroshot, tmp: Path) -> dict:
    import numpy as np

    names = _names(case["references"])
    root = tmp / "checkpoint_000001.npz"
    np.savez_compressed(tmp / "checkpoint_000001-openset.npz", filenames=np.array(names), fileitems=np.array(names))
    np.savez_compressed(
        tmp / "checkpoint_000001-openset-sentiment.npz",
        filenames=np.array(names),
        fileitems=np.array(case["predictions"]),
    )
    name2gt = dict(zip(names, case["references"], strict=True))
    fscore, accuracy = zeroshot(str(root), name2gt, None, None, None, inter_print=False)
    return {**case, "upstream": {"weighted_f1": _number(fscore), "accuracy": _number(accuracy)}}


def _number(value) -> float | None:
    value = float(value)
    return None if value != value else value  # NaN (0/0 F-score) -> null, as the file stores it


def recompute(golden: dict, src: Path, shared_wheels: Path | None) -> dict:
    here = os.getcwd()
    try:
        ew_metric, wheel = _load_upstream(src, shared_wheels)
        zeroshot = _zeroshot_function(src)
        cases: dict = {"ovmer": {}, "basic": {}, "sentiment": {}}
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            for name, case in golden["cases"]["ovmer"].items():
                folder = Path(tmp) / f"ovmer-{name}"
                folder.mkdir()
                cases["ovmer"][name] = _ovmer(case, ew_metric, wheel, folder)
            for name, case in golden["cases"]["basic"].items():
                cases["basic"][name] = _basic(case, ew_metric)
            for name, case in golden["cases"]["sentiment"].items():
                folder = Path(tmp) / f"sentiment-{name}"
                folder.mkdir()
                cases["sentiment"][name] = _sentiment(case, zeroshot, folder)
    finally:
        os.chdir(here)
    return {**golden, "commit": COMMIT, "generator": GENERATOR, "cases": cases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, type=Path, help="upstream AffectGPT source at fffca79")
    parser.add_argument("--golden", type=Path, default=GOLDEN, help=f"the file to check or rewrite ({GOLDEN.name})")
    parser.add_argument(
        "--wheels",
        type=Path,
        default=GOLDEN.parents[2].parent / "shared" / "emotion_wheel",
        help="the pinned wheel files our tests use (compared byte for byte with upstream's)",
    )
    parser.add_argument("--check", action="store_true", help="compare with the file instead of rewriting it")
    args = parser.parse_args(argv)
    golden = json.loads(args.golden.read_text(encoding="utf-8"))
    fresh = recompute(golden, args.upstream.resolve(), args.wheels if args.wheels.is_dir() else None)
    if args.check:
        differ = [
            f"{task}/{name}"
            for task, cases in golden["cases"].items()
            for name, case in cases.items()
            if case != fresh["cases"][task][name]
        ]
        print(f"{len(differ)} of {sum(map(len, golden['cases'].values()))} cases differ: {differ}")
        return 1 if differ else 0
    args.golden.write_text(
        json.dumps(fresh, indent=1), encoding="utf-8"
    )  # the file's layout: indent 1, no final newline
    print(f"wrote {args.golden}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
