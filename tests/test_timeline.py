"""`affectgpt timeline`: a long video made here by joining toy clips of known emotions (with a matching SRT) is cut
into one segment per clip, and each segment's model input equals `describe`'s input for that clip cut out; speech
turns on espeak-ng speech; fixed windows; resuming after a kill; outputs that parse; bad input.

"Cut out" is exact by construction: the long video and each clip are written from the same RGB frames with lossless
H.264 (qp 0) and the same 16-bit PCM samples (in Matroska), so decoding either gives the same pixels and samples;
the clips' frames sit at multiples of 0.1 s and the cues at the clips' boundaries.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import webvtt
from PIL import Image
from utils import REPO, speak

from affectgpt_hf.cli import main
from affectgpt_hf.data.toy import EMOTIONS, SUBTITLES, face_frames, synth_voice
from affectgpt_hf.data.writers import write_video
from affectgpt_hf.inference.arguments import InferenceArguments, TimelineArguments
from affectgpt_hf.inference.batch import Clip, load_model, prepare_clip
from affectgpt_hf.inference.segment_clips import SegmentBatches
from affectgpt_hf.inference.timeline import make_timeline
from affectgpt_hf.inference.timeline_outputs import ROW_FIELDS
from affectgpt_hf.inference.timeline_plan import make_plan
from affectgpt_hf.media import load_audio, read_soundtrack

pytestmark = pytest.mark.timeout(300)

FPS, CLIP_FRAMES, RATE = 10, 20, 16000
CLIPS = 6  # emotions happy, sad, angry, surprised, happy, sad


def _stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


def write_srt(path: Path, cues: list[tuple[float, float, str]]) -> Path:
    blocks = [f"{n}\n{_stamp(s)} --> {_stamp(e)}\n{text}\n" for n, (s, e, text) in enumerate(cues, 1)]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def toy_parts(count: int = CLIPS, seconds: float = 2.0) -> list[dict]:
    """Toy clips of known emotions: face frames, voice (16-bit PCM values) and a subtitle naming the emotion."""
    parts = []
    for i in range(count):
        emotion = EMOTIONS[i % len(EMOTIONS)]
        frames = face_frames(emotion, round(seconds * FPS), 64, seed=100 + i)
        voice = np.round(synth_voice(emotion, seconds, RATE, seed=100 + i) * 32767).astype(np.int16)
        parts.append({"emotion": emotion, "frames": frames, "voice": voice, "subtitle": SUBTITLES[emotion][i % 5][0]})
    return parts


def write_lossless(path: Path, frames: np.ndarray, voice: np.ndarray | None, **options) -> Path:
    """Frames as lossless H.264 (qp 0) and 16-bit PCM, so what decodes is what was written."""
    write_video(path, frames, fps=FPS, audio=voice, sampling_rate=RATE, audio_codec="pcm_s16le",
                options={"qp": "0", **options.pop("x264", {})}, **options)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def joined(tmp_path_factory) -> dict:
    """long.mkv (the toy clips one after another) with long.srt (a cue per clip), and each clip cut out, in two
    encodings of the long video: one keyframe (a forward walk), and a keyframe every 7 frames with B-frames (seeks)."""
    folder = tmp_path_factory.mktemp("joined")
    parts = toy_parts()
    cues = [(2.0 * i, 2.0 * i + 2.0, part["subtitle"]) for i, part in enumerate(parts)]
    frames = np.concatenate([p["frames"] for p in parts])
    voice = np.concatenate([p["voice"] for p in parts])
    write_lossless(folder / "long.mkv", frames, voice)
    write_lossless(folder / "seeking.mkv", frames, voice, gop_size=7, x264={"bframes": "2"})
    for name in ("long", "seeking"):
        write_srt(folder / f"{name}.srt", cues)
    cut = [write_lossless(folder / f"cut{i}.mkv", p["frames"], p["voice"]) for i, p in enumerate(parts)]
    return {"folder": folder, "parts": parts, "cues": cues, "cut": cut}


def _unpadded(inputs: dict, k: int) -> dict[str, np.ndarray]:
    """Row k of a left-padded batch without its padding."""
    keep = inputs["attention_mask"][k].numpy().astype(bool)
    return {
        "input_ids": inputs["input_ids"][k].numpy()[keep],
        "pixel_values_videos": inputs["pixel_values_videos"][k].numpy(),
        "input_values": inputs["input_values"][k].numpy(),
    }


@pytest.mark.parametrize("name", ["long", "seeking"])
def test_each_segment_is_describes_input_for_the_clip_cut_out(joined, tiny_processor, name):
    """--segments subtitles: one segment per clip, and each segment's frames, audio samples and subtitle ids are
    describe's for the cut clip (its own file, read by media.py as describe reads it); a segment one frame early is
    not (so the comparison sees a shift of one frame)."""
    video = joined["folder"] / f"{name}.mkv"
    arguments = TimelineArguments(segments="subtitles", out=str(joined["folder"] / "out"))
    soundtrack = read_soundtrack(video)
    plan = make_plan(video, arguments, soundtrack)
    assert [(s.start, s.end, s.subtitle) for s in plan.segments] == joined["cues"]
    assert plan.subtitle_source == "given" and not plan.skipped
    spans = [(s.start, s.end) for s in plan.segments]
    batches = SegmentBatches(tiny_processor, str(video), spans, [s.subtitle for s in plan.segments], soundtrack,
                             batch_size=4)  # fmt: skip
    got = {}
    for number, indices in enumerate(([0, 1, 2, 3], [4, 5])):
        prepared = batches(number, indices)
        assert prepared.kept == indices and not prepared.errors
        got.update({i: _unpadded(prepared.inputs, k) for k, i in enumerate(indices)})
    batches.close()
    for i, cut in enumerate(joined["cut"]):
        expected = prepare_clip(tiny_processor, Clip(cut.stem, video=str(cut), subtitle=joined["cues"][i][2]))
        for key, value in got[i].items():
            np.testing.assert_array_equal(value, expected[key][0].numpy(), err_msg=f"segment {i}: {key}")
    early = [(s - 1 / FPS, e - 1 / FPS) for s, e in spans[1:3]]  # one frame early
    shifted = SegmentBatches(tiny_processor, str(video), early, [c[2] for c in joined["cues"][1:3]], soundtrack)
    moved = shifted(0, [0, 1])
    for k, i in enumerate((1, 2)):
        expected = prepare_clip(tiny_processor, Clip("c", video=str(joined["cut"][i]), subtitle=joined["cues"][i][2]))
        assert not np.array_equal(moved.inputs["pixel_values_videos"][k].numpy(), expected["pixel_values_videos"][0])
        assert not np.array_equal(moved.inputs["input_values"][k].numpy(), expected["input_values"][0])


def _labelled_describe(monkeypatch):
    """The timeline's describe with each answer's labels drawn from the answer (the tiny random model answers in
    tokens, which carry no labels), so valence, captions and the plot see real emotion words that follow the input."""
    import zlib

    from affectgpt_hf.inference import timeline

    words = ["happy", "sad", "angry", "worried", "surprised", "relaxed", "joyful", "frustrated"]
    real = timeline.describe

    def describe(*args, on_batch, **kwargs):
        def labelled(results):
            for result in results:
                if result.error is None:
                    bits = zlib.crc32(result.text.encode())
                    result.labels = [w for n, w in enumerate(words) if bits >> (3 * n) & 1][:3] or ["calm"]
            on_batch(results)

        return real(*args, on_batch=labelled, **kwargs)

    monkeypatch.setattr(timeline, "describe", describe)


def test_cli_writes_a_timeline_whose_files_parse(joined, tiny_model_dir, tmp_path, monkeypatch, capsys):
    """timeline.jsonl rows (fields, times, valence from the labels), SRT and VTT through webvtt-py, the PNG through
    PIL, the summary's sections; the same rows with two media workers as in place."""
    _labelled_describe(monkeypatch)
    model = tiny_model_dir(seed=0, sensitive=True)
    video = joined["folder"] / "seeking.mkv"
    argv = ["timeline", str(video), "--model", str(model), "--segments", "subtitles", "--max-new-tokens", "6",
            "--batch-size", "2", "--no-progress", "--captions-with-subtitle"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert "6 segment(s) -> " in capsys.readouterr().out
    folder = tmp_path / "a" / "seeking"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["state.json", "timeline.jsonl", "timeline.srt", "timeline.vtt", "timeline.png", "timeline.md"]
    )
    rows = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    assert [row["segment"] for row in rows] == list(range(CLIPS))
    from affectgpt_hf.unibench import get_extractor

    polarity = get_extractor(None).polarity
    for row, (start, end, text) in zip(rows, joined["cues"], strict=True):
        assert set(ROW_FIELDS) <= set(row) and "error" not in row
        assert (row["start"], row["end"], row["subtitle"], row["subtitle_source"]) == (start, end, text, "given")
        assert isinstance(row["answer"], str) and row["labels"]
        assert row["valence"] == pytest.approx(sum(map(polarity, row["labels"])) / len(row["labels"]), abs=1e-4)
        assert -1 <= row["valence"] <= 1
    assert len({row["answer"] for row in rows}) > 1  # the answers follow the segments
    assert len({row["valence"] for row in rows}) > 1
    srt = webvtt.from_srt(str(folder / "timeline.srt"))
    vtt = webvtt.read(str(folder / "timeline.vtt"))
    for captions in (srt.captions, vtt.captions):
        assert [(c.start_in_seconds, c.end_in_seconds) for c in captions] == [(s, e) for s, e, _ in joined["cues"]]
        assert [c.text.splitlines() for c in captions] == [[", ".join(r["labels"]), r["subtitle"]] for r in rows]
    with Image.open(folder / "timeline.png") as image:
        image.verify()
    with Image.open(folder / "timeline.png") as image:
        assert image.format == "PNG" and image.size[0] > 600
    summary = (folder / "timeline.md").read_text()
    for heading in (
        "## Share of time per label",
        "## Most positive and most negative moments",
        "## Left out or failed",
    ):
        assert heading in summary
    top = max(rows, key=lambda r: r["valence"])
    if top["valence"] > 0:
        assert f"most positive: {top['start'] // 60:02.0f}:{top['start'] % 60:02.0f}" in summary

    assert main([*argv, "--out", str(tmp_path / "b"), "--num-workers", "2"]) == 0
    assert (tmp_path / "b" / "seeking" / "timeline.jsonl").read_text() == (folder / "timeline.jsonl").read_text()


