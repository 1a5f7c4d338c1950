"""The main job. For now: a tiny AffectGPT (random weights, the hub_configs/tiny shapes) saved with its processor,
a generated clip, and `describe` on it, through the same code paths a user runs. The trained quickstart replaces
the random model later."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .inference import Clip, describe, load_model
from .media import write_video
from .modeling_affectgpt import AffectGPTForConditionalGeneration
from .variants import VARIANTS, generation_config, variant_config, variant_processor


def write_demo_clip(path: Path, seconds: float = 3.0, fps: int = 10) -> Path:
    """A clip with a drawn face that brightens and a rising tone."""
    frames = np.zeros((int(seconds * fps), 96, 96, 3), np.uint8)
    for t, frame in enumerate(frames):
        frame[:] = 40 + 4 * t
        frame[24:72, 24:72] = (200, 170, 140)
        frame[58:62, 36 + (t % 3) : 60] = (60, 20, 20)
    time = np.arange(int(seconds * 16000)) / 16000
    tone = 0.3 * np.sin(2 * np.pi * (180 + 60 * time) * time)
    write_video(path, frames, fps=fps, audio=tone.astype(np.float32), sampling_rate=16000)
    return path


def run_quickstart(output_dir: str | Path) -> int:
    out = Path(output_dir)
    model_dir = out / "model"
    torch.manual_seed(0)
    model = AffectGPTForConditionalGeneration(variant_config("tiny"))
    model.generation_config = generation_config(VARIANTS["tiny"][1])
    model.save_pretrained(model_dir)
    variant_processor("tiny").save_pretrained(model_dir)
    clip = write_demo_clip(out / "clip.mp4")
    model, processor = load_model(model_dir)
    results = describe(
        model, processor, [Clip("clip", video=str(clip), subtitle="I told you already.")], max_new_tokens=16
    )
    for result in results:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    print(
        f"tiny AffectGPT (random weights) in {model_dir}; describe it with: affectgpt describe {clip} "
        f"--model {model_dir}"
    )
    return 0
