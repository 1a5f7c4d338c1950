"""`affectgpt timeline` measured side by side in one run (perf/README.md, "Timeline").

Part A, on a long 720p H.264 video made here (``--minutes``, 25 fps, x264's default GOP of 250, AAC; spoken sentences
by espeak-ng between pauses of 0.4-2.5 s; the toy faces, a new one every 2-6 s), with the tiny model (``--model``: the
quickstart's trained one, so that labels follow the input):

  1. segmentation alone (the soundtrack read once, silero-vad, the turn rules) as a real-time factor (goal >= 100x);
  2. decoding: the timeline's frame reader (media.iter_segment_frames over the speech segments) against its floor,
     one forward decode of every frame of the video (goal <= 1.3x);
  3. the whole timeline (read, segment, describe, write the five files) against what a user does without it: each
     segment cut to its own file with the ffmpeg command line (re-encoded: `ffmpeg -ss S -to E -i IN -c:v libx264
     -c:a aac OUT.mp4`, Debian's ffmpeg), then `describe` on the folder (goal >= 2x); the baseline is handed the
     timeline's segments for free. Labels must agree on >= 95% of segments; they are also compared with lossless
     cuts of the first ``--lossless-cuts`` segments, whose inputs equal the timeline's.

Part B (``--model``, a trained quickstart folder, and its toy release): the held-out toy clips joined into one video
with an SRT of one cue per clip, `--segments subtitles`: the share of segments whose labels hold the clip's emotion,
against `describe` on the separate clips; once losslessly joined (qp 0, PCM: the inputs are the same, so the answers
must be too) and once as H.264 + AAC at x264's defaults.

    .venv/bin/python perf/bench_timeline.py [--minutes 10] [--model runs/quickstart] [--work DIR] [--skip-a|--skip-b]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from affectgpt_hf.data.writers import write_video
from affectgpt_hf.inference.arguments import InferenceArguments, TimelineArguments
from affectgpt_hf.inference.batch import Clip, describe, load_model
from affectgpt_hf.inference.timeline import make_timeline
from affectgpt_hf.inference.timeline_outputs import write_cues
from affectgpt_hf.inference.timeline_plan import make_plan
from affectgpt_hf.media import (
    SAMPLE_RATE,
    iter_segment_frames,
    load_audio,
    measure,
    open_media,
    read_soundtrack,
    sample_video_frames,
)

SENTENCES = [
    "I told you already, I do not want to talk about it any more.",
    "This is wonderful news, I am so glad that you came here today.",
    "Why would you do that to me, after everything we went through?",
    "Well, I suppose we could try again tomorrow morning.",
    "Nobody listens to me in this house, nobody at all.",
    "Honestly, I did not expect to see you here.",
]


# ------------------------------------------------------------------------------------------------------ the media
def spoken_track(seconds: float, work: Path, seed: int = 0) -> np.ndarray:
    """espeak-ng sentences between pauses of 0.4-2.5 s, 16 kHz mono, ``seconds`` long."""
    rng = np.random.default_rng(seed)
    voices = []
    for i, sentence in enumerate(SENTENCES):
        wav = work / f"sentence{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), sentence], check=True, capture_output=True)
        voices.append(load_audio(str(wav)))
    track = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
    position = 1.0
    while True:
        voice = voices[rng.integers(len(voices))]
        first = round(position * SAMPLE_RATE)
        if first + len(voice) > len(track):
            return track
        track[first : first + len(voice)] = voice
        position += len(voice) / SAMPLE_RATE + rng.uniform(0.4, 2.5)


def scenes(count: int, height: int, width: int, fps: int, seed: int = 0):
    """Frames of the toy faces the quickstart's model was trained on (data.toy.face_frames, drawn at the frame's
    height and stretched to its width, which the processor's square resize undoes), a new face and emotion every 2-6 s,
    each a loop of 20 frames: real work for the encoder, and pictures the model reads."""
    from PIL import Image

    from affectgpt_hf.data.toy import EMOTIONS, face_frames

    rng = np.random.default_rng(seed)
    loops = []
    for k, emotion in enumerate(EMOTIONS * 2):
        drawn = face_frames(emotion, 20, height, seed=k)
        loops.append([np.asarray(Image.fromarray(f).resize((width, height), Image.BILINEAR)) for f in drawn])
    change, scene = 0, 0
    for k in range(count):
        if k == change:
            scene = int(rng.integers(len(loops)))
            change = k + int(rng.uniform(2, 6) * fps)
        yield loops[scene][k % 20]


def long_video(path: Path, minutes: float, work: Path) -> Path:
    if path.is_file():
        return path
    fps, seconds = 25, minutes * 60
    audio = spoken_track(seconds, work)
    tick = time.perf_counter()
    write_video(path, scenes(round(seconds * fps), 720, 1280, fps), fps=fps, audio=audio, sampling_rate=SAMPLE_RATE,
                options={"preset": "veryfast"})  # fmt: skip
    print(f"wrote {path.name}: {minutes:g} min of 720p in {time.perf_counter() - tick:.0f} s")
    return path


# ------------------------------------------------------------------------------------------------------------ part A
def floor_decode(video: Path) -> float:
    """Seconds to decode every video frame once, forward (what any reader of all its frames pays)."""
    tick = time.perf_counter()
    with open_media(str(video), "a video file") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - tick


def cut(video: Path, start: float, end: float, target: Path, lossless: bool = False) -> None:
    """One segment to its own file as a user would: ffmpeg's command line, re-encoding (Debian's ffmpeg package);
    ``lossless``: H.264 at qp 0 and PCM (in .mkv): the cut holds the pixels and samples decoded from the video."""
    codecs = ["-qp", "0", "-preset", "ultrafast", "-c:a", "pcm_s16le"] if lossless else ["-c:a", "aac"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{start:.3f}", "-to", f"{end:.3f}", "-i", str(video),
                    "-c:v", "libx264", *codecs, str(target)], check=True)  # fmt: skip


def agreement(a: list[list[str]], b: list[list[str]]) -> float:
    return float(np.mean([sorted(x) == sorted(y) for x, y in zip(a, b, strict=True)]))


def part_a(args, work: Path) -> None:
    video = long_video(work / f"faces{args.minutes:g}.mp4", args.minutes, work)
    length = measure(str(video)).seconds
    arguments = TimelineArguments(model=args.model, out=str(work / "timeline"), segments="speech", asr="none")
    runtime = InferenceArguments(batch_size=8, max_new_tokens=24, num_workers=0)

    tick = time.perf_counter()
    plan = make_plan(video, arguments, read_soundtrack(video, max_seconds=arguments.max_duration))
    segmenting = time.perf_counter() - tick
    spans = [(s.start, s.end) for s in plan.segments]
    lengths = [e - s for s, e in spans]
    print(f"{len(spans)} speech segments of {min(lengths):.1f}-{max(lengths):.1f} s (mean {np.mean(lengths):.1f})")

    floor = floor_decode(video)
    tick = time.perf_counter()
    for _ in iter_segment_frames(str(video), spans, 8, (224, 224)):
        pass
    walking = time.perf_counter() - tick

    model, processor = load_model(args.model)
    shutil.rmtree(work / "timeline", ignore_errors=True)
    tick = time.perf_counter()
    result = make_timeline(video, model, processor, arguments, runtime, progress=False)
    whole = time.perf_counter() - tick

    folder = work / "cut"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    tick = time.perf_counter()
    for k, (start, end) in enumerate(spans):
        cut(video, start, end, folder / f"seg{k:04d}.mp4")
    cutting = time.perf_counter() - tick
    clips = [Clip(f"seg{k:04d}", video=str(folder / f"seg{k:04d}.mp4"), subtitle="") for k in range(len(spans))]
    tick = time.perf_counter()
    described = describe(model, processor, clips, runtime, progress=False)
    describing = time.perf_counter() - tick

    labels = [row["labels"] for row in result.rows]
    exact = min(len(spans), args.lossless_cuts)  # the same check on cuts that do not change the inputs
    for k, (start, end) in enumerate(spans[:exact]):
        cut(video, start, end, folder / f"exact{k:04d}.mkv", lossless=True)
    clips = [Clip(f"exact{k:04d}", video=str(folder / f"exact{k:04d}.mkv"), subtitle="") for k in range(exact)]
    exact_labels = [r.labels for r in describe(model, processor, clips, runtime, progress=False)]
    print(f"\nPart A: {length / 60:.1f} min of 720p H.264, model {args.model}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f} at the end (absolute times inflated by other work on the machine)")  # fmt: skip
    print(f"  segmentation: {segmenting:.1f} s = {length / segmenting:.0f}x real time (goal >= 100x)")
    print(f"  decoding: timeline's walk {walking:.1f} s vs one forward decode {floor:.1f} s = {walking / floor:.2f}x "
          "the floor (goal <= 1.3x)")  # fmt: skip
    print(
        f"  timeline {whole:.1f} s vs cut {cutting:.1f} s + describe {describing:.1f} s = "
        f"{(cutting + describing) / whole:.2f}x faster (goal >= 2x); describe alone {describing / whole:.2f}x"
    )
    print(
        f"  labels agree on {agreement(labels, [r.labels for r in described]):.1%} of {len(labels)} segments "
        f"({len({tuple(x) for x in labels})} distinct label sets; goal >= 95%); with lossless cuts (qp 0, PCM) on "
        f"{agreement(labels[:exact], exact_labels):.1%} of the first {exact}"
    )


# ------------------------------------------------------------------------------------------------------------ part B
def part_b(args, work: Path) -> None:
    import pandas as pd

    from affectgpt_hf.apps.quickstart import score
    from affectgpt_hf.data.toy import read_toy_meta

    release = Path(args.model) / "work" / "toy" / "mer2025-dataset"
    if not release.is_dir():
        release = next(Path(args.model).parent.glob("**/mer2025-dataset"))
    meta = read_toy_meta(release)
    test = meta[meta["split"] == "test"].head(args.clips)
    subtitles = pd.read_csv(release / "subtitle_chieng.csv", dtype={"name": str}, keep_default_na=False)
    subtitle_of = dict(zip(subtitles["name"], subtitles["english"], strict=True))
    frames, voices, cues, position = [], [], [], 0.0
    for name in test["name"]:
        mp4 = str(release / "video" / f"{name}.mp4")
        count = measure(mp4).frames
        frames.append(sample_video_frames(mp4, count, size=None))
        voice = load_audio(str(release / "audio" / f"{name}.wav"))[: round(count / 10 * SAMPLE_RATE)]
        voices.append(np.pad(voice, (0, round(count / 10 * SAMPLE_RATE) - len(voice))))
        cues.append((position, position + count / 10, subtitle_of[name]))
        position += count / 10
    model, processor = load_model(args.model)
    runtime = InferenceArguments(batch_size=16, max_new_tokens=24, num_workers=0)
    clips = [
        Clip(n, video=str(release / "video" / f"{n}.mp4"), audio=str(release / "audio" / f"{n}.wav"),
             subtitle=subtitle_of[n])
        for n in test["name"]
    ]  # fmt: skip
    alone = [r.labels for r in describe(model, processor, clips, runtime, task="ov_labels", progress=False)]
    emotions = test["emotion"].tolist()
    print(f"\nPart B: {len(test)} held-out toy clips joined ({position:.0f} s), model {args.model}")
    print(
        f"  describe on the separate clips: hit rate {score(alone, emotions)['hit_rate']:.3f}, "
        f"emotion among the labels {score(alone, emotions)['exact_label_rate']:.3f}"
    )
    pcm = np.round(np.concatenate(voices) * 32767).astype(np.int16)
    for kind, suffix, options in (("lossless (qp 0, PCM)", ".mkv", {"qp": "0"}), ("H.264 + AAC defaults", ".mp4", {})):
        video = work / f"heldout{suffix}"
        codec = "pcm_s16le" if suffix == ".mkv" else "aac"
        audio = pcm if suffix == ".mkv" else np.concatenate(voices)
        write_video(video, np.concatenate(frames), fps=10, audio=audio, sampling_rate=SAMPLE_RATE, options=options,
                    audio_codec=codec)  # fmt: skip
        write_cues(video.with_suffix(".srt"), cues)
        arguments = TimelineArguments(model=args.model, out=str(work / "heldout"), segments="subtitles", asr="none")
        result = make_timeline(video, model, processor, arguments, runtime, progress=False)
        labels = [row["labels"] for row in result.rows]
        scores = score(labels, emotions)
        print(
            f"  timeline, {kind}: {len(labels)} segments, hit rate {scores['hit_rate']:.3f}, emotion among the "
            f"labels {scores['exact_label_rate']:.3f}; labels equal describe's on {agreement(labels, alone):.1%}"
        )
        print(f"    files: {result.folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", default="runs/quickstart", help="a trained quickstart folder (part B needs one)")
    parser.add_argument("--clips", type=int, default=48, help="part B: held-out clips joined")
    parser.add_argument("--lossless-cuts", type=int, default=30, help="part A: segments also cut losslessly")
    parser.add_argument("--work", default=None, help="folder for the generated media (kept; default: a temp folder)")
    parser.add_argument("--skip-a", action="store_true")
    parser.add_argument("--skip-b", action="store_true")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_timeline_"))
    work.mkdir(parents=True, exist_ok=True)
    if not args.skip_b:
        part_b(args, work)
    if not args.skip_a:
        if shutil.which("ffmpeg") is None:
            raise SystemExit("part A cuts segments with the ffmpeg command line: apt-get install ffmpeg")
        part_a(args, work)


if __name__ == "__main__":
    main()
