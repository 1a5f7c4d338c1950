"""The benchmark's report: per-set results -> the report dict (paper values beside this run, the settings and library
versions) -> OUT/benchmark.json, benchmark.md, benchmark.png, and OUT/samples/<Dataset>.jsonl (per clip: gold, text,
labels of the reported checkpoint)."""

from __future__ import annotations

import math
import os
import platform
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..unibench import DATASETS, PAPER_TABLE2, best_epoch, unibench_mean
from ..unibench.benchsets import PAPER_AFFECTGPT_ROWS, PAPER_SECONDARY, BenchSet
from ..utils.jsonl import write_jsonl
from ..utils.report import BarChart, table_lines, write_report_files
from .testsets import TestSet

if TYPE_CHECKING:
    from .arguments import BenchmarkConfig

SINGLE = "single checkpoint"
BEST_EPOCH = "upstream best epoch per data set (argmax of the primary metric over the checkpoints)"


@dataclass
class DatasetResult:
    """One set under one checkpoint: answers and extracted labels by name, scores, and how long describing took."""

    texts: dict[str, dict] = field(default_factory=dict)
    extracted: dict[str, dict] = field(default_factory=dict)
    scored: dict[str, Any] = field(default_factory=dict)
    described: int = 0
    seconds: float = 0.0


def versions() -> dict[str, str]:
    """Library versions, Python and the accelerator, for the report."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("affectgpt-hf", "torch", "transformers", "datasets", "accelerate", "peft", "av"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            pass
    import torch

    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


def choose_checkpoint(spec: BenchSet, per_checkpoint: dict[str, DatasetResult], tags: Sequence[str]) -> str:
    """The reported checkpoint of a set: the only one, or upstream's best epoch (argmax of the primary metric)."""
    if len(tags) == 1:
        return tags[0]
    keyed = {f"{i:04d}": per_checkpoint[tag].scored["scores"] for i, tag in enumerate(tags)}
    key, _ = best_epoch(keyed, spec.primary)
    return tags[int(key)]


def dataset_entry(
    spec: BenchSet, per_checkpoint: dict[str, DatasetResult], chosen: str, n_clips: int, out: Path
) -> dict[str, Any]:
    """A set's part of the report: the chosen checkpoint's scores (and every checkpoint's), failures, face sources,
    throughput, where its files are, and the paper's values."""
    tags = list(per_checkpoint)
    result = per_checkpoint[chosen]
    scores = result.scored["scores"]
    main = {k: scores[k] for k in (spec.primary, *spec.secondary)}
    failed = [n for n, row in result.texts.items() if row.get("error")]
    return {
        "task": spec.task,
        "primary_metric": spec.primary,
        "checkpoint": chosen,
        "scores": main,
        "scores_x100": {k: _x100(v) for k, v in main.items()},
        "details": scores,
        "per_checkpoint": {tag: {k: _x100(per_checkpoint[tag].scored["scores"][k]) for k in main} for tag in tags},
        "extraction_mode": result.scored["extraction_mode"],
        "n_clips": n_clips,
        "n_failed": len(failed),
        "failed": failed[:20],
        "face_sources": dict(Counter(row["face_source"] for row in result.texts.values() if "face_source" in row)),
        "throughput": {tag: _throughput(per_checkpoint[tag]) for tag in tags},
        "predictions": {tag: str(out / "predictions" / tag / f"{spec.name}.jsonl") for tag in tags},
        "samples": str(out / "samples" / f"{spec.name}.jsonl"),
        "paper": {row: PAPER_TABLE2[row][spec.name] for row in PAPER_AFFECTGPT_ROWS},
        "paper_secondary": PAPER_SECONDARY["AffectGPT (A,V,T)"].get(spec.name, {}),
    }


def asr_entry(
    spec: BenchSet, given: DatasetResult, heard: DatasetResult, asr: str, seconds: float | None
) -> dict[str, Any]:
    """What subtitles from speech cost one set: the reported checkpoint's scores on them beside its scores on the
    set's own subtitles (x100, and the difference), how many transcripts came out empty, and the transcription time."""
    scores = {k: _x100(heard.scored["scores"][k]) for k in (spec.primary, *spec.secondary)}
    own = {k: _x100(given.scored["scores"][k]) for k in scores}
    sources = Counter(row.get("subtitle_source", "") for row in heard.texts.values())
    return {
        "model": asr,
        "scores_x100": scores,
        "difference_x100": {k: None if None in (scores[k], own[k]) else round(scores[k] - own[k], 2) for k in scores},
        "empty_transcripts": sum(not row.get("subtitle") for row in heard.texts.values()),
        "subtitle_sources": dict(sources),
        "transcribe_seconds": None if seconds is None else round(seconds, 2),
    }


