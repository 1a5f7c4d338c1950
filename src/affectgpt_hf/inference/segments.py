"""Where a long video's timeline cuts it: speech turns (voice activity merged and split to MER's clip lengths),
subtitle cues, or fixed windows. Rules on times only (seconds on the video's axis, from its first frame); reading the
media is media.py's, finding speech speech.py's. docs/timeline.md explains each rule and its default."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

SEGMENTATIONS = ("speech", "subtitles", "fixed")
MIN_CUE_SECONDS = 0.2
"""A cue shorter than this (5 frames at 25 fps) is left out: too little to describe."""


CUT_SLACK = 0.2
"""Seconds: a transcript's sentence end this close to a pause counts as falling in it (its times are coarser than
voice activity's)."""


@dataclass(frozen=True)
class Timed:
    """A timed text: a subtitle cue, or a piece of a transcript."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Segment:
    """One stretch of the video, described as one clip: ``[start, end)`` seconds, and its subtitle (None: none)."""

    start: float
    end: float
    subtitle: str | None = None


@dataclass
class Plan:
    """A video's segments in time order, what was left out and why ({"start", "end", "reason"}), and notes."""

    segments: list[Segment]
    skipped: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SegmentRules:
    """The lengths segmentation works to (``affectgpt timeline --min-seconds ...``; docs/timeline.md, "Defaults")."""

    min_seconds: float = 2.0
    max_seconds: float = 16.0
    merge_gap: float = 0.5
    window: float = 4.0
    hop: float | None = None  # None: the window (windows side by side)

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds <= self.max_seconds / 2:
            raise ValueError(
                f"--min-seconds {self.min_seconds:g} and --max-seconds {self.max_seconds:g}: expected "
                "0 < min <= max / 2 (a turn longer than max is split into equal parts, each then at least max / 2)"
            )
        if self.merge_gap < 0:
            raise ValueError(f"--merge-gap {self.merge_gap:g}; expected seconds >= 0")
        if not self.window > 0 or not self.step > 0:
            raise ValueError(f"--window {self.window:g} --hop {self.step:g}; expected seconds > 0")

    @property
    def step(self) -> float:
        return self.window if self.hop is None else self.hop


def speech_segments(
    spans: Sequence[tuple[float, float]], duration: float, rules: SegmentRules, cuts: Sequence[float] = ()
) -> list[tuple[float, float]]:
    """Speech turns from voice activity: ``spans`` (start, end) inside [0, ``duration``) are joined where the pause
    between them is at most ``merge_gap``, the turn stays within ``max_seconds`` and none of ``cuts`` (where a
    transcript's sentences end) falls in the pause (within :data:`CUT_SLACK`); a longer stretch is split into equal
    parts, each cut moved to the nearest of ``cuts`` that keeps the parts between ``min_seconds`` and ``max_seconds``;
    a turn shorter than ``min_seconds`` is widened evenly into the silence around it, as far as that silence reaches."""
    spans = sorted((max(0.0, s), min(duration, e)) for s, e in spans if min(duration, e) > max(0.0, s))
    turns: list[list[float]] = []
    for start, end in spans:
        ends_sentence = any(turns[-1][1] - CUT_SLACK <= c <= start + CUT_SLACK for c in cuts) if turns else False
        if (
            turns
            and not ends_sentence
            and start - turns[-1][1] <= rules.merge_gap
            and end - turns[-1][0] <= rules.max_seconds
        ):
            turns[-1][1] = max(turns[-1][1], end)
        else:
            turns.append([start, end])
    pieces = [piece for start, end in turns for piece in _split(start, end, rules, sorted(cuts))]
    return _widen(pieces, duration, rules.min_seconds)


def _split(start: float, end: float, rules: SegmentRules, cuts: list[float]) -> list[tuple[float, float]]:
    pieces = []
    while end - start > rules.max_seconds:
        parts = math.ceil((end - start) / rules.max_seconds)
        target = start + (end - start) / parts
        low = max(start + rules.min_seconds, end - (parts - 1) * rules.max_seconds)
        high = min(start + rules.max_seconds, end - rules.min_seconds)
        near = [c for c in cuts if low <= c <= high]
        cut = min(near, key=lambda c: abs(c - target)) if near else target
        pieces.append((start, cut))
        start = cut
    return [*pieces, (start, end)]


