"""The toy emotion set: its cues per modality, and the real MER-Caption+ builder reading it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affectgpt_hf.data.toy import (
    CUE_MIX,
    EMOTIONS,
    OV_LABELS,
    _cue_plan,
    _held_out,
    face_frames,
    read_toy_meta,
    synth_voice,
    write_toy_release,
)


def _pitch(wave: np.ndarray, rate: int = 16000) -> float:
    """Fundamental frequency from the autocorrelation peak between 60 and 500 Hz."""
    voiced = wave[np.abs(wave) > 0.05 * np.abs(wave).max()][:4000]
    corr = np.correlate(voiced, voiced, mode="full")[len(voiced) - 1 :]
    low, high = rate // 500, rate // 60
    return rate / (low + int(np.argmax(corr[low:high])))


@pytest.mark.timeout(60)
def test_cues_differ_per_emotion():
    faces = {e: face_frames(e, frames=2, seed=3).astype(float) for e in (None, *EMOTIONS)}
    means = {e: f[0, 16:48, 16:48].mean(axis=(0, 1)) for e, f in faces.items()}  # the face's colour (RGB)
    assert means["angry"][0] > means["angry"][2] + 80  # red
    assert means["sad"][2] > means["sad"][0] + 40  # blue
    assert means["surprised"].mean() > means[None].mean() + 30  # pale and bright
    assert means["happy"][0] > means[None][0] + 20 and means["happy"][2] < means[None][2] - 40  # warm yellow
    pitch = {e: _pitch(synth_voice(e, seed=3)) for e in (None, *EMOTIONS)}
    assert pitch["sad"] < pitch[None] < pitch["happy"]
    loud = {e: np.abs(synth_voice(e, seed=3)).max() for e in (None, *EMOTIONS)}
    assert loud["angry"] > loud[None] > loud["sad"]


def test_held_out_split_keeps_each_cue_groups_share():
    """The held-out clips are the same fraction of every (emotion, cue set) group, to within a clip, and as many as
    a plain split would take: a cue group's held-out score no longer rides on how many of its clips were drawn."""
    for n, fraction, seed in ((360, 1 / 3, 0), (192, 0.25, 4), (50, 0.2, 1)):
        rng = np.random.default_rng(seed)
        plan = _cue_plan(n, rng)
        test = _held_out(plan, fraction, rng)
        assert len(test) == round(fraction * n) and all(0 <= i < n for i in test)
        groups = pd.Series([f"{e}:{'+'.join(c)}" for e, c in plan])
        held = groups[sorted(test)].value_counts()
        for group, size in groups.value_counts().items():
            assert abs(held.get(group, 0) - fraction * size) < 1, (n, group, size, held.get(group, 0))
        cue_sets = {"+".join(cues) for _, cues in CUE_MIX}
        assert set(groups.str.split(":").str[1]) == cue_sets
    assert _held_out(plan, 0.0, rng) == set()


@pytest.mark.timeout(120)
def test_toy_release_read_by_the_real_builder(tmp_path):
    from affectgpt_hf.data import load_mer_caption

    root = write_toy_release(tmp_path, n=12, seed=1, progress=False)
    assert root.name == "mer2025-dataset"
    meta = read_toy_meta(root)
    assert sorted(meta["split"].unique()) == ["test", "train"]
    assert set(meta["emotion"]) == set(EMOTIONS)
    assert meta["cues"].str.split("+").map(len).min() >= 1
    dataset = load_mer_caption(root, cache_dir=tmp_path / "cache")
    assert len(dataset) == 12
    assert {
        "name",
        "subtitle",
        "subtitle_en",
        "subtitle_zh",
        "description",
        "ov_labels",
        "video",
        "audio",
        "face",
    } <= set(dataset.column_names)
    emotion_of = dict(zip(meta["name"], meta["emotion"], strict=True))
    for row in dataset:
        assert row["ov_labels"] == OV_LABELS[emotion_of[row["name"]]]
        assert row["description"].startswith("In the video, ")
        assert row["subtitle"] and row["subtitle_zh"]
    openset = pd.read_csv(root / "track2_train_mercaptionplus.csv")
    assert openset["openset"].str.match(r"^\[[a-z]+, [a-z]+\]$").all()  # MER-Caption+'s "[happy, excited]" form


@pytest.mark.timeout(120)
def test_toy_data_cli(tmp_path, capsys):
    from affectgpt_hf.cli import main

    assert main(["toy-data", "--out", str(tmp_path), "--n", "4"]) == 0
    assert "wrote 4 clips" in capsys.readouterr().out
    assert len(list((tmp_path / "mer2025-dataset" / "video").glob("*.mp4"))) == 4
    with pytest.raises(ValueError, match="at least 4"):
        write_toy_release(tmp_path / "small", n=2)


@pytest.mark.timeout(120)
def test_same_seed_same_decoded_clips(tmp_path):
    """Two writes with one seed decode to the same frames (lossy libx264 output varied from run to run)."""
    from affectgpt_hf.media import sample_video_frames

    first = write_toy_release(tmp_path / "a", n=12, seed=3, progress=False)
    second = write_toy_release(tmp_path / "b", n=12, seed=3, progress=False)
    paths = sorted((first / "video").glob("*.mp4"))
    assert len(paths) == 12, f"expected the 12 toy clips in {first / 'video'}, found {len(paths)}"
    for path in paths:
        a = sample_video_frames(path, num_frames=20)  # every frame of the 20-frame clips
        b = sample_video_frames(second / "video" / path.name, num_frames=20)
        assert np.array_equal(a, b), path.name
