"""Fixtures and settings for every test: offline, the tiny AffectGPT (processor, saved folders), generated clips and
the mini MER-Caption+ release with its feature cache. Plain helpers live in utils.py."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Speech recognition for clips without a subtitle is off unless a test names a model (`--asr DIR`, `asr_model=`): the
# default Whisper lives on the Hub, which tests cannot reach. Tests of it use conftest's `tiny_whisper_dir`.
os.environ.setdefault("AFFECTGPT_ASR", "none")

import pytest  # noqa: E402
from utils import ROWS, TINY, WHEEL_DIR, make_clip, save_tiny_folder  # noqa: E402

os.environ.setdefault("MER_UNIBENCH_WHEEL_DIR", str(WHEEL_DIR))


@pytest.fixture(scope="session")
def tiny_processor():
    from affectgpt_hf import AffectGPTProcessor

    return AffectGPTProcessor.from_pretrained(TINY)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_processor):
    """`tiny_model_dir(seed=0, sensitive=False)`: the saved tiny model folder (utils.save_tiny_folder), built once per
    session for each (seed, sensitive); tests only read it."""
    built: dict[tuple[int, bool], Path] = {}

    def folder(seed: int = 0, sensitive: bool = False) -> Path:
        if (seed, sensitive) not in built:
            name = f"tiny_seed{seed}" + ("_sensitive" if sensitive else "")
            built[seed, sensitive] = save_tiny_folder(tmp_path_factory.mktemp(name), tiny_processor, seed, sensitive)
        return built[seed, sensitive]

    return folder


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    return [make_clip(folder / f"clip{i}.mp4", seconds=2.0 + i, seed=i) for i in range(3)]


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Path:
    """A mini MER-Caption+ release of ROWS clips (data/mini_release.py)."""
    from affectgpt_hf.data.mini_release import write_mini_release

    return write_mini_release(tmp_path_factory.mktemp("release"), "mer_caption_plus", count=ROWS)


@pytest.fixture(scope="session")
def feature_cache(release, tmp_path_factory) -> Path:
    """`affectgpt cache-features` over the mini release with the tiny model's seeded towers (seed 42 = train.yaml)."""
    from affectgpt_hf.cli import main

    out = tmp_path_factory.mktemp("features") / "tiny-features"
    assert main(["cache-features", "--model", str(TINY), "--dataset", str(release),
                 "--output", str(out), "--batch-size", "3"]) == 0  # fmt: skip
    return out


@pytest.fixture(scope="session")
def rows(release):
    """The mini release read by the MER-Caption builder (raw media, no features)."""
    from affectgpt_hf.data import load_mer_caption

    return load_mer_caption(release)


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory) -> Path:
    """A tiny random Whisper with Whisper's real multilingual vocabulary (utils.save_tiny_whisper), saved once."""
    from utils import save_tiny_whisper

    return save_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper"))


@pytest.fixture(scope="session")
def spoken(tmp_path_factory) -> dict[str, Path]:
    """Clips whose audio is espeak-ng speech: an English and a Chinese sentence (utils.speech_clip)."""
    from utils import speech_clip

    folder = tmp_path_factory.mktemp("spoken")
    return {
        "en": speech_clip(folder / "told.mp4", "I told you already, I do not want to talk about it."),
        "zh": speech_clip(folder / "zh.mp4", "我已经告诉过你了", voice="cmn", seed=1),
    }