def test_speech_turns_fall_on_the_silences_of_spoken_sentences(tmp_path, capsys):
    """--segments speech on espeak-ng sentences between silences of 1.2-2 s: one segment per sentence, each boundary
    within 0.3 s of where its silence ends or begins; a video without speech gets zero segments and a message that
    suggests fixed windows (not an error)."""
    sentences = [
        "I told you already, I do not want to talk about it any more.",
        "This is wonderful news, I am so glad that you came here today.",
        "Why would you do that to me, after everything we went through?",
    ]
    gaps = [1.5, 1.2, 2.0, 1.6]
    track, speech = [np.zeros(int(gaps[0] * RATE), np.float32)], []
    position = gaps[0]
    for sentence, gap in zip(sentences, gaps[1:], strict=True):
        wave = load_audio(speak(tmp_path / "s.wav", sentence))
        loud = np.flatnonzero(np.abs(wave) > 0.02 * np.abs(wave).max())  # where espeak-ng's own silence ends
        speech.append((position + loud[0] / RATE, position + loud[-1] / RATE))
        track += [wave, np.zeros(int(gap * RATE), np.float32)]
        position += len(wave) / RATE + gap
    audio = np.concatenate(track)
    frames = np.random.default_rng(0).integers(0, 255, (int(len(audio) / RATE * FPS), 48, 64, 3), np.uint8)
    video = tmp_path / "talk.mkv"
    write_lossless(video, frames, audio)
    plan = make_plan(video, TimelineArguments(segments="speech", asr="none", out=str(tmp_path)))
    assert len(plan.segments) == len(sentences)
    for segment, (start, end) in zip(plan.segments, speech, strict=True):
        assert abs(segment.start - start) <= 0.3 and abs(segment.end - end) <= 0.3, (segment, start, end)
    assert all(s.subtitle is None for s in plan.segments) and plan.subtitle_source == "none"

    class Recognizer:  # speech recognition's timed sentences (as a transformers ASR pipeline gives them)
        def transcribe_waveform(self, wave):
            from affectgpt_hf.speech import Segment, Transcript

            timed = [Segment(s - 0.1, e + 0.1, text) for (s, e), text in zip(speech, sentences, strict=True)]
            return Transcript(" ".join(sentences), timed, model="fake")

    heard = make_plan(video, TimelineArguments(segments="speech", out=str(tmp_path)), recognizer=Recognizer())
    assert [s.subtitle for s in heard.segments] == sentences and heard.subtitle_source == "asr:fake"

    silent = write_lossless(tmp_path / "quiet.mkv", frames[:40], np.zeros(4 * RATE, np.int16))
    assert main(["timeline", str(silent), "--model", "nowhere", "--asr", "none", "--out", str(tmp_path / "o")]) == 2
    assert "nowhere" in capsys.readouterr().err  # the model is needed even so (named), so give it one:
    quiet = make_plan(silent, TimelineArguments(segments="speech", asr="none", out=str(tmp_path)))
    assert quiet.segments == [] and any("--segments fixed" in note for note in quiet.notes)


