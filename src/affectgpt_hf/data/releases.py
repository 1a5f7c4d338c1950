"""Read an upstream release folder into plain row dicts (names, texts, labels, media paths), checking every row.

Bad rows (missing media, an unparsable ``openset``, a missing description or subtitle row, a broken media file) are
collected and reported together, naming each clip: an error by default, or with ``skip_missing=True`` a warning that
counts and names the skipped rows. Nothing is dropped silently.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..prompt import parse_label_string
from ..utils.npz import load_npz
from .layouts import ReleaseLayout, get_layout

MEDIA_KINDS = ("video", "audio", "face")
_SHOWN_NAMES = 50

# Leading bytes of each container, checked without decoding (decoding belongs to media.py: verify_media=True).
_MAGIC = {
    ".mp4": lambda head: len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"),
    ".avi": lambda head: head[:4] == b"RIFF" and head[8:12] == b"AVI ",
    ".wav": lambda head: head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE",
    ".npy": lambda head: head[:6] == b"\x93NUMPY",
}

# IEMOCAP's splits (layouts.IEMOCAP_SPLITS): the ``whole_corpus`` names whose 5th character is one of these session
# digits, as upstream.
_SESSIONS = {"session5": "5", "sessions1-4": "1234"}


class ReleaseError(ValueError):
    """Rows of a release that cannot be used; ``problems`` holds (name, reason) pairs."""

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.problems = list(problems)


def format_problems(where: str, problems: Sequence[tuple[str, str]]) -> str:
    """One message naming every bad row (the first 50 in full, then a count)."""
    lines = [f"  {name}: {reason}" for name, reason in problems[:_SHOWN_NAMES]]
    if len(problems) > _SHOWN_NAMES:
        lines.append(f"  ... and {len(problems) - _SHOWN_NAMES} more")
    return f"{where}: {len(problems)} bad row(s):\n" + "\n".join(lines)


def report_problems(where: str, problems: Sequence[tuple[str, str]], skip_missing: bool) -> None:
    """Raise a ReleaseError naming the rows, or warn (count and names) when ``skip_missing``."""
    if not problems:
        return
    message = format_problems(where, problems)
    if not skip_missing:
        raise ReleaseError(message + "\nFix the release, or pass skip_missing=True to skip these rows.", problems)
    warnings.warn(f"skipping {len(problems)} row(s) of {message}", stacklevel=3)


def read_csv(path: str | os.PathLike, columns: Iterable[str] = ("name",)) -> pd.DataFrame:
    """A UTF-8 CSV with its ``name`` column as text; errors name the file and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected a CSV of the upstream release")
    try:
        frame = pd.read_csv(path, encoding="utf-8", dtype={"name": str})
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text (invalid byte at offset {error.start}); expected a UTF-8 CSV (re-save as UTF-8)"
        ) from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{path} is not a readable CSV ({str(error).strip()}); expected the release's table") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{path} has no column(s) {missing}; found {list(frame.columns)}")
    return frame