def build_report(
    config: BenchmarkConfig, checkpoints: Sequence[tuple[str, str]], sets: dict[str, Any], run: dict[str, Any]
) -> dict[str, Any]:
    """The report dict: the sets' entries, the MER-UniBench mean (all 9 sets) or the run's mean, and the settings;
    ``run`` holds what the runner decided (decoding, device, processes, extraction_mode)."""
    primary = {name: s["scores_x100"][s["primary_metric"]] for name, s in sets.items()}
    complete = len(sets) == len(DATASETS)
    mean = unibench_mean(primary) if complete else None
    return {
        "benchmark": "MER-UniBench",
        "protocol": BEST_EPOCH if len(checkpoints) > 1 else SINGLE,
        "model": _located(config.model),
        "checkpoints": [{"tag": tag, "path": _located(path)} for tag, path in checkpoints],
        "datasets": sets,
        "mean": None if mean is None else round(mean, 2),
        "mean_of_run": round(math.fsum(primary.values()) / len(primary), 2) if primary else None,
        "complete": complete,
        "limit": config.limit,
        "decoding": run["decoding"],
        "batch_size": config.batch_size,
        "dtype": config.dtype or "as saved",
        "quantization": config.quantization or "none",
        "device": run["device"],
        "processes": run["processes"],
        "extraction_mode": run["extraction_mode"],
        "data_root": _located(config.data_root),
        "versions": versions(),
        "command": " ".join(sys.argv),
    }


def _located(name: str | os.PathLike | None) -> str | None:
    """A local folder as its absolute path (the report is read from other folders: `affectgpt card`); a Hub id as
    given."""
    if name is None:
        return None
    return str(Path(name).expanduser().resolve()) if Path(name).expanduser().exists() else str(name)


def write_samples(out: Path, testset: TestSet, result: DatasetResult) -> None:
    """OUT/samples/<Dataset>.jsonl: per clip its gold value, subtitle, answer and extracted labels."""
    rows = []
    for clip in testset.clips:
        row = {"name": clip.name, "gold": testset.references[clip.name], "subtitle": clip.subtitle}
        row.update({k: v for k, v in result.texts[clip.name].items() if k != "name"})
        row.update({k: v for k, v in result.extracted[clip.name].items() if k != "name"})
        rows.append(row)
    folder = out / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / f"{testset.spec.name}.jsonl", rows)


def _x100(value: float) -> float:
    return round(100 * value, 2) if value == value else value


def _throughput(result: DatasetResult) -> dict[str, Any]:
    rate = round(result.described / result.seconds, 3) if result.seconds else None
    return {"clips": result.described, "seconds": round(result.seconds, 3), "clips_per_s": rate}


def strongest_peers() -> list[str]:
    """Per modality group of Table 2, the non-AffectGPT row with the highest mean."""
    best: dict[str, str] = {}
    for row, values in PAPER_TABLE2.items():
        if row.startswith("AffectGPT"):
            continue
        group = row[row.index("(") :]
        if group not in best or values["mean"] > PAPER_TABLE2[best[group]]["mean"]:
            best[group] = row
    return list(best.values())


def markdown_report(report: dict[str, Any]) -> str:
    """Table 2 rows (AffectGPT and the strongest peers) beside this run, then per-set details and the settings."""
    sets = report["datasets"]
    names = list(sets)
    lines = [
        f"# MER-UniBench: {report['model'] or report['checkpoints'][0]['path']}",
        "",
        f"- protocol: **{report['protocol']}**",
        f"- checkpoints: {', '.join(c['tag'] + ' (' + c['path'] + ')' for c in report['checkpoints'])}",
        f"- decoding: {report['decoding']['mode']}"
        + (f", seed {report['decoding']['seed']}" if report["decoding"]["seed"] is not None else "")
        + f"; generate {report['decoding']['generate_kwargs']}; batch {report['batch_size']}",
        f"- dtype {report['dtype']}, LLM quantization {report.get('quantization', 'none')}, device {report['device']}, "
        f"{report['processes']} process(es)",
        f"- extraction: {report['extraction_mode']}",
        *_face_source_line(sets),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
    ]
    if report["limit"] is not None:
        lines.append(f"- **limited run**: first {report['limit']} clips of each set; not comparable to the paper")
    lines += ["", "## Primary metrics (x100), paper Table 2 beside this run", ""]
    lines += _table2_lines(report)
    if len(report["checkpoints"]) > 1:
        lines += ["", "## Primary metric per checkpoint (x100); the chosen one per set in bold", ""]
        lines += _per_checkpoint_lines(report)
    lines += ["", "## All metrics (x100)", ""]
    headers = ["data set", "metric", "this run", "paper AffectGPT (A,V,T)", "checkpoint", "clips", "failed", "clips/s"]
    rows = []
    for name in names:
        s = sets[name]
        rate = s["throughput"][s["checkpoint"]]["clips_per_s"]
        for metric, value in s["scores_x100"].items():
            paper = PAPER_TABLE2["AffectGPT (A,V,T)"][name] if metric == s["primary_metric"] else None
            paper = s["paper_secondary"].get(metric, paper)
            rows.append(
                [name, metric, _cell(value), _cell(paper), s["checkpoint"], s["n_clips"], s["n_failed"], _cell(rate)]
            )
    lines += table_lines(headers, rows)
    lines += _asr_lines(sets)
    lines += ["", "Per-clip predictions: `samples/<data set>.jsonl`; cached answers: `predictions/<checkpoint>/`."]
    return "\n".join(lines) + "\n"


