"""A long video's emotion timeline: its segments (speech turns, subtitle cues or fixed windows; timeline_plan.py)
described one by one, each exactly as the clip cut out there would be (segment_clips.py), with the batches and media
workers of `describe`; rows are appended as they finish and a rerun continues; then the captions, the plot and the
summary (timeline_outputs.py). `affectgpt timeline VIDEO... --model M --out DIR` runs :func:`run_timeline`."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..media import Soundtrack, read_soundtrack
from ..utils.jsonl import append_jsonl, read_jsonl, write_jsonl
from .arguments import InferenceArguments, TimelineArguments
from .batch import Clip, DescribeResult, answers_are_free_text, describe, free_text_extractor, load_model
from .segment_clips import SegmentBatches
from .timeline_outputs import label_polarity, valence, write_captions, write_plot, write_summary
from .timeline_plan import TimelineState, VideoPlan, make_plan, needs_asr, plan_key, source_stamp

logger = logging.getLogger(__name__)

ROWS_FILE = "timeline.jsonl"
OUTPUTS = ("timeline.jsonl", "timeline.srt", "timeline.vtt", "timeline.png", "timeline.md")


@dataclass
class TimelineResult:
    """One video's timeline: its folder, its rows in time order, its plan (segments, what was left out, notes)."""

    video: str
    folder: Path
    rows: list[dict] = field(default_factory=list)
    plan: VideoPlan | None = None

    @property
    def failed(self) -> list[dict]:
        return [row for row in self.rows if row.get("error")]

    @property
    def files(self) -> list[Path]:
        return [self.folder / name for name in OUTPUTS]


def make_timeline(
    video: str | os.PathLike,
    model,
    processor,
    arguments: TimelineArguments,
    runtime: InferenceArguments | None = None,
    *,
    recognizer=None,
    soundtrack: Soundtrack | None = None,
    progress: bool = True,
) -> TimelineResult:
    """One long video -> ``arguments.out/<stem>/timeline.jsonl, .srt, .vtt, .png, .md`` (the Python API).

    The plan (segments and their subtitles) is made once and kept in ``state.json``; rows are appended to
    ``timeline.jsonl`` as their batch finishes (an interrupted run loses no finished row), and a rerun under the same
    keys (the video's size and time, the options, the subtitle file, the speech-recognition model; for the rows also
    ``model.name_or_path``'s files and the decoding) describes only the segments still missing. Under other keys the
    folder's timeline is made afresh. ``recognizer``: speech recognition for videos without a subtitle file (loaded
    here from ``arguments.asr`` when needed and not given). ``soundtrack``: the video already read by
    :func:`media.read_soundtrack`. ValueError names a video that cannot be read."""
    from ..faces import default_faces
    from ..speech import resolve_asr

    runtime = runtime if runtime is not None else InferenceArguments(num_workers=0)
    video = Path(video)
    folder = Path(arguments.out) / video.stem
    folder.mkdir(parents=True, exist_ok=True)
    state = TimelineState(folder)
    asr = resolve_asr(arguments.asr)
    key = plan_key(video, arguments, asr)
    plan = state.plan(key)
    if plan is None or soundtrack is None:
        soundtrack = soundtrack or read_soundtrack(video, max_seconds=arguments.max_duration)
    if plan is None:
        if recognizer is None and asr is not None and needs_asr(video, arguments) and soundtrack.waveform is not None:
            from .subtitles import load_recognizer

            recognizer = load_recognizer(asr, arguments.asr_language, runtime.device)
        plan = make_plan(video, arguments, soundtrack, recognizer)
    faces = default_faces(processor.input_mode) if plan.segments else None
    rows_key = {
        "plan": key,
        "model": source_stamp(getattr(model, "name_or_path", None) or None),
        "processor": {"input_mode": processor.input_mode, "num_frames": processor.num_frames},
        "task": arguments.task,
        "question": arguments.question,
        "generation": runtime.generation(),
        "dtype": runtime.dtype,
        "quantization": runtime.quantization,
        "faces": faces,
        "on_no_face": arguments.on_no_face,
    }
    rows_path = folder / ROWS_FILE
    if not state.rows_match(rows_key):
        for name in OUTPUTS:
            (folder / name).unlink(missing_ok=True)
    state.save(key, plan, rows_key)
    done = _finished(read_jsonl(rows_path), plan)
    pending = [i for i in range(len(plan.segments)) if i not in done]
    bar = tqdm(
        total=len(plan.segments), initial=len(done), desc=f"timeline {video.name}", unit="segment", disable=not progress
    )
    if pending:
        _describe(video, model, processor, arguments, runtime, plan, soundtrack, pending, faces, rows_path, bar)
    bar.close()
    rows = sorted(_finished(read_jsonl(rows_path), plan).values(), key=lambda row: row["segment"])
    write_jsonl(rows_path, rows)
    _write_outputs(video, folder, rows, plan, arguments, processor, model)
    return TimelineResult(str(video), folder, rows, plan)