def _text_or_empty(value: object) -> str:
    """Upstream's subtitle rule: NaN -> ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _by_name(frame: pd.DataFrame, path: Path, where: str) -> dict[str, pd.Series]:
    """Rows keyed by name; duplicated names keep the last row (upstream's dict) and are warned about."""
    names = frame["name"].astype(str)
    duplicated = sorted(set(names[names.duplicated()]))
    if duplicated:
        warnings.warn(
            f"{path}: {len(duplicated)} duplicated name(s), last row kept: {duplicated[:_SHOWN_NAMES]}",
            stacklevel=2,
        )
    return {name: row for name, (_, row) in zip(names, frame.iterrows(), strict=True)}


def parse_openset(value: object) -> list[str]:
    """An ``openset`` cell as a label list (upstream's string_to_list); ValueError when it cannot be one."""
    labels = parse_label_string(value)
    bad = [label for label in labels if any(char in label for char in "[]{}")]
    if bad:
        raise ValueError(f"openset {value!r} is not a flat list of labels (stray brackets in {bad})")
    return labels


def read_label_npz(path: Path, key: str) -> dict[str, dict]:
    """``np.load(path, allow_pickle=True)[key]`` without running code: upstream's name -> {'emo'|'val': ...} dict."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; expected the set's label npz")
    archive = load_npz(path)
    if key not in archive:
        raise ValueError(f"{path} has no {key!r} array; found {list(archive)}")
    corpus = archive[key].tolist()
    if not isinstance(corpus, dict):
        raise ValueError(f"{path}[{key!r}] is a {type(corpus).__name__}; expected a dict name -> label")
    return corpus


def _subtitles(layout: ReleaseLayout, root: Path, names: Sequence[str]) -> tuple[dict, list[tuple[str, str]]]:
    path = root / layout.subtitle_csv
    frame = read_csv(path, ("name", layout.subtitle_columns[layout.model_subtitle]))
    rows = _by_name(frame, path, layout.name)
    present = {ours: theirs for ours, theirs in layout.subtitle_columns.items() if theirs in frame.columns}
    out, problems = {}, []
    for name in names:
        row = rows.get(name)
        if row is None:
            problems.append((name, f"no row in {path.name}"))
            continue
        subtitles = {column: None for column in ("subtitle_en", "subtitle_zh")}
        subtitles.update({ours: _text_or_empty(row[theirs]) for ours, theirs in present.items()})
        subtitles["subtitle"] = subtitles[layout.model_subtitle]
        out[name] = subtitles
    return out, problems


def media_paths(layout: ReleaseLayout, root: Path, name: str) -> dict[str, str | None]:
    """Paths of a clip's video, audio and face files in the layout (the video's first existing extension)."""
    candidates = [root / layout.video_dir / f"{name}{ext}" for ext in layout.video_exts]
    video = next((path for path in candidates if path.exists()), candidates[0])
    return {
        "video": str(video),
        "audio": str(root / layout.audio_dir / f"{name}.wav"),
        "face": str(root / layout.face_pattern.format(name=name)),
    }


def media_problem(path: str, verify: bool = False) -> str | None:
    """Why a media file cannot be used (missing, empty, wrong container bytes, or undecodable), else None."""
    if not os.path.isfile(path):
        return f"missing {path}"
    if os.path.getsize(path) == 0:
        return f"empty file {path}"
    check = _MAGIC.get(os.path.splitext(path)[1].lower())
    if check is not None:
        with open(path, "rb") as handle:
            head = handle.read(16)
        if not check(head):
            return f"broken file {path} (not a {os.path.splitext(path)[1]} container)"
    if verify:
        from .. import media

        try:
            if path.endswith(".npy"):
                media.load_faces(path)
            elif path.endswith(".wav"):
                media.load_audio(path)
            else:
                media.sample_video_frames(path, num_frames=1, size=(32, 32))
        except (ValueError, OSError) as error:
            return f"undecodable {path}: {error}"
    return None


def read_release(
    name: str,
    data_dir: str | os.PathLike,
    split: str | None = None,
    annotations: str | os.PathLike | None = None,
    media: Sequence[str] = MEDIA_KINDS,
    skip_missing: bool = False,
) -> list[dict]:
    """Rows of one split of a release: text, labels and media paths; table-level problems checked here.

    ``media`` names the media kinds each row must have on disk (the others become None). Media *content* is checked
    by :func:`check_rows` (the builder runs it in parallel shards).
    """
    layout = get_layout(name)
    root = resolve_release_dir(data_dir, layout.name)
    split = split or layout.default_splits[0]
    if split not in layout.splits:
        raise ValueError(f"{layout.name} has no split {split!r}; expected one of {sorted(layout.splits)}")
    unknown = [kind for kind in media if kind not in MEDIA_KINDS]
    if unknown:
        raise ValueError(f"media kinds {unknown} are unknown; expected a subset of {MEDIA_KINDS}")
    where = f"{layout.name}/{split} ({root})"
    rows, problems = _label_rows(layout, root, split, annotations)
    names = list(rows)
    subtitles, subtitle_problems = _subtitles(layout, root, names)
    problems += subtitle_problems
    bad = {name for name, _ in problems}
    records = []
    for clip in names:
        if clip in bad:
            continue
        paths = media_paths(layout, root, clip)
        missing = [f"missing {paths[kind]}" for kind in media if not os.path.isfile(paths[kind])]
        if missing:
            problems.append((clip, "; ".join(missing)))
            continue
        record = {"name": clip, **subtitles[clip], **rows[clip]}
        record.update({kind: (paths[kind] if kind in media else None) for kind in MEDIA_KINDS})
        records.append(record)
    report_problems(where, problems, skip_missing)
    return records


def check_rows(records: Iterable[dict], where: str, verify: bool = False, skip_missing: bool = False) -> list[dict]:
    """Records whose media files look sound (container bytes; with ``verify`` decoded through media.py)."""
    good, problems = [], []
    for record in records:
        reasons = [media_problem(record[kind], verify) for kind in MEDIA_KINDS if record.get(kind)]
        reasons = [reason for reason in reasons if reason]
        if reasons:
            problems.append((record["name"], "; ".join(reasons)))
        else:
            good.append(record)
    report_problems(where, problems, skip_missing)
    return good


def resolve_release_dir(data_dir: str | os.PathLike, name: str) -> Path:
    """The release folder: ``data_dir`` itself, or ``data_dir/<upstream folder name>`` (a ``../dataset`` root)."""
    root = Path(data_dir).expanduser()
    layout = get_layout(name)
    nested = root / layout.folder
    if nested.is_dir() and not (root / (layout.subtitle_csv or "")).is_file():
        root = nested
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; expected the {layout.name} release ({layout.folder}/)")
    if root != nested and not any((root / marker).exists() for marker in _markers(layout)):
        raise FileNotFoundError(
            f"{layout.name}: no {layout.folder}/ under {root}, nor is {root} that release itself (it has none of "
            f"{', '.join(_markers(layout))}); expected a data root holding {layout.folder}/ or the release folder"
        )
    return root


def _markers(layout: ReleaseLayout) -> list[str]:
    """What a release folder of ``layout`` holds at its top: its label file, subtitle CSV, video folder."""
    return [marker for marker in (layout.label_file, layout.subtitle_csv, layout.video_dir) if marker]


def _label_rows(
    layout: ReleaseLayout, root: Path, split: str, annotations: str | os.PathLike | None
) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """name -> task columns (description / ov_labels / emotion / valence), in upstream's name order."""
    if layout.task in ("caption", "ov"):
        return _csv_label_rows(layout, root, annotations)
    return _npz_label_rows(layout, root, layout.splits[split])


