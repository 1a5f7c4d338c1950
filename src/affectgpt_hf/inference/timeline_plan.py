"""A long video's plan for its timeline: its soundtrack read once, its segments (speech turns, subtitle cues or fixed
windows) with the subtitle of each (the cue text, or the transcript's), and the state file that lets a rerun reuse the
plan and the finished rows: both keyed by what they were made from (the video's size and time, the options, the
subtitle file's bytes, the speech-recognition model; the rows also by the AffectGPT model and the decoding)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..media import Soundtrack, read_soundtrack
from .inputs import read_cues, subtitle_beside
from .segments import Segment, Timed, cue_segments, fixed_segments, speech_segments, text_over
from .timeline_outputs import clock

if TYPE_CHECKING:
    from ..speech import SpeechRecognizer
    from .arguments import TimelineArguments

logger = logging.getLogger(__name__)

PLAN_VERSION = 2  # bump when a segmentation rule changes: plans made by the old rules are made again
STATE_FILE = "state.json"


@dataclass
class VideoPlan:
    """What a video's timeline describes: ``segments`` in time order over ``duration`` seconds (the whole video, or
    up to --max-duration when ``complete`` is False), each with its subtitle from ``subtitle_source`` ("given": cues;
    "asr:<model>"; "none"), what was left out, notes for the summary, audio stretches that could not be decoded, and
    whether the video has an audio track."""

    video: str
    duration: float
    segments: list[Segment]
    subtitle_source: str = "none"
    complete: bool = True
    has_audio: bool = True
    skipped: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    damaged: list[tuple[float, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        record = asdict(self)
        record["segments"] = [asdict(segment) for segment in self.segments]
        return record

    @classmethod
    def from_dict(cls, record: dict) -> VideoPlan:
        record = dict(record)
        record["segments"] = [Segment(**segment) for segment in record["segments"]]
        record["damaged"] = [tuple(span) for span in record.get("damaged", [])]
        return cls(**record)


def subtitle_file(video: Path, given: str | os.PathLike | None) -> Path | None:
    """The cue file of ``video``: ``given`` (--subtitles), else NAME.srt / NAME.vtt beside it, else None."""
    return Path(given) if given is not None else subtitle_beside(video)


def needs_asr(video: Path, arguments: TimelineArguments) -> bool:
    """Whether ``video``'s segments get their subtitles from speech recognition: no cue file and not --segments
    subtitles (the caller knows whether --asr is none)."""
    return arguments.segments != "subtitles" and subtitle_file(video, arguments.subtitles) is None


def make_plan(
    video: Path,
    arguments: TimelineArguments,
    soundtrack: Soundtrack | None = None,
    recognizer: SpeechRecognizer | None = None,
) -> VideoPlan:
    """Cut ``video`` into segments by ``arguments.segments`` and give each its subtitle. ``soundtrack``: the video
    read by :func:`media.read_soundtrack` (read here when None). ``recognizer``: speech recognition for videos without
    a cue file (None: no subtitles). A video without speech gets zero segments and a note suggesting fixed windows;
    ValueError names a video whose audio --segments speech needs and lacks, or a missing cue file."""
    rules = arguments.rules()
    soundtrack = soundtrack or read_soundtrack(video, max_seconds=arguments.max_duration)
    duration = soundtrack.seconds
    notes: list[str] = []
    if not soundtrack.complete:
        notes.append(
            f"{video.name} lasts longer than --max-duration {arguments.max_duration:g} s: its timeline stops at "
            f"{clock(duration)} ({duration:.1f} s)"
        )
    if soundtrack.waveform is None:
        notes.append(f"{video.name} has no audio track: the model hears silence in every segment")
    for start, end in soundtrack.damaged:
        notes.append(f"the audio at {start:.2f}-{end:.2f} s could not be decoded; segments over it fail")
    cue_path = subtitle_file(video, arguments.subtitles)
    cues = [Timed(c.start, c.end, c.text) for c in read_cues(cue_path)] if cue_path is not None else None
    skipped: list[dict] = []
    transcript: list[Timed] | None = None
    source = "given" if cues is not None else "none"
    if arguments.segments == "subtitles":
        if cues is None:
            raise ValueError(
                f"--segments subtitles: {video} has no subtitle file; give --subtitles FILE.srt|.vtt (one video) or "
                f"put {video.stem}.srt or {video.stem}.vtt beside it"
            )
        plan = cue_segments(cues, duration, source=cue_path.name)
        return _plan(video, soundtrack, plan.segments, source, plan.skipped, notes + plan.notes)
    if arguments.segments == "speech":
        if soundtrack.waveform is None:
            raise ValueError(
                f"{video} has no audio track, so --segments speech cannot find speech in it; use --segments fixed "
                "(windows of --window seconds) or --segments subtitles with a subtitle file"
            )
        spans = _speech(soundtrack)
        if cues is None and recognizer is not None and spans:
            transcript, source = _transcribe(soundtrack, recognizer, notes)
        cuts = [piece.end for piece in transcript or []]
        spans = speech_segments(spans, duration, rules, cuts)
        if not spans:
            notes.append(
                f"no speech was found in {video.name}, so it has zero segments; --segments fixed describes it in "
                f"windows of --window ({arguments.window:g}) seconds"
            )
    else:
        spans = fixed_segments(duration, rules)
        if cues is None and recognizer is not None and soundtrack.waveform is not None:
            transcript, source = _transcribe(soundtrack, recognizer, notes)
    pieces = cues if cues is not None else transcript
    segments = [Segment(s, e, None if pieces is None else text_over(pieces, s, e)) for s, e in spans]
    return _plan(video, soundtrack, segments, source, skipped, notes)


def _plan(video, soundtrack: Soundtrack, segments, source: str, skipped: list[dict], notes: list[str]) -> VideoPlan:
    return VideoPlan(
        video=str(video),
        duration=soundtrack.seconds,
        segments=segments,
        subtitle_source=source,
        complete=soundtrack.complete,
        has_audio=soundtrack.waveform is not None,
        skipped=skipped,
        notes=notes,
        damaged=list(soundtrack.damaged),
    )


def _speech(soundtrack: Soundtrack) -> list[tuple[float, float]]:
    """Speech stretches (silero-vad, millisecond times) on the video's axis."""
    from ..speech import detect_speech

    spans = detect_speech(soundtrack.waveform, time_resolution=3)
    return [(start + soundtrack.start, end + soundtrack.start) for start, end in spans]