def test_fixed_windows_reach_the_videos_end(joined, tmp_path):
    """--segments fixed over a 12.3 s video (123 frames) with 4 s windows: the last window ends at its last frame."""
    parts = toy_parts(count=6)
    frames = np.concatenate([p["frames"] for p in parts] + [parts[0]["frames"][:3]])
    video = write_lossless(tmp_path / "odd.mkv", frames, None)
    plan = make_plan(video, TimelineArguments(segments="fixed", window=4.0, out=str(tmp_path)))
    assert [(s.start, round(s.end, 3)) for s in plan.segments] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.3)]
    assert not plan.has_audio and any("no audio track" in note for note in plan.notes)
    with pytest.raises(ValueError, match="odd.mkv has no audio track, so --segments speech.*--segments fixed"):
        make_plan(video, TimelineArguments(segments="speech", out=str(tmp_path)))


def test_a_killed_run_resumes_and_changed_options_start_afresh(joined, tiny_model_dir, tmp_path, monkeypatch):
    """A run killed (SIGKILL) after its first batch keeps its finished rows; the rerun describes only the rest and
    ends with the rows a run without the kill writes. Other options, or a touched video, start afresh."""
    model = tiny_model_dir(seed=0, sensitive=True)
    video = joined["folder"] / "long.mkv"
    out = tmp_path / "out"
    argv = ["timeline", str(video), "--model", str(model), "--segments", "subtitles", "--out", str(out),
            "--batch-size", "1", "--max-new-tokens", "6", "--no-progress"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen([sys.executable, "-m", "affectgpt_hf.cli", *argv], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)  # fmt: skip
    rows_file = out / "long" / "timeline.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and child.poll() is None:
        if rows_file.is_file() and len(rows_file.read_text().splitlines()) >= 2:
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()[-2000:]
    kept = [json.loads(line) for line in rows_file.read_text().splitlines() if line.strip()]
    assert 2 <= len(kept) < CLIPS

    from affectgpt_hf.inference import segment_clips

    prepared = []
    real = segment_clips.SegmentBatches.__call__

    def noted(self, number, indices):
        prepared.extend(self.spans[i] for i in indices)
        return real(self, number, indices)

    monkeypatch.setattr(segment_clips.SegmentBatches, "__call__", noted)
    assert main(argv) == 0
    assert len(prepared) == CLIPS - len(kept)  # only the segments still missing
    resumed = rows_file.read_text()
    assert main([*argv[:-7], "--out", str(tmp_path / "fresh"), *argv[-5:]]) == 0
    assert resumed == (tmp_path / "fresh" / "long" / "timeline.jsonl").read_text()

    prepared.clear()
    assert main([*argv, "--max-new-tokens", "5"]) == 0  # another decoding: every row again
    assert len(prepared) == CLIPS
    prepared.clear()
    assert main([*argv, "--max-new-tokens", "5"]) == 0 and not prepared  # the same again: nothing left to do
    assert main(argv) == 0 and len(prepared) == CLIPS  # back to 6 tokens: the folder holds 5-token rows, all again
    os.utime(video, ns=(time.time_ns(), time.time_ns()))  # ...and a touched video: planned and described again
    prepared.clear()
    assert main(argv) == 0 and len(prepared) == CLIPS


def test_ctrl_c_loses_no_finished_row(joined, tiny_model_dir, tmp_path, monkeypatch, capsys):
    """Ctrl-C (KeyboardInterrupt) after two batches: their rows are on disk, and the rerun completes the rest."""
    from affectgpt_hf.inference import timeline

    model, processor = load_model(tiny_model_dir(seed=0, sensitive=True))
    arguments = TimelineArguments(segments="subtitles", out=str(tmp_path))
    runtime = InferenceArguments(batch_size=2, max_new_tokens=4, num_workers=0)
    real, calls = timeline.append_jsonl, []

    def append_then_interrupt(path, rows):
        real(path, rows)
        calls.append(len(rows))
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(timeline, "append_jsonl", append_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        make_timeline(joined["folder"] / "long.mkv", model, processor, arguments, runtime, progress=False)
    rows = (tmp_path / "long" / "timeline.jsonl").read_text().splitlines()
    assert [json.loads(r)["segment"] for r in rows] == [0, 1, 2, 3]
    monkeypatch.setattr(timeline, "append_jsonl", real)
    result = make_timeline(joined["folder"] / "long.mkv", model, processor, arguments, runtime, progress=False)
    assert [row["segment"] for row in result.rows] == list(range(CLIPS))
    assert [json.loads(r) for r in rows] == result.rows[:4]

    calls.clear()  # the command says where the rows are and how to go on, without a traceback
    monkeypatch.setattr(timeline, "append_jsonl", append_then_interrupt)
    out = tmp_path / "cli"
    argv = ["timeline", str(joined["folder"] / "long.mkv"), "--model", str(tiny_model_dir(seed=0, sensitive=True)),
            "--segments", "subtitles", "--out", str(out), "--batch-size", "2", "--max-new-tokens", "4",
            "--no-progress"]  # fmt: skip
    assert main(argv) == 130
    assert "interrupted; the finished rows are in" in capsys.readouterr().err
    assert len((out / "long" / "timeline.jsonl").read_text().splitlines()) == 4


def test_a_corrupt_stretch_fails_its_segment_and_the_rest_goes_on(tiny_model_dir, tmp_path):
    """Garbage written over the packets of one second in the middle of an H.264 video (keyframe every second): that
    segment's row records the failure, the summary lists it, every other segment is described."""
    import av

    parts = toy_parts(count=6)
    video = tmp_path / "hurt.mp4"
    voice = np.concatenate([p["voice"] for p in parts]).astype(np.float32) / 32767
    write_video(video, np.concatenate([p["frames"] for p in parts]), fps=FPS, gop_size=10, audio=voice,
                sampling_rate=RATE)  # fmt: skip
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        packets = [(float(p.pts * stream.time_base), p.pos, p.size) for p in container.demux(stream) if p.size]
    data = bytearray(video.read_bytes())
    noise = np.random.default_rng(0)
    for seconds, position, size in packets:
        if 6.2 <= seconds < 7.2:  # inside segment 3 (6-8 s)
            data[position + 4 : position + size] = noise.integers(0, 255, size - 4, dtype=np.uint8).tobytes()
    video.write_bytes(bytes(data))
    write_srt(tmp_path / "hurt.srt", [(2.0 * i, 2.0 * i + 2.0, p["subtitle"]) for i, p in enumerate(parts)])
    model, processor = load_model(tiny_model_dir(seed=0, sensitive=True))
    arguments = TimelineArguments(segments="subtitles", out=str(tmp_path / "out"))
    result = make_timeline(video, model, processor, arguments, InferenceArguments(batch_size=2, max_new_tokens=4),
                           progress=False)  # fmt: skip
    assert [row["segment"] for row in result.failed] == [3]
    assert "could not be decoded" in result.failed[0]["error"] and result.failed[0]["valence"] is None
    assert all(row.get("answer") for row in result.rows if row["segment"] != 3)
    summary = (result.folder / "timeline.md").read_text()
    assert "- 00:06-00:08 (6.00-8.00 s): failed: " in summary


def test_max_duration_stops_there_with_a_message(joined, tmp_path, capsys):
    """A 12 s video under --max-duration 5: segments end by 5 s, the note says so, and the audio is not read far
    past it."""
    video = joined["folder"] / "long.mkv"
    soundtrack = read_soundtrack(video, max_seconds=5.0)
    assert not soundtrack.complete and soundtrack.seconds == 5.0
    assert len(soundtrack.waveform) < 12 * RATE
    plan = make_plan(video, TimelineArguments(segments="fixed", max_duration=5.0, out=str(tmp_path)), soundtrack)
    assert [(s.start, s.end) for s in plan.segments] == [(0.0, 5.0)]  # 4 s, then 1 s joined to it
    assert "long.mkv lasts longer than --max-duration 5 s: its timeline stops at 00:05 (5.0 s)" in plan.notes
    subtitled = make_plan(video, TimelineArguments(segments="subtitles", max_duration=5.0, out=str(tmp_path)))
    assert [(s.start, s.end) for s in subtitled.segments] == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]
    assert len(subtitled.skipped) == 3  # the cues after 5 s, each named


def test_timeline_help_loads_neither_torch_nor_transformers_modeling():
    code = (
        "import sys\nfrom affectgpt_hf.cli import main\n"
        "try:\n    main(['timeline', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('transformers.models')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--segments {speech,subtitles,fixed}" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.timeout(240)
def test_videos_are_shared_out_among_accelerate_processes(joined, tiny_model_dir, tmp_path):
    """`accelerate launch --num_processes 2 ... timeline FOLDER`: video k is made by process k mod 2, and each video's
    rows are those of a run in one process."""
    import shutil
    import textwrap

    folder = tmp_path / "videos"
    folder.mkdir()
    parts = toy_parts(count=2)
    cues = [(2.0 * i, 2.0 * i + 2.0, p["subtitle"]) for i, p in enumerate(parts)]
    for name in ("a", "b", "c"):
        write_lossless(folder / f"{name}.mkv", np.concatenate([p["frames"] for p in parts]),
                       np.concatenate([p["voice"] for p in parts]))  # fmt: skip
        write_srt(folder / f"{name}.srt", cues)
    model = tiny_model_dir(seed=0, sensitive=True)
    common = ["--model", str(model), "--segments", "subtitles", "--max-new-tokens", "4", "--no-progress"]
    assert main(["timeline", str(folder / "a.mkv"), *common, "--out", str(tmp_path / "one")]) == 0
    launcher = tmp_path / "timeline_ranks.py"  # the CLI, noting which process makes which video
    launcher.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            from affectgpt_hf.inference import timeline
            from affectgpt_hf.cli import main
            make = timeline.make_timeline

            def noted(video, *args, **kwargs):
                with open({str(tmp_path / "made")!r}, "a") as log:
                    log.write(f"{{os.environ['RANK']}} {{os.path.basename(str(video))}}\\n")
                return make(video, *args, **kwargs)

            timeline.make_timeline = noted
            sys.exit(main(sys.argv[1:]))
            """
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0"]
    command += [str(launcher), "timeline", str(folder), *common, "--out", str(tmp_path / "two")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=220)
    assert done.returncode == 0, done.stderr[-3000:]
    made = sorted(line.split() for line in (tmp_path / "made").read_text().splitlines())
    assert made == [["0", "a.mkv"], ["0", "c.mkv"], ["1", "b.mkv"]]
    one = (tmp_path / "one" / "a" / "timeline.jsonl").read_text()
    assert [(tmp_path / "two" / n / "timeline.jsonl").read_text() for n in "abc"] == [one] * 3
    shutil.rmtree(folder)
