"""Tiny releases in each upstream layout, generated in code (for tests, examples and the benchmark runner's tests).

Each mimics the real files' quirks: ``openset`` cells quoted, bare and empty; NaN and Chinese subtitles; label npz
files holding pickled dicts (``{name: {'emo': str|int}}`` or ``{'val': float}``) under upstream's split keys; MER2023
clips in both .mp4 and .avi; IEMOCAP's .avi clips in ``subvideo-tgt`` and its Session-5 test split.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .layouts import LAYOUTS, get_layout
from .writers import write_audio, write_video

SAMPLE_DESCRIPTIONS = (
    "In the video, the man frowns and raises his voice; the subtitle says he was told already, so he is angry.",
    "The woman smiles broadly and laughs while speaking in a light tone, which suggests she is happy and relaxed.",
    "The speaker's voice trembles and his eyes look down; together with the subtitle this indicates worry.",
    "Her tone is flat and her face calm, with no clear emotional clue in the text, so the state seems neutral.",
)
SAMPLE_OPENSETS = ("['angry', 'frustrated']", "[happy, relaxed]", "worried, anxious", "[]")
SAMPLE_SUBTITLES_EN = ("I told you already.", "That is wonderful news!", float("nan"), "Okay.")
SAMPLE_SUBTITLES_ZH = ("我已经告诉过你了。", "真是好消息！", "我有点担心。", float("nan"))


def write_clip(path: str | os.PathLike, seed: int = 0, seconds: float = 1.0, size: int = 32, fps: int = 8) -> None:
    """A tiny clip with a moving colour and a tone (mp4: h264 + aac; avi: mpeg4 + pcm) at ``path``."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((int(seconds * fps), size, size, 3), dtype=np.uint8)
    base = rng.integers(0, 255, size=3)
    for index in range(len(frames)):
        frames[index] = (base + 16 * index) % 256
    samples = int(16000 * seconds)
    audio = (0.2 * np.sin(2 * np.pi * (220 + 40 * seed) * np.arange(samples) / 16000)).astype(np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "mpeg4" if path.suffix == ".avi" else "libx264"
    write_video(str(path), frames, fps, audio=audio, sampling_rate=16000, codec=codec)


def write_wav(path: str | os.PathLike, seed: int = 0, seconds: float = 1.0) -> None:
    """A 16 kHz mono tone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = int(16000 * seconds)
    audio = (0.2 * np.sin(2 * np.pi * (220 + 40 * seed) * np.arange(samples) / 16000)).astype(np.float32)
    write_audio(str(path), audio, 16000)


def write_faces(path: str | os.PathLike, seed: int = 0, frames: int = 4, size: int = 16) -> None:
    """OpenFace-like face crops (T, H, W, 3) uint8, as upstream's ``openface_face`` npy files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    np.save(path, rng.integers(0, 255, size=(frames, size, size, 3), dtype=np.uint8))


def _names(config: str, count: int, split: str) -> list[str]:
    offset = 0 if split == "train" else 100
    if config == "iemocap_four":
        session = "5" if split == "test" else "1"
        return [f"Ses0{session}F_impro0{index}_F00{index}" for index in range(count)]
    if config == "meld":
        return [f"dia{offset + index}_utt0" for index in range(count)]
    if config in ("cmu_mosi", "cmu_mosei"):
        return [f"clip{offset + index:03d}_{index + 1}" for index in range(count)]
    return [f"sample_{offset + index:08d}" for index in range(count)]


def write_mini_release(
    out_dir: str | os.PathLike, config: str, count: int = 3, media: bool = True, seed: int = 0
) -> Path:
    """Write a ``count``-clip release of ``config`` under ``out_dir/<upstream folder>``; returns that folder.

    Test sets get ``count`` test and 2 train clips (train clips without media unless ``media``). ``media=False``
    writes the tables only (for annotation-only tests).
    """
    layout = get_layout(config)
    root = Path(out_dir) / layout.folder
    root.mkdir(parents=True, exist_ok=True)
    if layout.task == "caption":
        names = _names(config, count, "train")
        _caption_tables(root, layout.name, names)
    elif layout.task == "ov":
        names = _names(config, count, "test")
        pd.DataFrame(
            {"name": names, "openset": [SAMPLE_OPENSETS[i % 4] for i in range(count)]},
        ).to_csv(root / "ovlabel.csv", index=False)
        pd.DataFrame(
            {"name": names, "sentence": [SAMPLE_SUBTITLES_EN[i % 4] for i in range(count)]},
        ).to_csv(root / "subtitle_eng.csv", index=False)
    else:
        names = _names(config, count, "test")
        _test_tables(root, layout.name, names, _names(config, 2, "train"))
    if media:
        for index, name in enumerate(names):
            ext = layout.video_exts[index % len(layout.video_exts)]
            write_clip(root / layout.video_dir / f"{name}{ext}", seed=seed + index)
            write_wav(root / layout.audio_dir / f"{name}.wav", seed=seed + index)
            write_faces(root / layout.face_pattern.format(name=name), seed=seed + index)
    return root


def write_all_mini_releases(out_dir: str | os.PathLike, count: int = 2, media: bool = True) -> dict[str, Path]:
    """Every layout (mer_caption shares MER2025's folder); config name -> release folder."""
    return {name: write_mini_release(out_dir, name, count=count, media=media) for name in LAYOUTS}


def _caption_tables(root: Path, config: str, names: list[str]) -> None:
    count = len(names)
    subtitles = pd.DataFrame(
        {
            "name": names,
            "chinese": [SAMPLE_SUBTITLES_ZH[i % 4] for i in range(count)],
            "english": [SAMPLE_SUBTITLES_EN[i % 4] for i in range(count)],
        }
    )
    subtitles.to_csv(root / "subtitle_chieng.csv", index=False)
    openset = pd.DataFrame({"name": names, "openset": [SAMPLE_OPENSETS[i % 4] for i in range(count)]})
    reasons = pd.DataFrame({"name": names, "reason": [SAMPLE_DESCRIPTIONS[i % 4] for i in range(count)]})
    if get_layout(config).needs_annotations:
        reasons.to_csv(root / "mer_caption_annotations.csv", index=False)
    else:
        openset.to_csv(root / "track2_train_mercaptionplus.csv", index=False)
        reasons.to_csv(root / "track3_train_mercaptionplus.csv", index=False)


def _test_tables(root: Path, config: str, test_names: list[str], train_names: list[str]) -> None:
    layout = LAYOUTS[config]

    def label(index: int) -> dict:
        if layout.task == "sentiment":
            scale = 3.0 if config.startswith("cmu") else 1.0
            return {"val": float(np.round(scale * np.sin(index + 1), 1))}
        if layout.emotion_names is not None:
            return {"emo": index % len(layout.emotion_names)}
        return {"emo": ("worried", "happy", "neutral", "angry", "surprise", "sad")[index % 6]}

    train = {name: label(index) for index, name in enumerate(train_names)}
    test = {name: label(index + 1) for index, name in enumerate(test_names)}
    label_path = root / layout.label_file
    if config == "iemocap_four":
        np.savez_compressed(label_path, whole_corpus={**train, **test})
    else:
        np.savez_compressed(label_path, **{layout.splits["train"]: train, layout.splits["test"]: test})
    names = train_names + test_names
    subtitles = pd.DataFrame(
        {
            "name": names,
            "chinese": [SAMPLE_SUBTITLES_ZH[i % 4] for i in range(len(names))],
            "english": [SAMPLE_SUBTITLES_EN[i % 4] for i in range(len(names))],
        }
    )
    subtitles.to_csv(root / layout.subtitle_csv, index=False)