def _describe(video, model, processor, arguments, runtime, plan, soundtrack, pending, faces, rows_path, bar) -> None:
    """Describe the pending segments in batches (media workers as in describe), appending each batch's rows."""
    segments = [plan.segments[i] for i in pending]
    clips = [Clip(str(i), subtitle=plan.segments[i].subtitle, subtitle_source=plan.subtitle_source) for i in pending]
    batches = SegmentBatches(
        processor,
        str(video),
        [(s.start, s.end) for s in segments],
        [s.subtitle for s in segments],
        soundtrack,
        batch_size=runtime.batch_size,
        task=arguments.task,
        question=arguments.question,
        faces=faces,
        on_no_face=arguments.on_no_face,
        clip_timeout=runtime.clip_timeout,
    )
    extractor = free_text_extractor(arguments.task, arguments.question)
    polarity = label_polarity()
    free_text = answers_are_free_text(arguments.task, arguments.question)

    def write(results: list[DescribeResult]) -> None:
        rows = [_row(int(r.name), plan, r, polarity, free_text) for r in results]
        append_jsonl(rows_path, rows)
        bar.update(len(rows))

    try:
        common = {"task": arguments.task, "question": arguments.question, "label_extractor": extractor}
        describe(model, processor, clips, runtime, on_batch=write, progress=False, prepare=batches, **common)
    finally:
        batches.close()


def _row(index: int, plan: VideoPlan, result: DescribeResult, polarity, free_text: bool) -> dict:
    """One timeline.jsonl row (timeline_outputs.ROW_FIELDS, and what else applies)."""
    segment = plan.segments[index]
    row = {
        "segment": index,
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "subtitle": segment.subtitle or "",
        "subtitle_source": plan.subtitle_source if segment.subtitle is not None else "none",
        "labels": [] if result.error else list(result.labels),
        "answer": result.text,
        "valence": None if result.error else valence(result.labels, polarity),
    }
    if free_text:
        row["description"] = result.text
    if result.face_source is not None:
        row.update(face_source=result.face_source, frames_without_face=result.frames_without_face)
    if not plan.has_audio:
        row["audio_note"] = "no audio track: silence"
    if result.error:
        row["error"] = result.error
    return row


def _finished(rows: Sequence[dict], plan: VideoPlan) -> dict[int, dict]:
    """Rows of this plan's segments (matched by index and times), the last one of each segment."""
    found: dict[int, dict] = {}
    for row in rows:
        index = row.get("segment")
        if isinstance(index, int) and 0 <= index < len(plan.segments):
            segment = plan.segments[index]
            if (row.get("start"), row.get("end")) == (round(segment.start, 3), round(segment.end, 3)):
                found[index] = row
    return found


RULES = {"speech": ("min_seconds", "max_seconds", "merge_gap"), "fixed": ("window", "step"), "subtitles": ()}
"""The segmentation lengths each --segments uses (the summary names those)."""