def _asr_lines(sets: dict[str, Any]) -> list[str]:
    """With --asr: each set's metrics on subtitles from speech beside those on its own subtitles."""
    heard = {name: s["asr"] for name, s in sets.items() if "asr" in s}
    if not heard:
        return []
    model = next(iter(heard.values()))["model"]
    lines = ["", f"## Subtitles from speech recognition ({model}) in place of the sets' own (x100)", ""]
    headers = ["data set", "metric", "own subtitles", "ASR subtitles", "difference", "empty transcripts", "ASR s"]
    rows = []
    for name, entry in heard.items():
        for metric, value in entry["scores_x100"].items():
            own = sets[name]["scores_x100"][metric]
            seconds = entry["transcribe_seconds"]
            rows.append([name, metric, _cell(own), _cell(value), _cell(entry["difference_x100"][metric]),
                         entry["empty_transcripts"], "cached" if seconds is None else _cell(seconds)])  # fmt: skip
    return lines + table_lines(headers, rows)


def _table2_lines(report: dict[str, Any]) -> list[str]:
    """Paper rows (means over the sets run when not all 9 ran) and this run's primary metrics."""
    sets, complete = report["datasets"], report["complete"]
    names = list(sets)
    mean_header = "Mean" if complete else f"Mean ({len(names)} of 9 sets)"
    rows = []
    for row in [*strongest_peers(), *PAPER_AFFECTGPT_ROWS]:
        values = PAPER_TABLE2[row]
        mean = values["mean"] if complete else math.fsum(values[n] for n in names) / len(names)
        rows.append([f"{row} (paper)", *(f"{values[n]:.2f}" for n in names), f"{mean:.2f}"])
    ours = [sets[n]["scores_x100"][sets[n]["primary_metric"]] for n in names]
    mean = report["mean"] if complete else report["mean_of_run"]
    rows.append(["**this run**", *(_cell(v) for v in ours), f"**{_cell(mean)}**"])
    return table_lines(["model", *(DATASETS[n].paper_column for n in names), mean_header], rows)


def _per_checkpoint_lines(report: dict[str, Any]) -> list[str]:
    """Each set's primary metric under every checkpoint, the reported one in bold."""
    tags = [c["tag"] for c in report["checkpoints"]]
    rows = []
    for name, s in report["datasets"].items():
        cells = []
        for tag in tags:
            value = _cell(s["per_checkpoint"][tag][s["primary_metric"]])
            cells.append(f"**{value}**" if tag == s["checkpoint"] else value)
        rows.append([name, *cells])
    return table_lines(["data set", *tags], rows)


def _face_source_line(sets: dict[str, Any]) -> list[str]:
    """The report names where face crops came from: OpenFace .npy, built-in (faces.py) or frames (no face found)."""
    total = Counter()
    for entry in sets.values():
        total.update(entry.get("face_sources") or {})
    if not total:
        return []
    note = " (built-in crops approximate OpenFace's; not the paper's input)" if total.get("builtin") else ""
    return ["- face source: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) + note]


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return "nan" if value != value else f"{value:.2f}"


def benchmark_chart(report: dict[str, Any]) -> BarChart:
    """Grouped bars per data set (and the mean): this run, AffectGPT (A,V,T) and the strongest A,V,T peer."""
    sets = report["datasets"]
    names = list(sets)
    ours = [sets[n]["scores_x100"][sets[n]["primary_metric"]] for n in names]
    ours.append(report["mean"] if report["complete"] else report["mean_of_run"])
    series = {"this run": ours}
    for row in ("AffectGPT (A,V,T)", strongest_peers()[-1]):
        values = [PAPER_TABLE2[row][n] for n in names]
        series[f"{row} (paper)"] = [*values, math.fsum(values) / len(values)]
    labels = [DATASETS[n].paper_column for n in names] + ["Mean"]
    return BarChart(
        labels=labels,
        series=series,
        title=f"MER-UniBench ({report['protocol'].split(' (')[0]})",
        ylabel="primary metric (x100)",
        colors=["#c44e52", "#4c72b0", "#8c8c8c"],
        legend={"fontsize": 7, "loc": "upper left", "ncols": 3},
        size=(max(6.0, 1.1 * len(labels)), 3.8),
        tick_rotation=20,
        tick_fontsize=8,
        title_fontsize=9,
    )


def write_benchmark_report(report: dict[str, Any], output_dir: str | os.PathLike) -> dict[str, Path]:
    """benchmark.json, benchmark.md and benchmark.png under ``output_dir``; returns their paths."""
    return write_report_files(output_dir, "benchmark", report, markdown_report(report), benchmark_chart(report))


__all__ = [
    "BEST_EPOCH",
    "SINGLE",
    "DatasetResult",
    "benchmark_chart",
    "build_report",
    "choose_checkpoint",
    "dataset_entry",
    "markdown_report",
    "strongest_peers",
    "versions",
    "write_benchmark_report",
    "write_samples",
]