def _csv_label_rows(
    layout: ReleaseLayout, root: Path, annotations: str | os.PathLike | None
) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """The caption and OV sets' rows from their label CSV: ``ov_labels`` (None where the CSV has no ``openset``) and
    the caption sets' ``description``."""
    label_path = _label_csv_path(layout, root, annotations)
    frame = read_csv(label_path, ("name",))
    has_openset = "openset" in frame.columns
    if layout.task == "ov" and not has_openset:
        raise ValueError(f"{label_path} has no 'openset' column; found {list(frame.columns)}")
    descriptions = _descriptions(layout, root, frame, label_path) if layout.task == "caption" else None
    rows: dict[str, dict] = {}
    problems: list[tuple[str, str]] = []
    for clip, row in _by_name(frame, label_path, layout.name).items():
        record: dict = {"ov_labels": None}  # None: the source has no labels (not "no emotion")
        if has_openset:
            try:
                record["ov_labels"] = parse_openset(row["openset"])
            except ValueError as error:
                problems.append((clip, f"{label_path.name}: {error}"))
                continue
        if descriptions is not None:
            text = descriptions.get(clip)
            if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
                problems.append((clip, "no description (reason)"))
                continue
            record["description"] = str(text)
        rows[clip] = record
    if layout.names_from_subtitles:
        rows, unlabelled = _in_subtitle_order(layout, root, rows, label_path)
        problems += unlabelled
    return rows, problems


