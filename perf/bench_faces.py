"""Cost of the built-in face crops (faces.py), measured side by side in one run (no asserts):

  (a) crops per second on a 1280x720 h264 clip (the 8 frames upstream samples): detection + alignment alone on the
      decoded frames, and with the decoding (what `faces="auto"` does per clip);
  (b) added latency per clip in `inference.batch`: the tiny model as a face model with `faces="auto"` against the
      same tiny model as the frame model, on the same clips (exactly ``--new-tokens`` tokens each, batch 1).

The clips show matplotlib's sample photo (Grace Hopper) moving over a grey 720p frame, with a tone as audio.

    .venv/bin/python perf/bench_faces.py [--clips 4] [--repeats 3] [--new-tokens 8] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch
from PIL import Image

from affectgpt_hf import AffectGPTForConditionalGeneration
from affectgpt_hf.data.writers import write_video
from affectgpt_hf.faces import crop_faces, get_detector, video_face_crops
from affectgpt_hf.hub.variants import TINY_RANKS, generation_config, variant_config, variant_processor
from affectgpt_hf.inference.arguments import InferenceArguments
from affectgpt_hf.inference.batch import Clip, describe
from affectgpt_hf.media import sample_video_frames

FACE, FRAME = "multiface_audio_face_text", "multiframe_audio_frame_text"


def make_clip(path: Path, seed: int, seconds: float = 3.0, fps: int = 25) -> str:
    photo = np.asarray(
        Image.open(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")).convert("RGB")
    )
    face = np.asarray(Image.fromarray(photo).resize((256, 300)))
    count = int(seconds * fps)
    frames = np.full((count, 720, 1280, 3), 90, np.uint8)
    rng = np.random.default_rng(seed)
    x0, y0 = rng.integers(100, 800), rng.integers(50, 350)
    for t in range(count):
        x = x0 + 2 * t
        frames[t, y0 : y0 + 300, x : x + 256] = face
    tone = (0.2 * np.sin(np.arange(int(seconds * 16000)) / 16000 * 2 * np.pi * (200 + 20 * seed))).astype(np.float32)
    write_video(path, frames, fps=fps, audio=tone)
    return str(path)


def timed(function, repeats: int) -> float:
    """Median seconds of ``repeats`` calls (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def build(input_mode: str, device: str) -> tuple[AffectGPTForConditionalGeneration, object]:
    torch.manual_seed(0)
    model = AffectGPTForConditionalGeneration(variant_config("tiny", input_mode=input_mode)).eval().to(device)
    model.generation_config = generation_config(TINY_RANKS)
    return model, variant_processor("tiny", input_mode=input_mode)


def seconds_per_clip(model, processor, clips: list[Clip], new_tokens: int) -> float:
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, progress=False)
    runtime = InferenceArguments(batch_size=1, num_workers=0)
    describe(model, processor, clips[:1], runtime, **kwargs)  # warm-up
    started = time.perf_counter()
    results = describe(model, processor, clips, runtime, **kwargs)
    elapsed = time.perf_counter() - started
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"describe failed: {errors}")
    return elapsed / len(clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {args.clips} clips of 3 s 1280x720 25 fps")
    with tempfile.TemporaryDirectory() as tmp:
        paths = [make_clip(Path(tmp) / f"clip{i}.mp4", seed=i) for i in range(args.clips)]
        get_detector(args.device)
        frames = sample_video_frames(paths[0], num_frames=8, size=None)
        crop = timed(lambda: crop_faces(frames, device=args.device), args.repeats)
        decode = timed(lambda: sample_video_frames(paths[0], num_frames=8, size=None), args.repeats)
        whole = timed(lambda: video_face_crops(paths[0], device=args.device), args.repeats)
        print(f"(a) detection + alignment of 8 decoded 720p frames: {crop:.3f} s ({8 / crop:.1f} crops/s)")
        print(f"    decoding the 8 frames at full size alone: {decode:.3f} s")
        print(f"    decoding + detection + alignment (faces='auto' per clip): {whole:.3f} s ({8 / whole:.1f} crops/s)")

        face_model, face_processor = build(FACE, args.device)
        frame_model, frame_processor = build(FRAME, args.device)
        clips_auto = [Clip(f"clip{i}", video=p, faces="auto", subtitle="I told you.") for i, p in enumerate(paths)]
        clips_frames = [Clip(f"clip{i}", video=p, subtitle="I told you.") for i, p in enumerate(paths)]
        with_faces = seconds_per_clip(face_model, face_processor, clips_auto, args.new_tokens)
        with_frames = seconds_per_clip(frame_model, frame_processor, clips_frames, args.new_tokens)
        print(
            f"(b) describe, tiny model, batch 1, {args.new_tokens} new tokens: face model with faces='auto' "
            f"{with_faces:.3f} s/clip vs frame model {with_frames:.3f} s/clip: +{with_faces - with_frames:.3f} s/clip "
            f"({with_faces / with_frames:.2f}x)"
        )


if __name__ == "__main__":
    main()