def _write_outputs(video: Path, folder: Path, rows: list[dict], plan: VideoPlan, arguments, processor, model) -> None:
    model_name, rules = getattr(model, "name_or_path", None) or arguments.model, arguments.rules()
    write_captions(rows, folder, with_subtitle=arguments.captions_with_subtitle)
    title = f"{video.name}: {len(rows)} segments ({arguments.segments}), {processor.input_mode}"
    write_plot(rows, folder / "timeline.png", plan.duration, title)
    settings = {
        "model": model_name,
        "task": arguments.question or arguments.task,
        "segments": arguments.segments,
        "rules": ", ".join(f"{k}={getattr(rules, k):g}" for k in RULES[arguments.segments]) or "-",
        "subtitles": plan.subtitle_source,
    }
    facts = {"video": video.name, "duration": plan.duration, "settings": settings}
    write_summary(rows, folder, {**facts, "skipped": plan.skipped, "notes": plan.notes})


# ------------------------------------------------------------------------------------------------------ the command
def run_timeline(
    paths: Sequence[str | os.PathLike], arguments: TimelineArguments, runtime: InferenceArguments
) -> tuple[list[TimelineResult], dict[str, str]]:
    """`affectgpt timeline`: videos named or found in folders, shared out among the processes of an `accelerate
    launch` (video k to process k mod N), each made into its timeline; speech recognition (for videos without a
    subtitle file) runs before the AffectGPT model loads. Returns the results and the videos that were not made
    (unreadable, or refused by their options; path -> why)."""
    from ..speech import resolve_asr
    from ..utils.distributed import Processes
    from .inputs import find_clips
    from .subtitles import load_recognizer

    videos = find_clips(paths)
    _check_names(videos, arguments)
    procs = Processes(runtime.device)
    mine = videos[procs.rank :: procs.world]
    asr = resolve_asr(arguments.asr)
    not_made: dict[str, str] = {}
    soundtracks: dict[Path, Soundtrack] = {}
    waiting = [v for v in mine if _plan_missing(v, arguments, asr)]
    recognizer = None
    if asr is not None and any(needs_asr(v, arguments) for v in waiting):
        recognizer = load_recognizer(asr, arguments.asr_language, procs.device)
    for video in waiting:  # plans first: the speech recogniser and the AffectGPT model never share the accelerator
        try:
            soundtrack = read_soundtrack(video, max_seconds=arguments.max_duration)
            plan = make_plan(video, arguments, soundtrack, recognizer)
        except ValueError as error:
            not_made[str(video)] = str(error)
            continue
        folder = Path(arguments.out) / video.stem
        folder.mkdir(parents=True, exist_ok=True)
        TimelineState(folder).save(plan_key(video, arguments, asr), plan)
        if len(mine) == 1:
            soundtracks[video] = soundtrack
    del recognizer
    results = []
    todo = [v for v in mine if str(v) not in not_made]
    if not todo:
        return results, not_made
    model, processor = load_model(
        arguments.model, dtype=runtime.dtype, device=procs.device, quantization=runtime.quantization
    )
    progress = not arguments.no_progress
    for video in todo:
        try:
            soundtrack = soundtracks.pop(video, None)
            results.append(
                make_timeline(video, model, processor, arguments, runtime, soundtrack=soundtrack, progress=progress)
            )
        except ValueError as error:
            not_made[str(video)] = str(error)
    return results, not_made


def _plan_missing(video: Path, arguments: TimelineArguments, asr: str | None) -> bool:
    return TimelineState(Path(arguments.out) / video.stem).plan(plan_key(video, arguments, asr)) is None


def _check_names(videos: Sequence[Path], arguments: TimelineArguments) -> None:
    """Each video gets OUT/<stem>: two videos of one stem are refused, as is one --subtitles file for several."""
    seen: dict[str, Path] = {}
    for video in videos:
        other = seen.setdefault(video.stem, video)
        if other != video:
            raise ValueError(
                f"{other} and {video} would both write {Path(arguments.out) / video.stem}; rename one, or run them "
                "with different --out folders"
            )
    if arguments.subtitles is not None and len(videos) != 1:
        raise ValueError(
            f"--subtitles {arguments.subtitles} times one video, and {len(videos)} were given; put NAME.srt or "
            "NAME.vtt beside each video instead"
        )


__all__ = ["OUTPUTS", "ROWS_FILE", "TimelineResult", "make_timeline", "run_timeline"]
