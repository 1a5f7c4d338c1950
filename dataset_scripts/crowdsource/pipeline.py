"""The crowdsourcing pipeline: per-clip stages (cached, resumable, sharded by rank), then a merge with both filters.

Stages per clip, each result appended to ``cache/part-<rank>.jsonl`` as soon as its batch is done (a rerun skips
what is there, whatever the number of ranks was):
  audio_clues (audio LLM) -> visual_clues (video LLM) -> description (merge LLM over both + subtitle)
  -> speaker (active-speaker hook) -> labels, sentiment (extracted from the description) -> votes (classifiers).
The merge step (rank 0, after all ranks) applies the low-level filter (speaker; description-length tails by
quantiles) and the high-level filter (the classifiers' majority emotion and sentiment against those extracted from
the description) and writes the upstream CSV layout read by ``affectgpt_hf.data``:
``mer_caption.csv`` (all, name/reason/openset), ``track2_train_mercaptionplus.csv`` (name, openset),
``track3_train_mercaptionplus.csv`` (name, reason), and ``filter_report.csv`` naming every dropped clip and why.

A clip a model cannot take (a clue model returns :class:`ClipFailure`, e.g. for a clip without an audio track) or whose
clue or description comes back empty is recorded as failed (cache stage ``failed``): it skips the later stages, is
left out of every CSV but ``filter_report.csv``, which names the stage and the reason, and the other clips go on.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from affectgpt_hf.data.releases import read_csv

from .prompts import AUDIO_CLUE_PROMPT, VISUAL_CLUE_PROMPT, merge_prompt

STAGES = ("audio_clues", "visual_clues", "description", "speaker", "labels", "sentiment", "votes")
TEXT_STAGES = {"audio_clues": "audio model", "visual_clues": "video model", "description": "merge model"}
FAILED = "failed"  # the cache stage of a clip that failed: {"stage": ..., "reason": ...}


@dataclass(frozen=True)
class ClipFailure:
    """What a clue model returns in place of an answer for a clip it cannot take (no audio track, unreadable media)."""

    reason: str


@dataclass(frozen=True)
class Clip:
    name: str
    video: str
    audio: str | None
    subtitle: str


@dataclass
class Models:
    """The pipeline's models (see models.py for the call signatures). ``extractor`` None: unibench's lexicon."""

    audio: Callable
    video: Callable
    merge: Callable
    classifiers: Sequence[Callable] = ()
    extractor: Any = None
    speaker: Callable | None = None
    audio_prompt: str = AUDIO_CLUE_PROMPT
    video_prompt: str = VISUAL_CLUE_PROMPT
    extra: dict = field(default_factory=dict)

    def label_extractor(self):
        if self.extractor is None:
            from affectgpt_hf.unibench.extraction import LexiconExtractor

            self.extractor = LexiconExtractor()
        return self.extractor


def find_clips(data_dir: str | os.PathLike) -> list[Clip]:
    """Clips of a MER2025-layout folder: ``video/*.mp4``, ``audio/{name}.wav`` if present, ``subtitle_chieng.csv``."""
    root = Path(data_dir)
    videos = sorted((root / "video").glob("*.mp4"))
    if not videos:
        raise FileNotFoundError(f"{root / 'video'} holds no .mp4 clips; expected the MER2025 layout (video/NAME.mp4)")
    subtitles: dict[str, str] = {}
    if (root / "subtitle_chieng.csv").is_file():
        frame = read_csv(root / "subtitle_chieng.csv", ("name", "english"))
        subtitles = {n: ("" if pd.isna(t) else str(t)) for n, t in zip(frame["name"], frame["english"], strict=True)}
    clips = []
    for video in videos:
        audio = root / "audio" / f"{video.stem}.wav"
        clips.append(
            Clip(video.stem, str(video), str(audio) if audio.is_file() else None, subtitles.get(video.stem, ""))
        )
    return clips


class ResultCache:
    """(name, stage) -> value, read from every ``part-*.jsonl``; this rank appends to its own part."""

    def __init__(self, cache_dir: str | os.PathLike, rank: int = 0):
        self.dir = Path(cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"part-{rank:05d}.jsonl"
        self.values: dict[tuple[str, str], Any] = {}
        for part in sorted(self.dir.glob("part-*.jsonl")):
            with open(part, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        try:
                            record = json.loads(line)
                        except json.JSONDecodeError:  # a line cut by a crash: that result is redone
                            continue
                        self.values[(record["name"], record["stage"])] = record["value"]

    def has(self, name: str, stage: str) -> bool:
        return (name, stage) in self.values

    def get(self, name: str, stage: str) -> Any:
        return self.values[(name, stage)]

    def put_many(self, stage: str, names: Sequence[str], values: Sequence[Any]) -> None:
        if len(names) != len(values):
            raise ValueError(f"stage {stage}: {len(values)} results for {len(names)} clips")
        if not names:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            for name, value in zip(names, values, strict=True):
                handle.write(json.dumps({"name": name, "stage": stage, "value": value}, ensure_ascii=False) + "\n")
                self.values[(name, stage)] = value
            handle.flush()
            os.fsync(handle.fileno())


def shard(clips: Sequence[Clip], rank: int, world_size: int) -> list[Clip]:
    """This rank's clips: every ``world_size``-th of the name-sorted list."""
    ordered = sorted(clips, key=lambda clip: clip.name)
    return ordered[rank::world_size]


def run_clips(
    clips: Sequence[Clip],
    models: Models,
    cache_dir: str | os.PathLike,
    rank: int = 0,
    world_size: int = 1,
    batch_size: int = 8,
    progress: bool = True,
) -> int:
    """Run every stage on this rank's clips, skipping cached results; returns the number of new results."""
    cache = ResultCache(cache_dir, rank)
    mine = shard(clips, rank, world_size)
    done = 0

    def stage_fn(stage: str) -> Callable[[list[Clip]], list]:
        if stage == "audio_clues":
            return lambda batch: models.audio(batch, models.audio_prompt)
        if stage == "visual_clues":
            return lambda batch: models.video(batch, models.video_prompt)
        if stage == "description":
            return lambda batch: models.merge(
                [
                    merge_prompt(cache.get(c.name, "audio_clues"), cache.get(c.name, "visual_clues"), c.subtitle)
                    for c in batch
                ]
            )
        if stage == "speaker":
            return lambda batch: (
                [None] * len(batch) if models.speaker is None else [bool(x) for x in models.speaker(batch)]
            )
        if stage == "labels":
            return lambda batch: models.label_extractor().extract_labels(
                [cache.get(c.name, "description") for c in batch]
            )
        if stage == "sentiment":
            return lambda batch: models.label_extractor().extract_sentiment(
                [cache.get(c.name, "labels") for c in batch]
            )
        return lambda batch: _all_votes(models.classifiers, batch)

    for stage in STAGES:
        todo = [clip for clip in mine if not cache.has(clip.name, stage) and not cache.has(clip.name, FAILED)]
        if not todo:
            continue
        run = stage_fn(stage)
        bar = tqdm(total=len(todo), desc=f"[rank {rank}] {stage}", disable=not progress, position=rank)
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            values = list(run(batch))
            if len(values) != len(batch):
                raise ValueError(f"stage {stage}: {len(values)} results for {len(batch)} clips")
            stands, failed = [], []
            for clip, value in zip(batch, values, strict=True):
                failure = _failure(stage, value)
                (failed if failure else stands).append((clip.name, failure or value))
            cache.put_many(stage, [name for name, _ in stands], [value for _, value in stands])
            cache.put_many(FAILED, [name for name, _ in failed], [record for _, record in failed])
            done += len(batch)
            bar.update(len(batch))
        bar.close()
    return done


def _failure(stage: str, value: Any) -> dict | None:
    """The failure record of one stage result, or None when the result stands."""
    if isinstance(value, ClipFailure):
        return {"stage": stage, "reason": value.reason}
    if stage in TEXT_STAGES and not (isinstance(value, str) and value.strip()):
        got = "empty" if isinstance(value, str) else f"not text ({type(value).__name__})"
        return {"stage": stage, "reason": f"the {TEXT_STAGES[stage]}'s answer is {got}"}
    return None


def _all_votes(classifiers: Sequence[Callable], batch: list[Clip]) -> list[list[dict]]:
    per_classifier = [_votes(fn, batch) for fn in classifiers]
    return [[predictions[index] for predictions in per_classifier] for index in range(len(batch))]


def _votes(classifier: Callable, batch: list[Clip]) -> list[dict]:
    predictions = list(classifier(batch))
    if len(predictions) != len(batch):
        raise ValueError(f"classifier {classifier!r} returned {len(predictions)} predictions for {len(batch)} clips")
    return [{"emotion": str(p["emotion"]).lower(), "sentiment": str(p["sentiment"]).lower()} for p in predictions]


def majority(values: Sequence[str]) -> str | None:
    """The most frequent value (ties: the first reached); None for no values."""
    return Counter(values).most_common(1)[0][0] if values else None


def emotion_agrees(vote: str, labels: Sequence[str]) -> bool:
    """Whether the classifiers' emotion is among the description's labels (lowercase; basic-class spellings unified)."""
    from affectgpt_hf.unibench.benchsets import canonical_label

    wanted = canonical_label(vote)
    return any(canonical_label(label) == wanted for label in labels)


def merge_results(
    clips: Sequence[Clip],
    cache_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    length_quantiles: tuple[float, float] = (0.05, 0.95),
    length_unit: str = "words",
    agree: Callable[[str, Sequence[str]], bool] = emotion_agrees,
) -> dict[str, int]:
    """Apply both filters to the cached results of all ranks and write the upstream CSVs; returns counts."""
    cache = ResultCache(cache_dir, rank=0)
    failed = {clip.name: cache.get(clip.name, FAILED) for clip in clips if cache.has(clip.name, FAILED)}
    missing = [
        clip.name
        for clip in clips
        if clip.name not in failed and not all(cache.has(clip.name, stage) for stage in STAGES)
    ]
    if missing:
        raise ValueError(f"{len(missing)} clip(s) have unfinished stages (rerun the ranks): {missing[:50]}")
    if length_unit not in ("words", "chars"):
        raise ValueError(f"length_unit {length_unit!r}: expected 'words' or 'chars'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(clip.name for clip in clips if clip.name not in failed)
    descriptions = {name: cache.get(name, "description") for name in names}
    labels = {name: list(cache.get(name, "labels")) for name in names}
    lengths = np.array([len(t.split()) if length_unit == "words" else len(t) for t in descriptions.values()])
    low, high = np.quantile(lengths, length_quantiles) if len(lengths) else (0, 0)
    report = []
    for name, length in zip(names, lengths, strict=True):
        reason = ""
        votes = cache.get(name, "votes")
        if cache.get(name, "speaker") is False:
            reason = "low-level: the visible person is not the speaker"
        elif not low <= length <= high:
            reason = f"low-level: description length {length} {length_unit} outside [{low:g}, {high:g}]"
        elif votes:
            emotion = majority([v["emotion"] for v in votes])
            sentiment = majority([v["sentiment"] for v in votes])
            if not agree(emotion, labels[name]):
                reason = f"high-level: vote emotion {emotion!r} not in description labels {labels[name]}"
            elif sentiment != cache.get(name, "sentiment"):
                reason = f"high-level: vote sentiment {sentiment!r} != description's {cache.get(name, 'sentiment')!r}"
        report.append({"name": name, "kept": not reason, "reason": reason})
    for name, record in failed.items():
        report.append({"name": name, "kept": False, "reason": f"failed at {record['stage']}: {record['reason']}"})
    report.sort(key=lambda row: row["name"])
    kept = [row["name"] for row in report if row["kept"]]

    def openset(name: str) -> str:
        return "[" + ", ".join(labels[name]) + "]"

    pd.DataFrame(
        {"name": names, "reason": [descriptions[n] for n in names], "openset": [openset(n) for n in names]}
    ).to_csv(out / "mer_caption.csv", index=False)
    pd.DataFrame({"name": kept, "openset": [openset(n) for n in kept]}).to_csv(
        out / "track2_train_mercaptionplus.csv", index=False
    )
    pd.DataFrame({"name": kept, "reason": [descriptions[n] for n in kept]}).to_csv(
        out / "track3_train_mercaptionplus.csv", index=False
    )
    pd.DataFrame(report, columns=["name", "kept", "reason"]).to_csv(out / "filter_report.csv", index=False)
    total = len(names) + len(failed)
    return {"clips": total, "kept": len(kept), "dropped": total - len(kept), "failed": len(failed)}