def _transcribe(soundtrack: Soundtrack, recognizer: SpeechRecognizer, notes: list[str]) -> tuple[list[Timed], str]:
    """The whole soundtrack transcribed once: its timed pieces on the video's axis, and the subtitle source."""
    transcript = recognizer.transcribe_waveform(soundtrack.waveform)
    if transcript.note and "cut" not in transcript.note:
        notes.append(f"speech recognition: {transcript.note}")
    shift = soundtrack.start
    return [Timed(p.start + shift, p.end + shift, p.text) for p in transcript.segments], transcript.source


# ---------------------------------------------------------------------------------------------------------- state
def file_stamp(path: str | os.PathLike) -> dict:
    """What a file was: its resolved path, size and modification time (ns)."""
    stat = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def source_stamp(source: str | os.PathLike | None) -> dict | None:
    """A model by what it is made from: a folder's files (name, size, time), or a Hub id as given."""
    if source is None:
        return None
    if not os.path.isdir(source):
        return {"id": os.fspath(source)}
    files = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(source) if e.is_file())
    return {"path": str(Path(source).resolve()), "files": files}


def content_stamp(path: str | os.PathLike) -> dict:
    """A small file (a subtitle file) by its bytes."""
    return {"path": str(Path(path).resolve()), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def plan_key(video: Path, arguments: TimelineArguments, asr_model: str | None) -> dict:
    """What a plan is made from: the video file, the segmentation options, the subtitle file, the ASR model."""
    cue_path = subtitle_file(video, arguments.subtitles)
    asr = asr_model if arguments.segments != "subtitles" and cue_path is None else None
    return {
        "version": PLAN_VERSION,
        "video": file_stamp(video),
        "segments": arguments.segments,
        "rules": asdict(arguments.rules()),
        "max_duration": arguments.max_duration,
        "subtitles": content_stamp(cue_path) if cue_path is not None and cue_path.is_file() else None,
        "asr": source_stamp(asr),
        "asr_language": arguments.asr_language if asr else None,
    }


class TimelineState:
    """``OUT/<stem>/state.json``: the plan and the keys it and the rows were made under. A plan is reused when its key
    is the same; finished rows when the rows' key (the plan's, the model and the decoding) is too."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / STATE_FILE
        self.record = self._read()

    def _read(self) -> dict:
        if not self.path.is_file():
            return {}
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            logger.warning("%s cannot be read; the timeline is made afresh", self.path)
            return {}

    def plan(self, key: dict) -> VideoPlan | None:
        """The stored plan when it was made under ``key``."""
        if self.record.get("plan_key") != _jsonable(key) or "plan" not in self.record:
            return None
        return VideoPlan.from_dict(self.record["plan"])

    def rows_match(self, key: dict) -> bool:
        return self.record.get("rows_key") == _jsonable(key)

    def save(self, plan_key: dict, plan: VideoPlan, rows_key: dict | None = None) -> None:
        self.record = {"plan_key": _jsonable(plan_key), "plan": plan.to_dict()}
        if rows_key is not None:
            self.record["rows_key"] = _jsonable(rows_key)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.record, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.path)


def _jsonable(value):
    """``value`` as it reads back from JSON (tuples become lists), so stored and fresh keys compare equal."""
    return json.loads(json.dumps(value))


__all__ = [
    "PLAN_VERSION",
    "STATE_FILE",
    "TimelineState",
    "VideoPlan",
    "content_stamp",
    "file_stamp",
    "make_plan",
    "needs_asr",
    "plan_key",
    "source_stamp",
    "subtitle_file",
]
