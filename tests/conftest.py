"""Shared fixtures: offline settings, the tiny AffectGPT (config, processor, saved folder) and generated clips."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "hub_configs" / "tiny"
WHEEL_DIR = REPO.parent / "shared" / "emotion_wheel"
os.environ.setdefault("MER_UNIBENCH_WHEEL_DIR", str(WHEEL_DIR))


def tiny_config(sensitive: bool = False, **overrides):
    """The tiny AffectGPT config of hub_configs/tiny, with AffectGPTConfig fields overridden.

    At the hub config's 0.02 init the random model gives every clip the same answer, so comparing batched with
    one-by-one answers compares equal things; `sensitive` draws Qwen2 and CLIP weights wider, and the answer follows
    the clip's media and subtitle (tests using it first assert that their clips' answers differ).
    """
    from affectgpt_hf import AffectGPTConfig

    config = AffectGPTConfig.from_pretrained(TINY)
    if sensitive:
        text = {**config.text_config.to_dict(), "initializer_range": 0.3}
        vision = {**config.vision_config.to_dict(), "initializer_factor": 10.0}  # CLIP scales its init by this factor
        overrides = {"text_config": text, "vision_config": vision, **overrides}
    return AffectGPTConfig(**{**config.to_dict(), **overrides}) if overrides else config


def tiny_model(seed: int = 0, sensitive: bool = False, **overrides):
    from affectgpt_hf import AffectGPTForConditionalGeneration

    torch.manual_seed(seed)
    return AffectGPTForConditionalGeneration(tiny_config(sensitive, **overrides)).eval()


def save_tiny_folder(folder: Path, processor, seed: int = 0, sensitive: bool = False) -> Path:
    """A from_pretrained folder of the tiny model (random weights, tiny generation config) and its processor."""
    from affectgpt_hf.variants import VARIANTS, generation_config

    model = tiny_model(seed=seed, sensitive=sensitive)
    model.generation_config = generation_config(VARIANTS["tiny"][1])
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_processor():
    from affectgpt_hf import AffectGPTProcessor

    return AffectGPTProcessor.from_pretrained(TINY)


def make_clip(
    path: Path,
    seconds: float = 3.0,
    fps: int = 10,
    size=(48, 64),
    sampling_rate: int = 16000,
    channels: int = 1,
    audio: bool = True,
    seed: int = 0,
) -> Path:
    """An h264/aac mp4 whose frames and tone differ by seed."""
    from affectgpt_hf.media import write_video

    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, size=(max(1, int(seconds * fps)), *size, 3), dtype=np.uint8)
    track = None
    if audio:
        t = np.arange(int(seconds * sampling_rate)) / sampling_rate
        tone = (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t)).astype(np.float32)
        track = np.stack([tone] * channels) if channels > 1 else tone
    write_video(path, frames, fps=fps, audio=track, sampling_rate=sampling_rate)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    return [make_clip(folder / f"clip{i}.mp4", seconds=2.0 + i, seed=i) for i in range(3)]
