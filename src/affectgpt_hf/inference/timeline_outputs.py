"""What a timeline writes beside its rows: valence from the labels, captions (SRT and WebVTT), the plot and the
summary. Rows are dicts as `timeline.jsonl` holds them (inference/timeline.py makes them)."""

from __future__ import annotations

import html
import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

ROW_FIELDS = ("segment", "start", "end", "subtitle", "subtitle_source", "labels", "answer", "valence")
"""Every row has these; `description` with --task description, `error` for a failed segment, `face_source` and
`frames_without_face` for face models, `audio_note` where the audio was not the video's own."""


# ------------------------------------------------------------------------------------------------------------ valence
def valence(labels: Sequence[str], polarity: Callable[[str], int]) -> float:
    """A segment's valence in [-1, 1]: the mean of its labels' polarities (+1 positive, -1 negative, 0 neither or
    unknown), each from MER-UniBench's sentiment mapping (``unibench.LexiconExtractor.polarity``: the vote of the
    emotion-wheel sectors the label reaches). No labels: 0. Its sign is the sentiment the sentiment metrics give
    the same labels (``LexiconExtractor.extract_sentiment``: the sign of the summed polarities)."""
    labels = [label for label in labels if str(label).strip()]
    if not labels:
        return 0.0
    return round(sum(polarity(label) for label in labels) / len(labels), 4)


def label_polarity() -> Callable[[str], int]:
    """The polarity of one label by MER-UniBench's sentiment mapping (the emotion wheels, loaded once)."""
    from ..unibench import get_extractor

    return get_extractor(None).polarity


