"""Reading predictions (our JSONL, upstream's result npz files) and references (upstream label files, built folders).

Upstream's layouts (AffectGPT fffca79): a results folder holds per epoch ``checkpoint_XXXXXX_loss_Y.npz``
(``name2reason``: name -> answer text), ``...-openset.npz`` (``filenames``, ``fileitems``: label strings from the
Qwen2.5 judge) and, for sentiment sets, ``...-openset-sentiment.npz`` (``fileitems``: positive/negative/neutral).
Label files: npz with a corpus dict name -> {'emo': str|int} or {'val': float}; OV-MERD+ ``ovlabel.csv``
(``name``, ``openset``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .benchsets import BenchSet
from .scores import valence_value

# what a prediction record carries, from least to most processed
TEXT, LABELS, SENTIMENT = "text", "labels", "sentiment"


@dataclass
class Predictions:
    """Per-sample predictions of one checkpoint: ``kind`` is text, labels or sentiment; ``source`` names how they
    were produced (for the report's extraction mode)."""

    values: dict[str, object]
    kind: str
    source: str
    path: str = ""
    epoch: str = ""
    extra: dict = field(default_factory=dict)


def _npz(path: Path):
    import numpy as np

    try:
        return np.load(path, allow_pickle=True)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable npz file: {error}") from None


def load_predictions_file(path: str | os.PathLike) -> Predictions:
    """One predictions file: JSONL (name + text | labels | sentiment) or an upstream npz (name2reason / openset /
    openset-sentiment)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file {path} does not exist")
    if path.suffix == ".npz":
        data = _npz(path)
        if "name2reason" in data.files:
            values = {str(k): str(v) for k, v in data["name2reason"].tolist().items()}
            return Predictions(values, TEXT, "upstream-name2reason", str(path))
        if "filenames" in data.files and "fileitems" in data.files:
            names, items = data["filenames"].tolist(), data["fileitems"].tolist()
            if len(names) != len(items):
                raise ValueError(f"{path}: filenames has {len(names)} entries, fileitems {len(items)}")
            values = {str(n): str(v) for n, v in zip(names, items, strict=True)}
            if path.name.endswith("-sentiment.npz"):
                return Predictions(values, SENTIMENT, "upstream-openset-sentiment", str(path))
            return Predictions(values, LABELS, "upstream-openset", str(path))
        raise ValueError(f"{path} holds {data.files}; expected 'name2reason' or 'filenames' + 'fileitems' (upstream)")
    if path.suffix in (".jsonl", ".json"):
        values: dict[str, object] = {}
        kinds = set()
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number} is not JSON: {error}") from None
                if not isinstance(row, dict) or "name" not in row:
                    raise ValueError(
                        f"{path}:{number} must be an object with 'name' and 'text', 'labels' or 'sentiment'"
                    )
                for kind in (SENTIMENT, LABELS, TEXT):
                    if row.get(kind) is not None:
                        kinds.add(kind)
                        values[str(row["name"])] = row[kind]
                        break
                else:
                    raise ValueError(f"{path}:{number} has none of 'text', 'labels', 'sentiment'")
        if len(kinds) > 1:
            raise ValueError(f"{path} mixes {sorted(kinds)} rows; give every row the same field")
        kind = kinds.pop() if kinds else TEXT
        return Predictions(values, kind, "labels-given" if kind != TEXT else "text", str(path))
    raise ValueError(f"predictions file {path} must be .jsonl or an upstream .npz")


_EPOCH = re.compile(r"^(checkpoint_\d+[^-]*?)(-openset)?(-sentiment)?\.npz$")


def find_epoch_files(folder: str | os.PathLike, task: str, use_text: bool) -> dict[str, Path]:
    """Upstream results folder -> {epoch file stem: the file to score}: the most processed file available
    (sentiment > openset > name2reason), or the name2reason file when ``use_text`` (a judge re-extracts)."""
    groups: dict[str, dict[str, Path]] = {}
    for path in sorted(Path(folder).glob("checkpoint_*.npz")):
        match = _EPOCH.match(path.name)
        if not match:
            continue
        level = "sentiment" if match.group(3) else "openset" if match.group(2) else "text"
        groups.setdefault(match.group(1), {})[level] = path
    order = ["text"] if use_text else (["sentiment", "openset", "text"] if task == "sentiment" else ["openset", "text"])
    chosen = {}
    for stem, files in groups.items():
        for level in order:
            if level in files:
                chosen[stem] = files[level]
                break
    if not chosen:
        raise FileNotFoundError(f"{folder} has no upstream checkpoint_*.npz result files")
    return chosen


# ----------------------------------------------------------------------------------------------------------------------
# References.

_COLUMN = {"ov": ("ov_labels", "openset"), "basic": ("emotion", "emo"), "sentiment": ("valence", "val")}


def _from_label_npz(path: Path, spec: BenchSet) -> dict[str, object]:
    data = _npz(path)
    key = spec.corpus_key
    if key not in data.files:
        raise ValueError(f"{path} has {data.files}; expected the corpus '{key}' of {spec.name}")
    corpus = data[key].tolist()
    if not isinstance(corpus, dict):
        raise ValueError(f"{path}['{key}'] is a {type(corpus).__name__}; expected a dict name -> {{'emo'|'val': ...}}")
    if spec.name == "IEMOCAPFour":  # upstream: Session 5 is the test split
        corpus = {n: v for n, v in corpus.items() if str(n)[4:5] == "5"}
    field_name = "val" if spec.task == "sentiment" else "emo"
    out: dict[str, object] = {}
    for name, entry in corpus.items():
        if not isinstance(entry, dict) or field_name not in entry:
            raise ValueError(f"{path}['{key}'][{name!r}] = {entry!r}; expected a dict with '{field_name}'")
        out[str(name)] = _reference_value(entry[field_name], spec, f"{path}[{name!r}]")
    return out


def _reference_value(value: object, spec: BenchSet, where: str) -> object:
    if spec.task == "sentiment":
        return valence_value(value, where)
    if spec.task == "basic" and not isinstance(value, str):
        if spec.emotions is None:
            raise ValueError(f"{where} = {value!r}: {spec.name} labels are strings; integer labels have no fixed order")
        try:
            return spec.emotions[int(value)]
        except (ValueError, TypeError, IndexError):
            raise ValueError(f"{where} = {value!r}; expected a label or an index into {spec.emotions}") from None
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    return value


def _from_table(frame, spec: BenchSet, where: str) -> dict[str, object]:
    if "name" not in frame.columns:
        raise ValueError(f"{where} has columns {list(frame.columns)}; expected 'name' and one of {_COLUMN[spec.task]}")
    for column in _COLUMN[spec.task]:
        if column in frame.columns:
            return {
                str(n): _reference_value(v, spec, f"{where}[{n!r}]")
                for n, v in zip(frame["name"], frame[column], strict=True)
            }
    raise ValueError(
        f"{where} has columns {list(frame.columns)}; {spec.name} ({spec.task}) needs one of {_COLUMN[spec.task]}"
    )


def _read_table(path: Path):
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix in (".jsonl", ".json"):
        return pd.read_json(path, lines=path.suffix == ".jsonl")
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"{path}: expected .npz, .csv, .parquet or .jsonl")


def load_references(path: str | os.PathLike, spec: BenchSet) -> dict[str, object]:
    """Gold values name -> label(s) or valence, from an upstream label file, a table, or a built data set folder."""
    path = Path(path)
    if path.is_dir():
        upstream = path / spec.label_file
        if upstream.is_file():
            return load_references(upstream, spec)
        tables = sorted(p for ext in ("parquet", "jsonl") for p in path.rglob(f"*.{ext}"))
        test_tables = [p for p in tables if "test" in p.relative_to(path).as_posix().lower()]
        tables = test_tables or tables
        if not tables:
            raise FileNotFoundError(f"{path} holds neither {spec.label_file} nor Parquet/JSONL tables")
        import pandas as pd

        frame = pd.concat([_read_table(p) for p in tables], ignore_index=True)
        return _from_table(frame, spec, str(path))
    if not path.is_file():
        raise FileNotFoundError(f"references {path} does not exist")
    if path.suffix == ".npz":
        return _from_label_npz(path, spec)
    return _from_table(_read_table(path), spec, str(path))
