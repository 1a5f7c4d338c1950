"""The files `affectgpt describe` reads besides the model: videos named or found in folders, a subtitle table, and
OpenFace crops in upstream's layouts."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv", ".m4v")


def find_clips(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Video files named directly or found (sorted, recursively) in folders."""
    paths = list(paths)
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES))
        elif path.exists():
            found.append(path)
        else:
            raise ValueError(f"{path} does not exist; expected a video file or a folder of videos")
    if not found:
        raise ValueError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) in {[str(p) for p in paths]}")
    return found


def read_subtitles(path: str | Path) -> dict[str, str]:
    """CSV (name, subtitle) -> {name: subtitle}; NaN subtitles become "" as upstream."""
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"name", "subtitle"} - set(table.columns)
    if missing:
        raise ValueError(
            f"{path} lacks column(s) {sorted(missing)}; expected a CSV with columns name, subtitle (from an upstream "
            "release's subtitle CSV: its english or chinese column renamed to subtitle)"
        )
    return dict(zip(table["name"], table["subtitle"], strict=True))


def face_file(folder: str | Path, name: str) -> Path:
    """OpenFace crops of a clip in either layout of ``data.layouts.FACE_FILES``: NAME.npy (test sets) or
    NAME/NAME.npy (MER-Caption+)."""
    from ..data.layouts import FACE_FILES

    candidates = [Path(folder) / pattern.format(name=name) for pattern in FACE_FILES.values()]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise ValueError(f"no face crops for {name} in {folder}; expected {' or '.join(str(c) for c in candidates)}")


__all__ = ["VIDEO_SUFFIXES", "face_file", "find_clips", "read_subtitles"]
