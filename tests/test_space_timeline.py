"""The Space's Timeline tab on loopback through gradio_client: a video of toy clips -> the plot, the table of segments
(`affectgpt timeline`'s rows for the same file), the video with the labels as WebVTT captions; a video over the
timeline's own duration cap is refused, naming it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import webvtt
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

RATE, FPS = 16000, 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _toy_video(path: Path, clips: int) -> Path:
    """Toy clips of known emotions one after another (2 s each), H.264 + AAC in MP4, as a user would upload."""
    from affectgpt_hf.data.toy import EMOTIONS, face_frames, synth_voice
    from affectgpt_hf.data.writers import write_video

    emotions = [EMOTIONS[i % len(EMOTIONS)] for i in range(clips)]
    frames = np.concatenate([face_frames(e, 2 * FPS, 64, seed=i) for i, e in enumerate(emotions)])
    voice = np.concatenate([synth_voice(e, 2.0, RATE, seed=i) for i, e in enumerate(emotions)])
    write_video(path, frames, fps=FPS, audio=voice, sampling_rate=RATE)
    return path


@pytest.mark.timeout(300)
def test_timeline_tab_through_gradio_client(tiny_model_dir, tmp_path):
    from gradio_client import Client, handle_file

    from affectgpt_hf.apps.arguments import Limits
    from affectgpt_hf.apps.demo import build_demo
    from affectgpt_hf.apps.timeline_tab import table_rows
    from affectgpt_hf.inference.arguments import InferenceArguments, TimelineArguments
    from affectgpt_hf.inference.batch import load_model
    from affectgpt_hf.inference.timeline import make_timeline

    model_dir = tiny_model_dir(seed=0, sensitive=True)
    limits = Limits(max_seconds=5.0, max_timeline_seconds=15.0)
    demo = build_demo(model_dir, limits=limits, asr="none")
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    video = _toy_video(tmp_path / "talk.mp4", clips=6)  # 12 s: over the clip cap, within the timeline's
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        plot, table, captioned, summary = client.predict(handle_file(str(video)), "fixed", 4.0, api_name="/timeline")
        with pytest.raises(Exception, match=r"long\.mp4 lasts at least .* the limit is 15 s"):
            client.predict(handle_file(str(_toy_video(tmp_path / "long.mp4", 9))), "fixed", 4.0, api_name="/timeline")
    finally:
        demo.close()

    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size[0] > 600
    model, processor = load_model(model_dir)
    arguments = TimelineArguments(model=str(model_dir), out=str(tmp_path / "cli"), segments="fixed", asr="none")
    runtime = InferenceArguments(batch_size=4, max_new_tokens=64, num_workers=0)
    expected = make_timeline(video, model, processor, arguments, runtime, progress=False)
    assert [[s[0], s[1]] for s in table_rows(expected.rows)] == [
        ["00:00", "00:04"],
        ["00:04", "00:08"],
        ["00:08", "00:12"],
    ]
    assert table["data"] == table_rows(expected.rows)  # the same rows as `affectgpt timeline` on the same file
    assert Path(captioned["value"]).suffix == ".mp4"  # an update of the player: the app's MP4 copy, its captions
    captions = webvtt.read(captioned["subtitles"])
    assert [(c.start_in_seconds, c.end_in_seconds) for c in captions] == [(0, 4), (4, 8), (8, 12)]
    assert [c.text for c in captions] == [", ".join(r["labels"]) or "(no labels)" for r in expected.rows]
    assert "## Share of time per label" in summary and "talk.mp4" in summary
    assert json.loads((expected.folder / "timeline.jsonl").read_text().splitlines()[0])["segment"] == 0


def test_old_request_folders_are_removed(tmp_path):
    import os
    import time

    from affectgpt_hf.apps.timeline_tab import KEEP_SECONDS, fresh_folder

    old, recent = fresh_folder(tmp_path), fresh_folder(tmp_path)
    past = time.time() - KEEP_SECONDS - 10
    os.utime(old, (past, past))
    new = fresh_folder(tmp_path)
    assert not old.exists() and recent.is_dir() and new.is_dir() and new != recent
