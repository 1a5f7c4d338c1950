"""The benchmark's cache under its output folder, so that an interrupted run continues and a re-score runs no
inference:

    OUT/predictions/<ckpt>/run.json                  the checkpoint (path, files) and settings of the answers
    OUT/predictions/<ckpt>/<Dataset>.inputs.json     the test set's release (tables, media folders) they were made from
    OUT/predictions/<ckpt>/<Dataset>.jsonl           name, text (error) per clip, appended batch by batch
    OUT/predictions/<ckpt>/<Dataset>.rank<R>.jsonl   the same, one part per process, merged by the main process
    OUT/predictions/<ckpt>/<Dataset>.<mode>.jsonl    name, labels (sentiment), the answer's digest per clip and mode
    OUT/upstream/results-<dataset>/checkpoint_XXXXXX[-openset[-sentiment]].npz   upstream's layout, on request
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cache import stat_fingerprint
from ..utils.jsonl import read_jsonl, write_jsonl


def slug(text: str) -> str:
    """``text`` as a file-name part (runs of other characters become ``_``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")


def check_manifest(file: Path, wanted: dict[str, Any]) -> None:
    """Cached results are reused only when made from the same inputs: ``file`` is written on first use and must
    equal ``wanted`` afterwards."""
    if file.is_file():
        have = json.loads(file.read_text(encoding="utf-8"))
        if have != wanted:
            raise ValueError(
                f"{file.parent} holds answers made from {have}; this run asks for {wanted}. "
                "Use another --output-dir (or delete that folder) to run with these inputs"
            )
    else:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")


CHECKPOINT_FILES = ("*.safetensors", "*.bin", "*.json", "*.jinja", "*.py")
"""What a saved checkpoint's answers depend on (its model card, README.md, is rewritten by `affectgpt card`)."""


def checkpoint_fingerprint(path: str) -> str | None:
    """A cheap key of a local checkpoint folder's weights, configs and code (names, sizes, modification times), so
    answers cached for it are not reused once it is retrained in place; None for a Hub id."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    return stat_fingerprint(sorted({file for pattern in CHECKPOINT_FILES for file in folder.glob(pattern)}))


def answer_digest(text: str | None) -> str:
    """Keys a clip's extracted labels by the answer they were extracted from."""
    return hashlib.sha256((text or "").encode()).hexdigest()[:16]


def answer_files(folder: Path, dataset: str) -> list[Path]:
    """A set's answer file and the part files of processes that have not been merged yet."""
    return [folder / f"{dataset}.jsonl", *sorted(folder.glob(f"{dataset}.rank*.jsonl"))]


def part_file(folder: Path, dataset: str, rank: int, world: int) -> Path:
    """The answer file this process appends to: the set's own with one process, a part per rank with several."""
    return folder / (f"{dataset}.jsonl" if world == 1 else f"{dataset}.rank{rank}.jsonl")


def answered(folder: Path, dataset: str) -> set[str]:
    """Names of the clips whose answers are cached (in any part)."""
    return {row["name"] for part in answer_files(folder, dataset) for row in read_jsonl(part)}


def answer_row(answer: Any) -> dict[str, Any]:
    """The cached row of one :class:`inference.DescribeResult`: name, text, where its faces came from, its error."""
    row = {"name": answer.name, "text": answer.text}
    if getattr(answer, "subtitle_source", "given") != "given":  # subtitles from speech (--asr): which, and the text
        row.update(subtitle=answer.subtitle, subtitle_source=answer.subtitle_source)
    if getattr(answer, "face_source", None) is not None:
        row["face_source"] = answer.face_source
        row["frames_without_face"] = answer.frames_without_face
    if answer.error is not None:
        row["error"] = answer.error
    return row


def merge_answers(folder: Path, dataset: str, order: Sequence[str], what: str) -> dict[str, dict]:
    """Merge the processes' part files into the set's answer file (in ``order``, then any names beyond it) and return
    the rows of ``order`` by name; a clip without an answer is an error naming ``what`` was run."""
    answers: dict[str, dict] = {}
    parts = answer_files(folder, dataset)
    for part in parts:
        for row in read_jsonl(part):
            answers[row["name"]] = row
    missing = [name for name in order if name not in answers]
    if missing:
        raise RuntimeError(f"{what}: no answer for {len(missing)} clip(s) (first: {missing[:3]})")
    known = set(order)
    merged = [answers[name] for name in order] + [row for name, row in answers.items() if name not in known]
    if len(parts) > 1 or not parts[0].is_file():
        write_jsonl(parts[0], merged)
        for part in parts[1:]:
            part.unlink()
    return {name: answers[name] for name in order}


def labels_file(folder: Path, dataset: str, mode: str) -> Path:
    """The cache of labels (and sentiment) extracted from a set's answers by one extraction mode."""
    return folder / f"{dataset}.{slug(mode)}.jsonl"


def write_upstream_npz(
    out: Path, dataset: str, task: str, epoch: int, order: Sequence[str], texts: dict, extracted: dict
) -> None:
    """Upstream's result files for one checkpoint (unibench/files.py reads them; `affectgpt evaluate` scores the
    folder)."""
    import numpy as np

    folder = out / "upstream" / f"results-{dataset.lower()}"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"checkpoint_{epoch:06d}"
    np.savez_compressed(f"{stem}.npz", name2reason={n: texts[n].get("text") or "" for n in order})
    items = ["[" + ", ".join(extracted[n]["labels"]) + "]" for n in order]
    np.savez_compressed(f"{stem}-openset.npz", filenames=np.array(order), fileitems=np.array(items))
    if task == "sentiment":
        sentiments = [extracted[n]["sentiment"] for n in order]
        np.savez_compressed(f"{stem}-openset-sentiment.npz", filenames=np.array(order), fileitems=np.array(sentiments))


__all__ = [
    "CHECKPOINT_FILES",
    "answer_digest",
    "answer_files",
    "answer_row",
    "answered",
    "check_manifest",
    "checkpoint_fingerprint",
    "labels_file",
    "merge_answers",
    "part_file",
    "slug",
    "write_upstream_npz",
]
