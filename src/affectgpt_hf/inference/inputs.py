"""The files `affectgpt describe` reads besides the model: videos named or found in folders, subtitles (a CSV table,
an SRT or WebVTT file, or NAME.srt / NAME.vtt beside each video), and OpenFace crops in upstream's layouts."""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv", ".m4v")
SUBTITLE_SUFFIXES = (".srt", ".vtt")
MAX_SUBTITLE_BYTES = 5_000_000
"""A subtitle file larger than this is refused before it is read (a feature film's SRT is about 100 kB)."""


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


@dataclass(frozen=True)
class Cue:
    """One timed subtitle: start and end in seconds, its text (markup removed)."""

    start: float
    end: float
    text: str


_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})$")


def read_cues(path: str | os.PathLike) -> list[Cue]:
    """An SRT or WebVTT file (by its suffix) -> its cues in file order, parsed by webvtt-py, with tags removed and
    HTML entities decoded. A file over MAX_SUBTITLE_BYTES, not UTF-8 (a BOM is allowed; UTF-16 with a BOM too),
    malformed (no cue can be read from its text, a cue that ends before it starts) raises ValueError naming it."""
    import webvtt
    from webvtt.errors import MalformedFileError

    path = Path(path)
    kind = path.suffix.lower()
    if kind not in SUBTITLE_SUFFIXES:
        raise ValueError(f"{path} is not a subtitle file; expected .srt or .vtt (or a CSV with columns name, subtitle)")
    if not path.is_file():
        raise ValueError(f"{path} does not exist or is not a file; expected an {kind} subtitle file")
    size = path.stat().st_size
    if size > MAX_SUBTITLE_BYTES:
        raise ValueError(
            f"{path} is {size / 1e6:.1f} MB; subtitle files are read up to {MAX_SUBTITLE_BYTES / 1e6:g} MB"
        )
    text = _decode_text(path.read_bytes(), path)
    try:
        captions = webvtt.WebVTT.from_buffer(text.splitlines(keepends=True), format=kind[1:]).captions
    except MalformedFileError as error:
        expected = (
            "numbered cues timed 'HH:MM:SS,mmm --> HH:MM:SS,mmm'"
            if kind == ".srt"
            else "a 'WEBVTT' first line, then cues timed 'HH:MM:SS.mmm --> HH:MM:SS.mmm'"
        )
        raise ValueError(f"{path} is not a valid {kind[1:].upper()} file ({error}); expected {expected}") from None
    if not captions and re.search(r"\S", re.sub(r"^\ufeff?WEBVTT[^\n]*", "", text)):
        raise ValueError(
            f"{path} holds text but no cue could be read from it; expected cues timed as "
            "'00:00:01,000 --> 00:00:02,500' (SRT) or '00:00:01.000 --> 00:00:02.500' (VTT)"
        )
    cues = []
    for number, caption in enumerate(captions, 1):
        start, end = _seconds(caption.start, path, number), _seconds(caption.end, path, number)
        if end < start:
            raise ValueError(f"{path}: cue {number} ends ({caption.end}) before it starts ({caption.start})")
        cues.append(Cue(start, end, " ".join(html.unescape(caption.text).split())))
    return cues


def _decode_text(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not {encoding.replace('-sig', '')} text (byte {raw[error.start]:#04x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None


def _seconds(stamp: str, path: Path, number: int) -> float:
    match = _TIME.match(stamp.strip())
    if match is None:
        raise ValueError(f"{path}: cue {number} has the time {stamp!r}; expected HH:MM:SS.mmm")
    hours, minutes, seconds, millis = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def cue_text(cues: Sequence[Cue], start: float, end: float, source: str = "the subtitle file") -> str:
    """The text of the cues that overlap the clip's [start, end) seconds, in file order, joined by spaces. Cues that
    fall outside it are left out with a warning naming ``source``; when none overlaps, the text is empty (warned)."""
    inside = [cue for cue in cues if cue.start < end and cue.end > start]
    outside = len(cues) - len(inside)
    if outside:
        logger.warning(
            "%s: %d of %d cue(s) fall outside the clip (%.2f-%.2f s) and are left out%s",
            source,
            outside,
            len(cues),
            start,
            end,
            "; the clip's subtitle is empty" if not inside else "",
        )
    return " ".join(cue.text for cue in inside if cue.text)


def subtitle_beside(video: str | os.PathLike) -> Path | None:
    """NAME.srt or NAME.vtt beside NAME.mp4 (the first that exists, SRT first), as video players pick them up."""
    for suffix in SUBTITLE_SUFFIXES:
        for candidate in (Path(video).with_suffix(suffix), Path(video).with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    return None


def given_subtitles(videos: Sequence[Path], subtitles: str | os.PathLike | None = None) -> list[str | None]:
    """Each video's given subtitle, or None where none is given (speech recognition may then make one).

    ``subtitles``: a CSV (name, subtitle; a row with an empty cell gives the empty subtitle ""), or one SRT/VTT file
    (for a single video only: its cues are timed on that video). A video with no entry there gets the cues of
    NAME.srt / NAME.vtt beside it, if there is one. From a cue file, the subtitle is the text of the cues that overlap
    the video (read from its packets)."""
    table: dict[str, str] = {}
    if subtitles is not None and Path(subtitles).suffix.lower() in SUBTITLE_SUFFIXES:
        if len(videos) != 1:
            raise ValueError(
                f"--subtitles {subtitles} times one video, and {len(videos)} clips were given; put NAME.srt or "
                "NAME.vtt beside each video (picked up by its name), or give a CSV with columns name, subtitle"
            )
        return [_from_cues(videos[0], Path(subtitles))]
    if subtitles is not None:
        table = read_subtitles(subtitles)
    found: list[str | None] = []
    for video in videos:
        if video.stem in table:
            found.append(table[video.stem])
        elif (beside := subtitle_beside(video)) is not None:
            found.append(_from_cues(video, beside))
        else:
            found.append(None)
    return found


def _from_cues(video: Path, file: Path) -> str:
    from ..media import measure

    cues = read_cues(file)
    try:
        seconds = measure(str(video)).seconds
    except ValueError:  # an unreadable clip is reported by describe itself; its subtitle does not matter
        return cue_text(cues, 0.0, float("inf"), str(file))
    return cue_text(cues, 0.0, seconds, str(file))


def face_file(folder: str | Path, name: str) -> Path:
    """OpenFace crops of a clip in either layout of ``data.layouts.FACE_FILES``: NAME.npy (test sets) or
    NAME/NAME.npy (MER-Caption+)."""
    from ..data.layouts import FACE_FILES

    candidates = [Path(folder) / pattern.format(name=name) for pattern in FACE_FILES.values()]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise ValueError(f"no face crops for {name} in {folder}; expected {' or '.join(str(c) for c in candidates)}")


__all__ = [
    "MAX_SUBTITLE_BYTES",
    "SUBTITLE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Cue",
    "cue_text",
    "face_file",
    "find_clips",
    "given_subtitles",
    "read_cues",
    "read_subtitles",
    "subtitle_beside",
]
