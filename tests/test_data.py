"""Builders over generated mini releases in each upstream layout, Hub folders, the SFT view and bad input."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys

import datasets
import numpy as np
import pytest

from affectgpt_hf import media
from affectgpt_hf.data import (
    LAYOUTS,
    MODEL_SUBTITLE,
    ReleaseError,
    add_sft_columns,
    attach_media,
    build_dataset,
    choose_question,
    load_mer_caption,
    load_unibench,
    pick_pair,
    push_to_hub,
    read_release,
    sft_pairs,
    write_hub_folder,
)
from affectgpt_hf.data.mini_release import write_all_mini_releases, write_mini_release


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    root = tmp_path_factory.mktemp("releases")
    return root, write_all_mini_releases(root, count=4)


@pytest.fixture
def caption_release(tmp_path):
    return write_mini_release(tmp_path, "mer_caption_plus", count=3)


@pytest.mark.timeout(60)
def test_every_layout_builds(releases, tmp_path):
    _, roots = releases
    for name, root in roots.items():
        annotations = root / "mer_caption_annotations.csv" if name == "mer_caption" else None
        split = "train" if name in ("mer_caption_plus", "mer_caption") else "test"
        ds = build_dataset(root, name, split=split, annotations=annotations, cache_dir=tmp_path)
        assert len(ds) == 4, name
        row = ds[0]
        assert row["subtitle"] == row[MODEL_SUBTITLE[name]]
        assert os.path.isfile(row["video"]["path"]) and os.path.isfile(row["audio"]["path"])
        assert os.path.isfile(row["face"])
        assert isinstance(ds.features["video"], datasets.Video) and not ds.features["video"].decode
        assert isinstance(ds.features["audio"], datasets.Audio) and not ds.features["audio"].decode


@pytest.mark.timeout(60)
def test_upstream_quirks(releases, tmp_path):
    _, roots = releases
    plus = load_mer_caption(roots["mer_caption_plus"], cache_dir=tmp_path)
    # quoted, bare-bracket, bare and empty openset cells (string_to_list); NaN English subtitle -> ""
    assert plus["ov_labels"] == [["angry", "frustrated"], ["happy", "relaxed"], ["worried", "anxious"], []]
    assert plus[2]["subtitle_en"] == "" and plus[2]["subtitle_zh"] == "我有点担心。"
    assert plus[0]["face"].endswith("openface_face/sample_00000000/sample_00000000.npy")
    assert plus[0]["description"].startswith("In the video")
    caption = load_mer_caption(
        roots["mer_caption"], "mer_caption", annotations=roots["mer_caption"] / "mer_caption_annotations.csv"
    )
    assert caption[0]["ov_labels"] is None  # no openset column: no labels, not "neutral"

    mer2024 = load_unibench(roots["mer2024"], "MER2024", cache_dir=tmp_path)  # upstream key works too
    assert MODEL_SUBTITLE["mer2024"] == "subtitle_zh" and mer2024[0]["subtitle"] == mer2024[0]["subtitle_zh"]
    assert mer2024["emotion"] == ["happy", "neutral", "angry", "surprise"]

    mer2023 = load_unibench(roots["mer2023"], "mer2023", cache_dir=tmp_path)
    assert [os.path.splitext(p["path"])[1] for p in mer2023["video"]] == [".mp4", ".avi", ".mp4", ".avi"]

    iemocap = load_unibench(roots["iemocap_four"], "iemocap_four", cache_dir=tmp_path)
    assert all(name[4] == "5" for name in iemocap["name"])  # Session 5 of whole_corpus
    assert all("/subvideo-tgt/" in p["path"] and p["path"].endswith(".avi") for p in iemocap["video"])
    assert iemocap["emotion"] == ["sad", "neutral", "anger", "happy"]  # integer labels through upstream's emos
    iemocap_train = load_unibench(roots["iemocap_four"], "iemocap_four", split="train", media=(), cache_dir=tmp_path)
    assert all(name[4] == "1" for name in iemocap_train["name"])

    meld = load_unibench(roots["meld"], "meld", cache_dir=tmp_path)
    assert meld["emotion"] == ["joy", "sadness", "neutral", "disgust"]
    mosei = load_unibench(roots["cmu_mosei"], "cmu_mosei", cache_dir=tmp_path)
    assert "/subvideo_new/" in mosei[0]["video"]["path"] and mosei[0]["valence"] == pytest.approx(2.7)
    simsv2 = load_unibench(roots["sims_v2"], "SIMSv2", cache_dir=tmp_path)
    assert "/video_new/" in simsv2[0]["video"]["path"] and -1 <= simsv2[0]["valence"] <= 1
    ov = load_unibench(roots["ov_merd_plus"], "ov_merd_plus", cache_dir=tmp_path)
    assert ov[0]["subtitle_zh"] is None and ov[0]["face"].endswith("openface_face/sample_00000100.npy")


@pytest.mark.timeout(90)
def test_hub_folder_load_dataset_and_media(releases, tmp_path):
    root, roots = releases
    out = write_hub_folder(root, tmp_path / "hub", configs=["mer_caption_plus", "meld"], embed_media=True)
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "license: cc-by-nc-4.0" in readme and "extra_gated_prompt" in readme and "2501.16566" in readme
    assert "config_name: mer_caption_plus" in readme and "train: 4" in readme
    ds = datasets.load_dataset(str(out), "mer_caption_plus", split="train", cache_dir=str(tmp_path / "cache"))
    assert ds["name"][:2] == ["sample_00000000", "sample_00000001"] and ds[3]["ov_labels"] == []
    row = ds[0]
    assert row["video"]["bytes"] and row["audio"]["bytes"]
    frames = media.sample_video_frames(io.BytesIO(row["video"]["bytes"]), num_frames=8, size=(224, 224))
    assert frames.shape == (8, 224, 224, 3) and frames.dtype == np.uint8
    original = media.sample_video_frames(roots["mer_caption_plus"] / "video" / "sample_00000000.mp4")
    np.testing.assert_array_equal(frames, original)
    audio = media.load_audio(io.BytesIO(row["audio"]["bytes"]))
    assert audio.dtype == np.float32 and audio.shape == (16000,)
    faces = np.load(io.BytesIO(row["face"]))
    assert faces.shape == (4, 16, 16, 3)
    meld = datasets.load_dataset(str(out), "meld", split="test", cache_dir=str(tmp_path / "cache"))
    assert meld["emotion"][0] == "joy"


@pytest.mark.timeout(60)
def test_annotation_only_folder_attach_media_and_push(caption_release, tmp_path, monkeypatch):
    out = write_hub_folder(caption_release, tmp_path / "hub")
    ds = datasets.load_dataset(str(out), "mer_caption_plus", split="train", cache_dir=str(tmp_path / "cache"))
    assert "video" not in ds.column_names
    with_media = attach_media(ds, caption_release, "mer_caption_plus")
    assert with_media[1]["video"]["path"].endswith("video/sample_00000001.mp4")
    assert media.load_faces(with_media[1]["face"]).shape == (8, 224, 224, 3)
    os.remove(caption_release / "video" / "sample_00000001.mp4")
    with pytest.raises(ReleaseError, match="sample_00000001"):
        attach_media(ds, caption_release, "mer_caption_plus")
    with pytest.warns(UserWarning, match="1 row"):
        assert len(attach_media(ds, caption_release, "mer_caption_plus", skip_missing=True)) == 2

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))
            return "https://huggingface.co/datasets/me/mer/commit/abc"

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    from affectgpt_hf.cli import main

    assert main(["dataset", "build", "--data-dir", str(tmp_path), "--out", str(tmp_path / "cli"), "--config",
                 "mer_caption_plus", "--push-to-hub", "me/mer"]) == 0  # fmt: skip
    assert (tmp_path / "cli" / "data" / "mer_caption_plus").is_dir()
    assert calls[1] == ("create_repo", "me/mer", {"repo_type": "dataset", "private": True, "exist_ok": True})
    upload = calls[2][1]
    assert upload["repo_id"] == "me/mer" and upload["repo_type"] == "dataset"
    assert upload["folder_path"] == str(tmp_path / "cli")
    assert push_to_hub(out, "me/other", private=False).endswith("abc")


@pytest.mark.timeout(120)  # a subprocess imports the package (datasets, torch): slow on a loaded machine
def test_sft_view_and_choice():
    row = {"name": "sample_1", "description": "She smiles.", "ov_labels": []}
    pairs = sft_pairs(row)
    assert pairs["ov_labels"][1] == "The character's emotional state is neutral."
    assert pairs["description"] == (
        "Please infer the person's emotional state and provide your reasoning process.",
        "She smiles.",
    )
    assert sft_pairs({"name": "x", "description": "d", "ov_labels": None}).keys() == {"description"}
    draws = [choose_question(7, epoch, "sample_1") for epoch in range(200)]
    assert draws == [choose_question(7, epoch, "sample_1") for epoch in range(200)]
    assert 70 < draws.count("description") < 130  # about half each
    assert len({choose_question(0, 0, f"s{i}") for i in range(20)}) == 2
    assert pick_pair(row, 7, 3)[0] == draws[3]
    code = (
        "from affectgpt_hf.data import choose_question; print([choose_question(7, e, 'sample_1') for e in range(20)])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert other.stdout.strip() == str(draws[:20])  # stable across processes (hashlib, not hash())


@pytest.mark.timeout(30)
def test_add_sft_columns(caption_release, tmp_path):
    ds = add_sft_columns(load_mer_caption(caption_release, cache_dir=tmp_path))
    assert ds[0]["answer_ov_labels"] == "The character's emotional state is angry, frustrated."
    assert ds[0]["answer_description"] == ds[0]["description"]


@pytest.mark.timeout(60)
def test_bad_input_is_named(caption_release, tmp_path):
    os.remove(caption_release / "audio" / "sample_00000001.wav")
    (caption_release / "video" / "sample_00000002.mp4").write_bytes(b"not a video at all")
    with pytest.raises(ReleaseError, match="sample_00000001") as error:
        load_mer_caption(caption_release, cache_dir=tmp_path)
    assert "skip_missing" in str(error.value)
    with pytest.warns(UserWarning, match=r"sample_00000001") as record:
        ds = load_mer_caption(caption_release, skip_missing=True, cache_dir=tmp_path)
    assert any("sample_00000002" in str(w.message) and "broken" in str(w.message) for w in record)
    assert ds["name"] == ["sample_00000000"]
    # broken mp4 alone is an error naming it
    shutil.copy(caption_release / "audio" / "sample_00000000.wav", caption_release / "audio" / "sample_00000001.wav")
    with pytest.raises(Exception, match="sample_00000002.mp4"):
        load_mer_caption(caption_release, cache_dir=tmp_path / "b")


@pytest.mark.timeout(30)
def test_bad_tables(caption_release, tmp_path):
    track2 = caption_release / "track2_train_mercaptionplus.csv"
    text = track2.read_text(encoding="utf-8").replace('"[happy, relaxed]"', '"[[happy], relaxed"')
    track2.write_text(text, encoding="utf-8")
    with pytest.raises(ReleaseError, match=r"sample_00000001: .*openset"):
        read = load_mer_caption(caption_release, cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="sample_00000001"):
        read = load_mer_caption(caption_release, skip_missing=True, cache_dir=tmp_path / "s")
    assert len(read) == 2
    subtitles = caption_release / "subtitle_chieng.csv"
    subtitles.write_bytes(subtitles.read_text(encoding="utf-8").encode("gbk"))
    with pytest.raises(ValueError, match=r"subtitle_chieng.csv is not UTF-8"):
        load_mer_caption(caption_release, cache_dir=tmp_path / "u")
    with pytest.raises(ValueError, match="annotations="):
        load_mer_caption(caption_release, "mer_caption")
    with pytest.raises(ValueError, match="unknown"):
        load_unibench(caption_release, "mer2099")


def test_ov_merd_plus_names_come_from_the_subtitle_csv(tmp_path):
    """Upstream's OV-MERD+ test names are subtitle_eng.csv's, in its order; each needs an ovlabel.csv row."""
    import pandas as pd

    root = write_mini_release(tmp_path, "ov_merd_plus", count=3, media=False)
    names = pd.read_csv(root / "subtitle_eng.csv", dtype={"name": str})["name"].tolist()
    labels = pd.read_csv(root / "ovlabel.csv", dtype={"name": str})
    extra = pd.DataFrame({"name": ["not_a_test_clip"], "openset": ["[happy]"]})
    pd.concat([labels.iloc[:0:-1], extra]).to_csv(root / "ovlabel.csv", index=False)  # reversed, first row gone
    with pytest.raises(ReleaseError, match=f"{names[0]}: no row in ovlabel.csv"):
        read_release("ov_merd_plus", root, media=())
    with pytest.warns(UserWarning, match="1 row"):
        rows = read_release("ov_merd_plus", root, media=(), skip_missing=True)
    assert [row["name"] for row in rows] == names[1:]


def test_layouts_match_upstream_config():
    """Paths as upstream config.py (fffca79) spells them."""
    expected = {
        "iemocap_four": ("subvideo-tgt", "subaudio", "label_4way.npz"),
        "cmu_mosei": ("subvideo_new", "subaudio", "label.npz"),
        "sims_v2": ("video_new", "audio", "label.npz"),
        "mer2024": ("video", "audio", "label-6way.npz"),
        "meld": ("subvideo", "subaudio", "label.npz"),
    }
    for name, (video, audio, label) in expected.items():
        layout = LAYOUTS[name]
        assert (layout.video_dir, layout.audio_dir, layout.label_file) == (video, audio, label)
    assert LAYOUTS["mer2024"].subtitle_csv == "transcription_merge.csv"


@pytest.mark.timeout(120)
def test_dataset_build_verify_media_finds_a_clip_cut_short(tmp_path, capsys):
    """A clip cut after its first bytes passes the container check; `--verify-media` decodes it and names it, and
    with `--skip-missing` the other rows are built."""
    import warnings

    from affectgpt_hf.cli import main

    release = write_mini_release(tmp_path / "release", "mer_caption_plus", count=3)
    video = sorted((release / "video").iterdir())[0]
    video.write_bytes(video.read_bytes()[:2000])
    args = ["dataset", "build", "--data-dir", str(release), "--config", "mer_caption_plus", "--media", "video"]
    assert main([*args, "--out", str(tmp_path / "unverified")]) == 0  # its first bytes are an mp4's
    assert datasets.load_dataset(str(tmp_path / "unverified"), "mer_caption_plus", split="train").num_rows == 3
    args += ["--verify-media", "--out", str(tmp_path / "verified")]
    assert main(args) == 2
    assert f"undecodable {video}" in capsys.readouterr().err
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*args, "--skip-missing"]) == 0
    assert any("skipping 1 row" in str(w.message) and video.stem in str(w.message) for w in caught)
    assert datasets.load_dataset(str(tmp_path / "verified"), "mer_caption_plus", split="train").num_rows == 2