def _widen(pieces: list[tuple[float, float]], duration: float, shortest: float) -> list[tuple[float, float]]:
    """Each piece shorter than ``shortest`` widened evenly into the free time on each side (what one side lacks goes
    to the other); the pieces never overlap and stay inside the video."""
    widened = list(pieces)
    for i, (start, end) in enumerate(widened):
        need = shortest - (end - start)
        if need <= 0:
            continue
        room_left = start - (widened[i - 1][1] if i else 0.0)
        room_right = (pieces[i + 1][0] if i + 1 < len(pieces) else duration) - end
        left = min(room_left, max(need / 2, need - room_right))
        right = min(room_right, need - left)
        widened[i] = (start - left, end + right)
    return widened


def cue_segments(cues: Sequence[Timed], duration: float, source: str = "the subtitle file") -> Plan:
    """One segment per cue, in time order: a cue starting at or after the video's end is left out, one running past
    it is cut there, one shorter than :data:`MIN_CUE_SECONDS` is left out, and cues that overlap are joined into one
    segment (their texts in time order). Each exclusion is listed in the plan with its reason."""
    skipped: list[dict] = []
    groups: list[dict] = []  # start, end, texts, joined
    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        if cue.start >= duration:
            skipped.append(_skip(cue.start, cue.end, f"cue starts after the video's end ({duration:.3f} s)"))
            continue
        end = min(cue.end, duration)
        if end - cue.start < MIN_CUE_SECONDS:
            skipped.append(_skip(cue.start, cue.end, f"cue shorter than {MIN_CUE_SECONDS:g} s"))
        elif groups and cue.start < groups[-1]["end"]:
            group = groups[-1]
            group.update(end=max(group["end"], end), joined=True)
            group["texts"].append(cue.text)
        else:
            groups.append({"start": cue.start, "end": end, "texts": [cue.text], "joined": False})
    notes = []
    joined = sum(group["joined"] for group in groups)
    if joined:
        notes.append(f"{source}: {joined} group(s) of overlapping cues were joined into one segment each")
    if skipped:
        notes.append(f"{source}: {len(skipped)} cue(s) left out (see the skipped list)")
    segments = [Segment(g["start"], g["end"], " ".join(t for t in g["texts"] if t)) for g in groups]
    return Plan(segments, skipped, notes)


def fixed_segments(duration: float, rules: SegmentRules) -> list[tuple[float, float]]:
    """Windows of ``window`` seconds every ``hop`` seconds from 0; the last one ends at the video's end (cut there),
    and when that leaves it shorter than half a window it is joined to the window before it."""
    windows: list[tuple[float, float]] = []
    k = 0
    while True:
        start = k * rules.step
        if start >= duration:
            break
        end = min(start + rules.window, duration)
        if windows and end - start < rules.window / 2:
            windows[-1] = (windows[-1][0], end)
            break
        windows.append((start, end))
        if start + rules.window >= duration:
            break
        k += 1
    return windows


def text_over(pieces: Sequence[Timed], start: float, end: float) -> str:
    """The texts of the timed pieces that overlap ``[start, end)`` (touching does not count), in time order, as
    `describe --subtitles FILE` reads cues for a clip cut from there."""
    inside = sorted((p for p in pieces if p.start < end and p.end > start), key=lambda p: (p.start, p.end))
    return " ".join(p.text for p in inside if p.text)


def _skip(start: float, end: float, reason: str) -> dict:
    return {"start": round(start, 3), "end": round(end, 3), "reason": reason}


__all__ = [
    "MIN_CUE_SECONDS",
    "SEGMENTATIONS",
    "Plan",
    "Segment",
    "SegmentRules",
    "Timed",
    "cue_segments",
    "fixed_segments",
    "speech_segments",
    "text_over",
]