# ------------------------------------------------------------------------------------------------------------- times
def clock(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour on (the plot's axis and the summary's times)."""
    whole = int(math.floor(seconds + 1e-9))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


# ---------------------------------------------------------------------------------------------------------- captions
def caption_lines(row: dict, with_subtitle: bool = False) -> list[str]:
    """A row's caption: its labels (or why it has none), then its subtitle when asked for."""
    if row.get("error"):
        first = "(failed)"
    else:
        first = ", ".join(row.get("labels") or []) or "(no labels)"
    lines = [first]
    if with_subtitle and row.get("subtitle"):
        lines.append(row["subtitle"])
    return [" ".join(line.replace("-->", "->").split()) for line in lines]


def write_captions(rows: Sequence[dict], folder: Path, with_subtitle: bool = False) -> tuple[Path, Path]:
    """``timeline.srt`` and ``timeline.vtt`` in ``folder``: one cue per row, in time order, the labels as its text."""
    ordered = sorted(rows, key=lambda row: (row["start"], row["end"]))
    cues = [(row["start"], row["end"], caption_lines(row, with_subtitle)) for row in ordered]
    return write_cues(folder / "timeline.srt", cues), write_cues(folder / "timeline.vtt", cues)


def write_cues(path: Path, cues: Sequence[tuple[float, float, str | list[str]]]) -> Path:
    """Cues (start and end in seconds, a text or its lines) as an SRT or, for a ``.vtt`` path, a WebVTT file (text
    escaped as WebVTT requires), written whole under a temporary name first."""
    vtt = Path(path).suffix.lower() == ".vtt"
    blocks = ["WEBVTT", ""] if vtt else []
    for number, (start, end, text) in enumerate(cues, 1):
        lines = [text] if isinstance(text, str) else list(text)
        if vtt:
            blocks += [
                f"{_stamp(start, '.')} --> {_stamp(end, '.')}",
                *(html.escape(x, quote=False) for x in lines),
                "",
            ]
        else:
            blocks += [str(number), f"{_stamp(start, ',')} --> {_stamp(end, ',')}", *lines, ""]
    _write_text(Path(path), "\n".join(blocks))
    return Path(path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# -------------------------------------------------------------------------------------------------------------- plot
BAND_LABELS = 8
"""Labels shown as bands in the plot (the most frequent by time); the others are counted in the summary only."""


def label_seconds(rows: Sequence[dict]) -> Counter:
    """Seconds of the described segments that carry each label (a segment with two labels counts for both)."""
    seconds: Counter = Counter()
    for row in rows:
        for label in dict.fromkeys(row.get("labels") or []):
            seconds[label] += row["end"] - row["start"]
    return seconds


def write_plot(rows: Sequence[dict], path: Path, duration: float, title: str) -> Path:
    """``timeline.png``: the most frequent labels as coloured bands over time (one row each, a bar where a segment
    carries the label; failed segments hatched grey), the valence curve under them (a step per segment), the time axis
    in mm:ss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    described = [row for row in rows if not row.get("error")]
    failed = [row for row in rows if row.get("error")]
    bands = [label for label, _ in label_seconds(described).most_common(BAND_LABELS)]
    height = 1.1 + 0.32 * max(len(bands), 1)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, height + 1.9), sharex=True, gridspec_kw={"height_ratios": [height, 1.6]}
    )
    palette = plt.get_cmap("tab10")
    for y, label in enumerate(bands):
        spans = [(row["start"], row["end"] - row["start"]) for row in described if label in (row["labels"] or [])]
        top.broken_barh(spans, (y - 0.38, 0.76), facecolors=palette(y % 10), edgecolor="white", linewidth=0.5)
    for row in failed:
        top.axvspan(row["start"], row["end"], facecolor="none", edgecolor="0.6", hatch="///", linewidth=0)
    top.set_yticks(range(len(bands)), bands)
    top.set_ylim(len(bands) - 0.5 if bands else 0.5, -0.5)
    top.set_title(title, fontsize=10, loc="left")
    if not bands:
        top.text(0.5, 0.5, "no labels", transform=top.transAxes, ha="center", va="center", color="0.5")
    for row in sorted(described, key=lambda r: r["start"]):
        value = row.get("valence") or 0.0
        colour = "tab:green" if value > 0 else "tab:red" if value < 0 else "0.6"
        bottom.fill_between([row["start"], row["end"]], 0, value, color=colour, alpha=0.45, linewidth=0)
        bottom.plot([row["start"], row["end"]], [value, value], color=colour, linewidth=1.5)
    bottom.axhline(0, color="0.4", linewidth=0.6)
    bottom.set_ylim(-1.05, 1.05)
    bottom.set_yticks([-1, 0, 1])
    bottom.set_ylabel("valence")
    bottom.set_xlim(0, max(duration, 1e-3))
    bottom.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 3, 5, 6, 10]))
    bottom.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock(x)))
    bottom.set_xlabel("time (mm:ss)")
    for axis in (top, bottom):
        axis.grid(axis="x", color="0.9", linewidth=0.6)
        axis.set_axisbelow(True)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=72)
    plt.close(fig)
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------------------------------------- summary
def summary(rows: Sequence[dict], facts: dict, moments: int = 3) -> str:
    """``timeline.md``: what was run on what, the share of time per label, the most positive and most negative
    moments with their times, and the segments that were left out or failed (with why)."""
    described = [row for row in rows if not row.get("error")]
    failed = [row for row in rows if row.get("error")]
    covered = sum(row["end"] - row["start"] for row in described)
    lines = [f"# Emotion timeline: {facts['video']}", ""]
    lines += [f"- {key}: {value}" for key, value in facts.get("settings", {}).items()]
    lines += [
        f"- segments: {len(rows)} ({len(described)} described, {len(failed)} failed, "
        f"{len(facts.get('skipped', []))} left out); {covered:.1f} s of {facts['duration']:.1f} s described",
        "",
    ]
    for note in facts.get("notes", []):
        lines.append(f"> {note}")
    if facts.get("notes"):
        lines.append("")
    lines += ["## Share of time per label", ""]
    shares = label_seconds(described).most_common()
    if shares:
        lines += ["| label | seconds | share of described time |", "| --- | --- | --- |"]
        lines += [f"| {label} | {seconds:.1f} | {100 * seconds / covered:.0f}% |" for label, seconds in shares]
    else:
        lines.append("No segment got a label.")
    lines += ["", "## Most positive and most negative moments", ""]
    positive = sorted((r for r in described if (r.get("valence") or 0) > 0), key=lambda r: (-r["valence"], r["start"]))
    negative = sorted((r for r in described if (r.get("valence") or 0) < 0), key=lambda r: (r["valence"], r["start"]))
    positive, negative = positive[:moments], negative[:moments]  # the strongest first; among equals, the earliest
    for name, chosen in (("positive", positive), ("negative", negative)):
        if not chosen:
            lines.append(f"- most {name}: none (no segment has a {name} valence)")
        for row in chosen:
            lines.append(f"- most {name}: {_moment(row)}")
    lines += ["", "## Left out or failed", ""]
    problems = [(item["start"], item["end"], f"left out: {item['reason']}") for item in facts.get("skipped", [])]
    problems += [(row["start"], row["end"], f"failed: {row['error']}") for row in failed]
    if not problems:
        lines.append("None.")
    for start, end, reason in sorted(problems):
        lines.append(f"- {clock(start)}-{clock(end)} ({start:.2f}-{end:.2f} s): {reason}")
    return "\n".join(lines) + "\n"


def _moment(row: dict) -> str:
    subtitle = (row.get("subtitle") or "").strip()
    quote = f' "{subtitle[:80]}{"..." if len(subtitle) > 80 else ""}"' if subtitle else ""
    return (
        f"{clock(row['start'])}-{clock(row['end'])}, valence {row['valence']:+.2f}: "
        f"{', '.join(row['labels']) or '(no labels)'}{quote}"
    )


def write_summary(rows: Sequence[dict], folder: Path, facts: dict) -> Path:
    path = folder / "timeline.md"
    _write_text(path, summary(rows, facts))
    return path


def relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it (for messages), else as given."""
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)


__all__ = [
    "BAND_LABELS",
    "ROW_FIELDS",
    "caption_lines",
    "clock",
    "label_polarity",
    "label_seconds",
    "summary",
    "valence",
    "write_captions",
    "write_cues",
    "write_plot",
    "write_summary",
]
