"""The Space's Timeline tab: a longer video (its own duration cap, ``Limits.max_timeline_seconds``) -> its emotion
timeline (inference/timeline.py, the model the Space already holds): the plot, a table of the segments, and the video
playing with the labels as captions.

The upload passes the checks every upload passes (demo.check_upload, with the timeline's duration cap); the timeline
reads it through media.py as `affectgpt timeline` does, and the player gets an MP4 the app copied from it (packets as
they are), never the upload itself, so Gradio has no upload of its own to probe."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from .arguments import Limits

logger = logging.getLogger(__name__)

TIMELINE_API = "timeline"
SEGMENTATIONS = {"speech": "Speech turns (voice activity)", "fixed": "Fixed windows (videos without speech)"}
TABLE_HEADERS = ["start", "end", "labels", "valence", "subtitle"]
BATCH_SIZE = 4


def timeline_of(analyzer, video: str, segments: str = "speech", window: float = 4.0, max_new_tokens: int = 64):
    """``video``'s timeline by ``analyzer``'s model and speech recogniser, in a fresh folder: (the TimelineResult, the
    rows as table rows, the MP4 for the player or None when its codecs do not fit MP4)."""
    from ..inference.arguments import InferenceArguments, TimelineArguments
    from ..inference.timeline import make_timeline
    from ..media import remux_to_mp4

    if segments not in SEGMENTATIONS:
        raise ValueError(f"segments {segments!r}; expected one of {', '.join(SEGMENTATIONS)}")
    folder = fresh_folder()
    recognizer = analyzer.recognizer
    arguments = TimelineArguments(
        model=analyzer.source,
        out=str(folder),
        segments=segments,
        window=float(window),
        asr=recognizer.model_id if recognizer is not None else "none",
        on_no_face="frames",
    )
    runtime = InferenceArguments(batch_size=BATCH_SIZE, max_new_tokens=max_new_tokens, num_workers=0)
    result = make_timeline(
        video, analyzer.model, analyzer.processor, arguments, runtime, recognizer=recognizer, progress=False
    )
    player = folder / "player.mp4"
    try:
        remux_to_mp4(video, player)
    except ValueError as error:
        logger.info("no player copy: %s", error)
        player = None
    return result, table_rows(result.rows), player


KEEP_SECONDS = 3600.0
"""A request's folder is removed by a request this long after it (Gradio has copied what it shows by then)."""


def fresh_folder(parent: Path | None = None) -> Path:
    """A new folder for one request's timeline, under one parent whose folders older than :data:`KEEP_SECONDS` are
    removed first, so a public Space does not fill its disk."""
    import shutil
    import time

    parent = parent or Path(tempfile.gettempdir()) / "affectgpt_timelines"
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.iterdir():
        if old.is_dir() and time.time() - old.stat().st_mtime > KEEP_SECONDS:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=parent))


def table_rows(rows: list[dict]) -> list[list[object]]:
    """timeline.jsonl rows as the tab's table (TABLE_HEADERS); a failed segment shows its error as its labels."""
    from ..inference.timeline_outputs import clock

    table = []
    for row in rows:
        labels = f"(failed) {row['error']}" if row.get("error") else ", ".join(row["labels"]) or "(no labels)"
        valence = "" if row.get("valence") is None else f"{row['valence']:+.2f}"
        table.append([clock(row["start"]), clock(row["end"]), labels, valence, row.get("subtitle") or ""])
    return table


def add_timeline_tab(analyzer, limits: Limits, respond_in_time, gpu) -> None:
    """The tab's components and its endpoint ``/timeline`` (video, segments="speech", window=4.0) -> plot, table,
    video with captions, summary. Called inside the app's Blocks; ``respond_in_time(call, names, timeout)`` runs
    ``call`` under the time limit and turns bad-input errors into refusals (demo.build_demo's)."""
    import gradio as gr

    from .demo import check_upload

    timeline_limits = limits.for_timeline()

    @gpu
    def run(video, segments, window):
        if not video:
            raise gr.Error("no video: upload a video (mp4, mkv, mov, webm, avi)", print_exception=False)
        names = {video: check_upload(video, timeline_limits)}
        result, table, player = respond_in_time(
            lambda: timeline_of(analyzer, video, segments or "speech", window or 4.0), names, limits.timeline_timeout_s
        )
        summary = (result.folder / "timeline.md").read_text(encoding="utf-8")
        shown = gr.Video(value=str(player), subtitles=str(result.folder / "timeline.vtt")) if player else None
        return str(result.folder / "timeline.png"), table, shown, summary

    with gr.Tab("Timeline"):
        gr.Markdown(
            "A longer video (up to "
            f"{limits.max_timeline_seconds:g} s) cut into utterances (speech turns, or fixed windows), each described "
            "as one clip: the labels over time, their valence (from MER-UniBench's sentiment mapping of the labels), "
            "a table of the segments, and the video with the labels as captions."
        )
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="Video", sources=["upload"], format=None, include_audio=True)
                segments = gr.Radio(
                    choices=[(label, key) for key, label in SEGMENTATIONS.items()], value="speech", label="Segments"
                )
                window = gr.Number(value=4.0, label="Fixed windows: seconds each", minimum=0.5, maximum=60)
                button = gr.Button("Make the timeline", variant="primary")
            with gr.Column():
                plot = gr.Image(label="Timeline", type="filepath")
                captioned = gr.Video(label="With emotion captions", format=None, interactive=False)
        table = gr.Dataframe(headers=TABLE_HEADERS, label="Segments", interactive=False, wrap=True)
        summary = gr.Markdown()
        button.click(
            run, inputs=[video, segments, window], outputs=[plot, table, captioned, summary], api_name=TIMELINE_API
        )


__all__ = [
    "KEEP_SECONDS",
    "SEGMENTATIONS",
    "TABLE_HEADERS",
    "TIMELINE_API",
    "add_timeline_tab",
    "fresh_folder",
    "table_rows",
    "timeline_of",
]
