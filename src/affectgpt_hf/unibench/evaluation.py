"""Score one data set's predictions (one checkpoint or upstream's per-epoch folder) and write the report:
JSON, a Markdown table with the paper's AffectGPT rows beside ours, and a PNG chart."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..utils.report import BarChart, table_lines, write_report_files
from .benchsets import PAPER_AFFECTGPT_ROWS, PAPER_SECONDARY, PAPER_TABLE2, BenchSet, get_benchset
from .extraction import LabelExtractor, LexiconExtractor
from .files import LABELS, SENTIMENT, TEXT, Predictions, find_epoch_files, load_predictions_file, load_references
from .resources import load_wheels
from .scores import best_epoch, hit_rate, ovmer_scores, sentiment_scores


def score_predictions(
    predictions: Predictions,
    references: dict[str, object],
    spec: BenchSet,
    extractor: LabelExtractor | None = None,
    wheel_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Extract what is missing (labels, sentiment) and score against ``references`` (every reference name needs a
    prediction, as upstream requires). Returns the scores, the extraction mode, and sample counts."""
    missing = [name for name in references if name not in predictions.values]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(references)} reference samples have no prediction in "
            f"{predictions.path or 'the predictions'} (first: {missing[:5]}); expected one per reference name"
        )
    extra = [name for name in predictions.values if name not in references]
    if extra:
        raise ValueError(
            f"{len(extra)} predictions in {predictions.path or 'the predictions'} name no reference sample (first: "
            f"{extra[:5]}); expected the {len(references)} names of the references, no others"
        )
    names = list(references)
    values = [predictions.values[n] for n in names]
    gold = [references[n] for n in names]
    wheels = load_wheels(wheel_dir)
    kind, steps = predictions.kind, [predictions.source]
    if kind == TEXT:
        extractor = extractor or LexiconExtractor(wheels)
        values = extractor.extract_labels([str(v) for v in values])
        kind, steps = LABELS, [extractor.mode]
    if spec.task == "sentiment":
        if kind == LABELS:
            extractor = extractor or LexiconExtractor(wheels)
            values = extractor.extract_sentiment(values)
            steps.append(extractor.mode)
        scores = sentiment_scores(values, gold)
    elif kind == SENTIMENT:
        raise ValueError(f"{predictions.path}: sentiment predictions cannot be scored on {spec.name} ({spec.task})")
    elif spec.task == "basic":
        scores = hit_rate(values, gold, wheels)
    else:
        scores = ovmer_scores(values, gold, wheels)
    return {
        "scores": scores,
        "extraction_mode": " -> ".join(steps),
        "n_references": len(references),
        "n_predictions": len(predictions.values),
        "n_unused_predictions": len(set(predictions.values) - set(references)),
    }


def evaluate_dataset(
    predictions: str | os.PathLike,
    dataset: str,
    references: str | os.PathLike,
    extractor: LabelExtractor | None = None,
    wheel_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The report dict for one data set. ``predictions``: a file (one checkpoint) or an upstream results folder
    (every epoch scored; upstream's best epoch by the primary metric reported, labelled as such)."""
    spec = get_benchset(dataset)
    gold = load_references(references, spec)
    wheels = load_wheels(wheel_dir)
    judge_given = extractor is not None and not isinstance(extractor, LexiconExtractor)
    path = Path(predictions)
    if path.is_dir():
        per_epoch = {}
        for stem, file in find_epoch_files(path, spec.task, use_text=judge_given).items():
            result = score_predictions(load_predictions_file(file), gold, spec, extractor, wheel_dir)
            per_epoch[stem] = {**result, "file": str(file)}
        best, result = best_epoch({k: v["scores"] for k, v in per_epoch.items()}, spec.primary)
        chosen = per_epoch[best]
        protocol = "upstream best epoch per data set (argmax of the primary metric over the folder's epochs)"
    else:
        chosen = score_predictions(load_predictions_file(path), gold, spec, extractor, wheel_dir)
        per_epoch, best, protocol = {}, "", "single checkpoint"
    scores = chosen["scores"]
    main = {k: scores[k] for k in (spec.primary, *spec.secondary)}
    return {
        "dataset": spec.name,
        "task": spec.task,
        "primary_metric": spec.primary,
        "protocol": protocol,
        "best_epoch": best,
        "scores": main,
        "scores_x100": {k: round(100 * v, 2) for k, v in main.items()},
        "details": scores,
        "extraction_mode": chosen["extraction_mode"],
        "n_references": chosen["n_references"],
        "n_predictions": chosen["n_predictions"],
        "n_unused_predictions": chosen["n_unused_predictions"],
        "per_epoch": {
            k: {"scores": v["scores"], "extraction_mode": v["extraction_mode"]} for k, v in per_epoch.items()
        },
        "predictions": str(predictions),
        "references": str(references),
        "wheels": {"source": wheels.source, "sha256_digest": wheels.digest},
        "paper": paper_values(spec),
    }


def paper_values(spec: BenchSet) -> dict[str, dict[str, float]]:
    """The paper's AffectGPT numbers (×100) for this data set: Table 2 primary, Table 12 secondary where given."""
    out = {}
    for row in PAPER_AFFECTGPT_ROWS:
        values = {spec.primary: PAPER_TABLE2[row][spec.name]}
        values.update(PAPER_SECONDARY.get(row, {}).get(spec.name, {}))
        out[row] = values
    return out


def markdown_table(report: dict[str, Any]) -> str:
    """Ours beside the paper's AffectGPT rows (×100), one line per metric."""
    rows = list(report["paper"])
    lines = [
        f"# MER-UniBench: {report['dataset']} ({report['task']})",
        "",
        f"- protocol: {report['protocol']}" + (f" (best: {report['best_epoch']})" if report["best_epoch"] else ""),
        f"- extraction mode: {report['extraction_mode']}",
        f"- samples scored: {report['n_references']} references, {report['n_predictions']} predictions",
        "",
    ]
    table = []
    for metric, value in report["scores_x100"].items():
        paper = [report["paper"][r].get(metric) for r in rows]
        table.append([metric, f"{value:.2f}", *("" if p is None else f"{p:.2f}" for p in paper)])
    lines += table_lines(["metric", "ours", *(f"paper {r}" for r in rows)], table)
    return "\n".join(lines) + "\n"


def report_chart(report: dict[str, Any]) -> BarChart:
    """The primary metric: ours and the paper's AffectGPT rows, one bar each."""
    metric = report["primary_metric"]
    labels = ["ours", *report["paper"]]
    values = [report["scores_x100"][metric], *(v[metric] for v in report["paper"].values())]
    return BarChart(
        labels=labels,
        series={metric: values},
        title=f"{report['dataset']}: {metric}",
        ylabel=f"{metric} (x100)",
        colors=[["#c44e52"] + ["#4c72b0"] * (len(values) - 1)],
        value_labels=[metric],
        size=(6.0, 3.2),
        tick_rotation=15,
        tick_fontsize=8,
    )


def write_report(report: dict[str, Any], output_dir: str | os.PathLike) -> dict[str, Path]:
    """<Dataset>.json, <Dataset>.md and <Dataset>.png under ``output_dir``; returns their paths."""
    return write_report_files(output_dir, report["dataset"], report, markdown_table(report), report_chart(report))
