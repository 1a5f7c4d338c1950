"""Reading predictions (our JSONL, upstream's result npz files) and references (upstream label files, built folders).

Upstream's layouts (AffectGPT fffca79): a results folder holds per epoch ``checkpoint_XXXXXX_loss_Y.npz``
(``name2reason``: name -> answer text), ``...-openset.npz`` (``filenames``, ``fileitems``: label strings from the
Qwen2.5 judge) and, for sentiment sets, ``...-openset-sentiment.npz`` (``fileitems``: positive/negative/neutral).
Label files: npz with a corpus dict name -> {'emo': str|int} or {'val': float}; OV-MERD+ ``ovlabel.csv``
(``name``, ``openset``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .benchsets import BenchSet
from .scores import valence_value

logger = logging.getLogger(__name__)

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


def _npz(path: Path) -> dict:
    """The file's arrays by name, read without running code (a pickled global is refused, naming the file)."""
    from ..utils.npz import load_npz

    return load_npz(path)


def load_predictions_file(path: str | os.PathLike) -> Predictions:
    """One predictions file: JSONL (name + text | labels | sentiment) or an upstream npz (name2reason / openset /
    openset-sentiment). Malformed files (empty, not UTF-8, wrong types, duplicated names) raise a ValueError naming
    the file and, for JSONL, the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"predictions file {path} is empty; expected JSONL rows or an upstream npz")
    if path.suffix == ".npz":
        return _npz_predictions(path)
    if path.suffix in (".jsonl", ".json"):
        return _jsonl_predictions(path)
    raise ValueError(f"predictions file {path} must be .jsonl or an upstream .npz")


def _strings(array, path: Path, key: str) -> list[str]:
    """A 1-D array of strings from an upstream npz (``filenames``, ``fileitems``) as a list."""
    values = array.tolist() if getattr(array, "ndim", 0) == 1 else None
    if values is None or not all(isinstance(v, str) for v in values):
        raise ValueError(
            f"{path}['{key}'] is a {getattr(array, 'shape', '?')} array of {array.dtype}; expected a "
            "1-D array of strings (upstream's layout)"
        )
    return values


def _npz_predictions(path: Path) -> Predictions:
    data = _npz(path)
    if "name2reason" in data:
        reasons = data["name2reason"].tolist()
        if not isinstance(reasons, dict):
            raise ValueError(f"{path}['name2reason'] is a {type(reasons).__name__}; expected a dict name -> text")
        bad = [(n, v) for n, v in reasons.items() if not isinstance(n, str) or not isinstance(v, str)]
        if bad:
            raise ValueError(
                f"{path}['name2reason'] has {len(bad)} non-text entries (first: {bad[0]!r}); expected "
                "name (str) -> answer text (str)"
            )
        return Predictions(reasons, TEXT, "upstream-name2reason", str(path))
    if "filenames" in data and "fileitems" in data:
        names, items = _strings(data["filenames"], path, "filenames"), _strings(data["fileitems"], path, "fileitems")
        if len(names) != len(items):
            raise ValueError(f"{path}: filenames has {len(names)} entries, fileitems {len(items)}")
        _check_unique(names, path)
        values = dict(zip(names, items, strict=True))
        if path.name.endswith("-sentiment.npz"):
            return Predictions(values, SENTIMENT, "upstream-openset-sentiment", str(path))
        return Predictions(values, LABELS, "upstream-openset", str(path))
    raise ValueError(f"{path} holds {list(data)}; expected 'name2reason' or 'filenames' + 'fileitems' (upstream)")


def _check_unique(names: list[str], path: Path) -> None:
    seen: set[str] = set()
    duplicated = [name for name in names if name in seen or seen.add(name)]
    if duplicated:
        raise ValueError(
            f"{path}: {len(duplicated)} duplicated name(s) (first: {duplicated[:5]}); expected one prediction per name"
        )


def _valid(kind: str, value: object) -> bool:
    """Whether a JSONL value has its field's type: text a string, labels a string or a list of strings, sentiment a
    string or a number."""
    if kind == TEXT:
        return isinstance(value, str)
    if kind == LABELS:
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


_EXPECTED = {TEXT: "a string", LABELS: "a list of strings or a label string", SENTIMENT: "a string or a number"}


def _jsonl_predictions(path: Path) -> Predictions:
    values: dict[str, object] = {}
    lines_of: dict[str, int] = {}
    failed: dict[str, int] = {}  # name -> line of an error row
    kinds = set()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{path}:{line} is not UTF-8 (invalid byte at offset {error.start}); expected UTF-8 JSONL"
        ) from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number} is not JSON: {error}") from None
        if not isinstance(row, dict) or "name" not in row:
            raise ValueError(f"{path}:{number} must be an object with 'name' and 'text', 'labels' or 'sentiment'")
        name = row["name"]
        if isinstance(name, bool) or not isinstance(name, (str, int)):
            raise ValueError(f"{path}:{number}: name {name!r} is a {type(name).__name__}; expected a string")
        name = str(name)
        if name in lines_of:
            raise ValueError(
                f"{path}:{number}: name {name!r} already given on line {lines_of[name]}; expected one "
                "prediction per name"
            )
        for kind in (SENTIMENT, LABELS, TEXT):
            if row.get(kind) is not None:
                if not _valid(kind, row[kind]):
                    raise ValueError(
                        f"{path}:{number}: {kind} of {name!r} is {row[kind]!r}; expected {_EXPECTED[kind]}"
                    )
                kinds.add(kind)
                values[name], lines_of[name] = row[kind], number
                break
        else:
            if not row.get("error"):
                raise ValueError(f"{path}:{number} has none of 'text', 'labels', 'sentiment'")
            failed[name] = lines_of[name] = number  # a clip that could not be read (an error row of the benchmark)
    if not values:
        if failed:
            raise ValueError(f"{path}: every row is a clip that could not be read (error rows); nothing to score")
        raise ValueError(f"predictions file {path} has no rows; expected JSONL rows (name + text|labels|sentiment)")
    if len(kinds) > 1:
        raise ValueError(f"{path} mixes {sorted(kinds)} rows; give every row the same field")
    kind = kinds.pop()
    if failed:  # scored as an empty answer, as the benchmark scores them
        if kind == SENTIMENT:
            name, number = next(iter(failed.items()))
            raise ValueError(f"{path}:{number}: {name!r} is an error row without a sentiment; expected a sentiment")
        logger.warning("%s: %d clip(s) could not be read (error rows), scored as empty answers", path, len(failed))
        values.update(dict.fromkeys(failed, "" if kind == TEXT else []))
    return Predictions(values, kind, "labels-given" if kind != TEXT else "text", str(path))


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
    from ..data.releases import label_corpus

    key = spec.label_split
    if key is None:
        raise ValueError(f"{path}: {spec.name} references are a table ({spec.label_file}), not a label npz")
    corpus = label_corpus(path, key)
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