def _in_subtitle_order(
    layout: ReleaseLayout, root: Path, rows: dict[str, dict], label_path: Path
) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """``rows`` of the subtitle CSV's names in its order (upstream's test names), and those without a label row."""
    subtitle_names = read_csv(root / layout.subtitle_csv)["name"].astype(str).tolist()
    unlabelled = [(clip, f"no row in {label_path.name}") for clip in subtitle_names if clip not in rows]
    return {clip: rows[clip] for clip in subtitle_names if clip in rows}, unlabelled


def _label_csv_path(layout: ReleaseLayout, root: Path, annotations: str | os.PathLike | None) -> Path:
    """The layout's label CSV, or for a layout without one (MER-Caption) the user's ``annotations`` CSV."""
    if not layout.needs_annotations:
        return root / layout.label_file
    if annotations is None:
        raise ValueError(
            f"{layout.name} has no fixed annotation file upstream; pass annotations=CSV (--annotations) with "
            "columns name, reason (or description) and optionally openset"
        )
    return Path(annotations)


def _descriptions(layout: ReleaseLayout, root: Path, frame: pd.DataFrame, label_path: Path) -> dict[str, object]:
    """name -> description: the ``reason`` column of the layout's description file if it names one, else the label
    table's own ``reason`` (or ``description``) column."""
    if "description_file" in layout.extra:
        frame = read_csv(root / layout.extra["description_file"], ("name", "reason"))
        column = "reason"
    else:
        column = next((c for c in ("reason", "description") if c in frame.columns), None)
        if column is None:
            raise ValueError(f"{label_path} has no 'reason' or 'description' column; found {list(frame.columns)}")
    return {str(name): text for name, text in zip(frame["name"], frame[column], strict=True)}


def _npz_label_rows(layout: ReleaseLayout, root: Path, source: str) -> tuple[dict[str, dict], list[tuple[str, str]]]:
    """The emotion and sentiment sets' rows from the label npz's ``source`` split (or IEMOCAP's sessions)."""
    label_path = root / layout.label_file
    corpus = label_corpus(label_path, source)
    rows: dict[str, dict] = {}
    problems: list[tuple[str, str]] = []
    for clip, value in corpus.items():
        clip = str(clip)
        try:
            rows[clip] = _label_value(layout, value)
        except ValueError as error:
            problems.append((clip, f"{label_path.name}[{source}]: {error}"))
    return rows, problems


def label_corpus(label_path: Path, source: str) -> dict[str, dict]:
    """The name -> label entries of one split of a label npz: the array ``source`` (``test1_corpus``, ...), or for
    IEMOCAP's ``session5`` / ``sessions1-4`` the ``whole_corpus`` entries of those sessions (a name's 5th character is
    its session)."""
    if source not in _SESSIONS:
        return read_label_npz(label_path, source)
    corpus = read_label_npz(label_path, "whole_corpus")
    not_session = [clip for clip in corpus if len(clip) < 5 or not clip[4].isdigit()]
    if not_session:
        raise ValueError(f"{label_path}: names {not_session[:10]} carry no session digit at position 5")
    return {clip: value for clip, value in corpus.items() if clip[4] in _SESSIONS[source]}


def _label_value(layout: ReleaseLayout, value: object) -> dict:
    key = "val" if layout.task == "sentiment" else "emo"
    if not isinstance(value, dict) or key not in value:
        raise ValueError(f"label {value!r} is not a dict with {key!r}")
    label = value[key]
    if layout.task == "sentiment":
        return {"valence": float(label)}
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        if layout.emotion_names is None or not 0 <= int(label) < len(layout.emotion_names):
            raise ValueError(f"integer emotion {label} has no name in {layout.emotion_names}")
        return {"emotion": layout.emotion_names[int(label)]}
    return {"emotion": str(label)}
