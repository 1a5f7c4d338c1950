"""Speed of media.py against the naive way, measured side by side in one run (no asserts).

For a 10 s 1280x720 25 fps h264 + aac clip, written twice (x264's default GOP, keyint 250, and keyint 25):
  (a) media.py:  sample_video_frames (8 frames at 224x224) + load_audio + audio_clips
  (b) naive:     decode and convert every frame to RGB at 224x224 (the same conversion), then index; same audio
Prints clips/s of each and the ratio (a)/(b). Also checks that (a) and (b) return the same frames.

    PYTHONPATH=src python perf/bench_media.py [--repeats 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from affectgpt_hf import media
from affectgpt_hf.data.writers import write_video
from affectgpt_hf.media import audio_clips, frame_indices, load_audio, sample_video_frames


def make_clip(path: Path, seconds: float, gop_size: int | None) -> None:
    fps, height, width = 25, 720, 1280
    count = round(seconds * fps)
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (height // 8, (width + 4 * count) // 8, 3), dtype=np.uint8)
    texture = texture.repeat(8, axis=0).repeat(8, axis=1)  # blocky texture: realistic bitrate, cheap to encode
    frames = np.stack([texture[:, 4 * i : 4 * i + width] for i in range(count)])
    t = np.arange(round(seconds * 48000)) / 48000
    audio = 0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)])
    write_video(path, frames, fps=fps, audio=audio, sampling_rate=48000, gop_size=gop_size, options={"preset": "fast"})


def ours(path: Path):
    frames = sample_video_frames(path)
    clips = audio_clips(load_audio(path))
    return frames, clips


def naive(path: Path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        convert = getattr(media, "_RGBConverter", None)  # absent before the decord-equal conversion
        convert = convert((224, 224), "decord") if convert else lambda f: media._to_rgb(f, (224, 224))
        every = [convert(f) for f in container.decode(stream)]
    frames = np.stack(every)[frame_indices(len(every))]
    clips = audio_clips(load_audio(path))
    return frames, clips


def clips_per_second(fn, path: Path, repeats: int) -> float:
    fn(path)  # warm-up (file cache, codec init)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(path)
        best = min(best, time.perf_counter() - start)
    return 1.0 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{args.seconds:g} s 1280x720 25 fps h264 + aac 48 kHz stereo; best of {args.repeats}")
        print(f"{'GOP':<14}{'media.py clips/s':>18}{'decode-all clips/s':>20}{'ratio':>8}  same frames")
        for label, gop in (("x264 default", None), ("keyint 25", 25)):
            path = Path(tmp) / f"clip_{gop}.mp4"
            make_clip(path, args.seconds, gop)
            same = np.array_equal(ours(path)[0], naive(path)[0])
            fast = clips_per_second(ours, path, args.repeats)
            slow = clips_per_second(naive, path, args.repeats)
            print(f"{label:<14}{fast:>18.2f}{slow:>20.2f}{fast / slow:>7.1f}x  {same}")


if __name__ == "__main__":
    main()
