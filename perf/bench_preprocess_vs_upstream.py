"""Preprocessing speed: upstream AffectGPT's own loaders against our processor, same files, one run (no asserts).

Per clip (a video and its 16 kHz mono wav), the frame model's inputs:
  upstream  its own code in its pinned environment (decord 0.6.0, torchaudio 2.4.0's Python part, pytorchvideo
            0.1.5, transformers 4.49), run in a subprocess: ``BaseDataset.read_frame_face_audio_text`` for frame
            and audio (decord at 224x224 + the eval video transform; torchaudio + pytorchvideo clips + the mel
            transform) and what the encoders do before the towers (frames -> PIL -> ``CLIPImageProcessor``; the
            clips -> ``Wav2Vec2FeatureExtractor``)
  ours      ``AffectGPTProcessor(videos=[mp4], audio=[wav], subtitles=[""])`` for the frame variant
            (media.py + the same two feature extractors, and the prompt's tokenization)
Clips: h264 1280x720 at x264's default GOP (keyint 250), h264 1920x1080 in one GOP, each as PyAV writes it (two
slices a picture) and as the ffmpeg command line does (one slice), MPEG-4 part 2 1280x720 (FFmpeg's encoder, GOP 12).
Both sides run with --threads threads (default 2: torch, OpenMP; decord's automatic decoder threading, which follows
the CPUs the process may use; ours picks slice, frame or no threads per stream, ``media._thread_type``), the
process and upstream's subprocess pinned to that many CPUs. ``--threads 1`` compares the work one core does per clip,
as in each media worker of pipeline.py.
Calls alternate, one of upstream's then one of ours, clip after clip, so that a machine slowing down or speeding up
during the run weighs on both sides alike. Prints clips/s (best of --repeats after a warm-up round) and ours/upstream.

    AFFECTGPT_UPSTREAM_ENV=DIR PYTHONPATH=src python perf/bench_preprocess_vs_upstream.py [--repeats 5] [--seconds 4]
        [--threads 2] [--upstream-python PY] [--upstream-src SRC] [--shims DIR]   (default: DIR/venv/bin/python,
        DIR/src/AffectGPT, DIR/shims: upstream's environment as tests/golden/README builds it)

The upstream environment is the one ../shared/notes/upstream-env.md describes (tests/golden/README builds it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "golden" / "upstream"))
from env_options import add_upstream_env_options, check_upstream_env  # noqa: E402

UPSTREAM = textwrap.dedent(
    """
    import json, sys, time
    import torch
    torch.set_num_threads(int(sys.argv[1]))
    import einops
    from transformers import CLIPImageProcessor, Wav2Vec2FeatureExtractor
    from my_affectgpt.datasets.datasets.base_dataset import BaseDataset
    from my_affectgpt.processors.video_processor import AlproVideoEvalProcessor
    from my_affectgpt.models.encoder import func_VideoReader_to_Image

    dataset = BaseDataset(vis_processor=AlproVideoEvalProcessor(image_size=224, n_frms=8))
    dataset.n_frms, dataset.needed_data = 8, ["frame", "audio"]
    clip_processor = CLIPImageProcessor(  # openai/clip-vit-large-patch14's preprocessor_config.json
        do_resize=True, size={"shortest_edge": 224}, resample=3, do_center_crop=True,
        crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
        do_convert_rgb=True)
    feature_extractor = Wav2Vec2FeatureExtractor(  # chinese-hubert-large's
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True)

    def one(video, wav):
        sample = dataset.read_frame_face_audio_text(video_path=video, audio_path=wav)
        raw_frame = sample["raw_frame"][None]  # what CLIP_VIT_LARGE.forward receives: [b c t h w]
        images = func_VideoReader_to_Image(einops.rearrange(raw_frame, "b c t h w -> (b t) h w c"))
        pixels = clip_processor(images=images, return_tensors="pt")["pixel_values"]
        raw_audio = sample["raw_audio"][None][:, :, 0, :]  # HUBERT_LARGE.forward
        raw_audio = einops.rearrange(raw_audio, "b t s -> (b t) s")
        values = feature_extractor(raw_audio, sampling_rate=16000, return_tensors="pt").input_values
        return pixels, values

    print("ready", flush=True)
    for line in sys.stdin:  # one clip a line: time one call, answer with the seconds
        video, wav = json.loads(line)
        start = time.perf_counter()
        one(video, wav)
        print(time.perf_counter() - start, flush=True)
    """
)


def _texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random picture (with per-frame grain added later, bitrates come near real footage)."""
    cells = rng.integers(0, 256, (height // 16 + 2, width // 16 + 2, 3)).astype(np.float32)
    image = cells.repeat(16, axis=0).repeat(16, axis=1)[:height, :width]
    for axis in (0, 1):  # a 32-pixel box blur along each axis, by cumulative sums
        padded = np.concatenate(
            [np.repeat(image.take([0], axis), 16, axis), image, np.repeat(image.take([-1], axis), 16, axis)], axis
        )
        total = np.cumsum(padded, axis=axis, dtype=np.float64)
        image = (
            (total.take(range(32, total.shape[axis]), axis) - total.take(range(0, total.shape[axis] - 32), axis)) / 32
        )[tuple(slice(0, n) for n in (height, width))]
    return image.astype(np.uint8)


# PyAV asks libx264 for slice threads, so its pictures come in two slices on 2 cores; the ffmpeg command line asks for
# frame threads, one slice a picture, which slice threading cannot split between the cores.
ONE_SLICE = {"preset": "fast", "x264-params": "sliced-threads=0"}


def make_clips(folder: Path, seconds: float) -> list[tuple[str, Path, Path]]:
    """The three clips and their wavs: a smooth picture panning 4 px a frame under fresh grain; a 16 kHz tone."""
    from affectgpt_hf.data.writers import write_audio, write_video

    specs = [
        (0, "h264 1280x720, x264 default GOP", "h264_720p.mp4", 720, 1280, "libx264", None, {"preset": "fast"}),
        (0, "  the same, one slice a picture", "h264_720p_1slice.mp4", 720, 1280, "libx264", None, ONE_SLICE),
        (1, "h264 1920x1080, one GOP", "h264_1080p.mp4", 1080, 1920, "libx264", None, {"preset": "fast"}),
        (1, "  the same, one slice a picture", "h264_1080p_1slice.mp4", 1080, 1920, "libx264", None, ONE_SLICE),
        (2, "MPEG-4 part 2 1280x720, GOP 12", "mpeg4_720p.mp4", 720, 1280, "mpeg4", 12, {"qscale": "4"}),
    ]
    fps = 25
    count = round(seconds * fps)
    out = []
    for seed, label, name, height, width, codec, gop, options in specs:
        path = folder / name
        wav = folder / (path.stem + ".wav")
        out.append((label, path, wav))
        if path.exists() and wav.exists():
            continue
        rng = np.random.default_rng(seed)
        texture = _texture(height, width + 4 * count, rng)
        grain = [rng.integers(-8, 9, (height, width, 1), dtype=np.int16) for _ in range(7)]  # fresh every frame
        frames = np.stack(
            [np.clip(texture[:, 4 * i : 4 * i + width] + grain[i % 7], 0, 255).astype(np.uint8) for i in range(count)]
        )
        write_video(path, frames, fps=fps, codec=codec, gop_size=gop, options=options)
        t = np.arange(round(seconds * 16000)) / 16000
        write_audio(wav, 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2, 16000)
    return out


class Upstream:
    """Upstream's loaders in a subprocess of its pinned environment, timing one call per request."""

    def __init__(self, args) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")  # its warnings; a pipe left unread could fill and stall it
        threads = str(args.threads)
        env = dict(
            os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONPATH=f"{args.shims}:{args.upstream_src}"
        )
        self.process = subprocess.Popen(
            [args.upstream_python, "-c", UPSTREAM, threads],
            cwd=args.upstream_src,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        while self._answer() != "ready":  # its imports are done
            pass

    def seconds(self, video: Path, wav: Path) -> float:
        self.process.stdin.write(json.dumps([str(video), str(wav)]) + "\n")
        self.process.stdin.flush()
        return float(self._answer())

    def _answer(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            self.process.kill()
            self.log.seek(0)
            sys.exit(f"upstream's loaders failed in {self.process.args[0]}:\n{self.log.read()[-3000:]}")
        return line.strip()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def time_both(args, clips) -> tuple[dict[Path, float], dict[Path, float]]:
    """Best seconds per clip for each side; each call of one side is followed by one of the other, so a machine
    that slows down or speeds up during the run weighs on both alike."""
    import torch

    from affectgpt_hf import AffectGPTProcessor

    torch.set_num_threads(args.threads)
    processor = AffectGPTProcessor.from_settings(input_mode="multiframe_audio_frame_text")

    def ours(video, wav) -> float:
        start = time.perf_counter()
        processor(videos=[str(video)], audio=[str(wav)], subtitles=[""], task="ov_labels", return_tensors="pt")
        return time.perf_counter() - start

    upstream = Upstream(args)
    best_upstream, best_ours = {}, {}
    for repeat in range(args.repeats + 1):  # the first round warms both up and is not counted
        for _, video, wav in clips:
            up, we = upstream.seconds(video, wav), ours(video, wav)
            if repeat:
                best_upstream[video] = min(best_upstream.get(video, up), up)
                best_ours[video] = min(best_ours.get(video, we), we)
    upstream.close()
    return best_upstream, best_ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    add_upstream_env_options(parser)
    parser.add_argument("--clips-dir", help="write the clips here and reuse them if present (default: a temp folder)")
    parser.add_argument("--threads", type=int, default=2, help="threads and CPUs for each side (default 2)")
    args = parser.parse_args()
    check_upstream_env(args)
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])  # upstream's subprocess inherits it
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_clips(Path(args.clips_dir or tmp), args.seconds)
        upstream, ours = time_both(args, clips)
        print(f"{args.seconds:g} s clips at 25 fps + 16 kHz mono wav; {args.threads} thread(s) on "
              f"{len(os.sched_getaffinity(0))} CPU(s); best of {args.repeats}")  # fmt: skip
        print(f"{'clip':<34}{'Mbit/s':>8}{'upstream clips/s':>18}{'ours clips/s':>14}{'ratio':>8}")
        for label, video, _ in clips:
            up, we = 1 / upstream[video], 1 / ours[video]
            rate = video.stat().st_size * 8 / args.seconds / 1e6
            print(f"{label:<34}{rate:>8.2f}{up:>18.2f}{we:>14.2f}{we / up:>7.2f}x")


if __name__ == "__main__":
    main()
