"""Frames as upstream's decord gives them, and decode shortcuts that leave every wanted frame byte-identical.

Golden frames: tests/golden/decord/frames.json, made by tests/golden/decord/make_frames.py with upstream's own
``load_video`` (decord 0.6.0) in upstream's pinned environment. The H.264 clips are lossless encodes of pictures
made in code (any x264 decodes them to the same pixels), rebuilt here; the MPEG-4 part 2 clip is stored.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import av
import numpy as np
import pytest
from utils import spy_on_opens

from affectgpt_hf import media
from affectgpt_hf.data.writers import write_video
from affectgpt_hf.media import frame_indices, sample_video_frames

GOLDEN = Path(__file__).parent / "golden" / "decord"
_spec = importlib.util.spec_from_file_location("make_frames", GOLDEN / "make_frames.py")
make_frames = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_frames)


def _golden() -> dict:
    return json.loads((GOLDEN / "frames.json").read_text())["clips"]


def _full_decode(path, scaler: str = "decord", size=(224, 224)) -> np.ndarray:
    """Reference: decode every frame in order (no seeking, no skipping), convert each the same way."""
    convert = media._RGBConverter(size, scaler)
    with av.open(str(path)) as container:
        return np.stack([convert(frame) for frame in container.decode(video=0)])


# ------------------------------------------------------------------------------------------ frames as decord's


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", [*make_frames.CLIPS, "mpeg4_160x120"])
def test_frames_equal_decord(tmp_path, name):
    golden = _golden()[name]
    if name in make_frames.CLIPS:
        path = tmp_path / f"{name}.mp4"
        make_frames.write_clip(path, name)
    else:
        path = make_frames.MPEG4
    with av.open(str(path)) as container:
        packets = sum(1 for p in container.demux(video=0) if p.size)
    assert packets == golden["frames"]  # decord's len(vr): the index rule sees the same T
    frames = sample_video_frames(path)
    assert frames.shape == (8, 224, 224, 3) and frames.dtype == np.uint8
    assert [make_frames.sha256(frame) for frame in frames] == golden["sha256"]


@pytest.mark.timeout(30)
def test_reformat_scaler_is_the_earlier_conversion(tmp_path):
    path = tmp_path / "clip.mp4"
    make_frames.write_clip(path, "h264_yuv420p_322x178")
    earlier = sample_video_frames(path, scaler="reformat")
    np.testing.assert_array_equal(earlier, _full_decode(path, "reformat")[frame_indices(12)])
    hashes = [make_frames.sha256(frame) for frame in earlier]
    assert not set(hashes) & set(_golden()["h264_yuv420p_322x178"]["sha256"])  # not decord's chroma placement


def test_unknown_scaler_is_refused():
    with pytest.raises(ValueError, match="scaler must be one of"):
        sample_video_frames(np.zeros((4, 8, 8, 3), np.uint8), scaler="bicubic")


# ------------------------------------------------------------------------------------------ decode shortcuts


def _texture_video(num: int, height: int = 64, width: int = 96) -> np.ndarray:
    """A panning texture with a brightness ramp, so P and B frames carry real work and every frame differs."""
    texture = np.random.default_rng(1).integers(0, 200, (height, width + 2 * num, 3), dtype=np.uint8)
    return np.stack([texture[:, 2 * i : 2 * i + width] + np.uint8(i % 50) for i in range(num)])


X264_OPEN_GOP = "keyint=15:min-keyint=15:scenecut=0:open-gop=1:bframes=3:b-pyramid=none:b-adapt=0"


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "codec, gop_size, options, seeks",
    [
        ("libx264", 12, {"bframes": "3", "b-pyramid": "normal"}, True),  # IDR GOPs, B-frames used as references
        ("libx264", 12, {"bframes": "2", "b-pyramid": "none"}, True),
        ("libx264", None, {"x264-params": X264_OPEN_GOP}, False),  # open GOPs: non-IDR I frames, no seeking
        ("libx264", None, {"x264-params": "bframes=3:scenecut=0"}, False),  # one GOP
        ("mpeg4", 12, {"qscale": "4", "bf": "2"}, True),  # B-VOPs shown before the next I-VOP
        ("mpeg4", 7, {"qscale": "4"}, True),
    ],
)
def test_shortcuts_give_the_full_decode(tmp_path, monkeypatch, codec, gop_size, options, seeks):
    path = tmp_path / "clip.mp4"
    write_video(path, _texture_video(60), fps=25, codec=codec, gop_size=gop_size, options=options)
    reference = _full_decode(path)
    assert len(reference) == 60
    calls = {"seeks": 0, "fallback": 0, "frames": 0}
    real_seeks, real_in_order, real_decode = media._decode_with_seeks, media._decode_in_order, media._decode

    def counted_decode(packet, name):
        frames = real_decode(packet, name)
        calls["frames"] += len(frames)
        return frames

    monkeypatch.setattr(media, "_decode", counted_decode)
    monkeypatch.setattr(media, "_decode_with_seeks", lambda *a: calls.update(seeks=1) or real_seeks(*a))
    monkeypatch.setattr(media, "_decode_in_order", lambda *a, **k: calls.update(fallback=1) or real_in_order(*a, **k))
    for num in (8, 16, 3, 60):
        calls["frames"] = 0
        got = sample_video_frames(path, num_frames=num)
        np.testing.assert_array_equal(got, reference[frame_indices(60, num)])
        last = max(frame_indices(60, num))
        if num == 8:  # frames no one refers to, and frames before a keyframe we seek past, were not decoded
            assert calls["frames"] < last + 1, f"decoded {calls['frames']} frames to reach frame {last}"
    assert calls["fallback"] == 0  # every shortcut held; none was abandoned for the plain decode
    assert bool(calls["seeks"]) == seeks


@pytest.mark.timeout(30)
def test_skipping_needs_unique_timestamps(tmp_path, monkeypatch):
    # A stream whose packets share a timestamp cannot tell its frames apart: the counting decode is used.
    assert media._unique_pts([(0, 0, True, True), (512, 512, False, False)])
    assert not media._unique_pts([(0, 0, True, True), (0, 512, False, False)])
    assert not media._unique_pts([(None, 0, True, True), (512, 512, False, False)])
    path = tmp_path / "clip.mp4"
    write_video(path, _texture_video(20), fps=25, options={"bframes": "3"})
    monkeypatch.setattr(media, "_unique_pts", lambda packets: False)
    probes = spy_on_opens(monkeypatch)
    np.testing.assert_array_equal(sample_video_frames(path), _full_decode(path)[frame_indices(20)])
    assert probes == [False, True]  # frames counted in order need the probe's reordering delay: opened again


@pytest.mark.timeout(30)
@pytest.mark.parametrize("suffix, probes", [(".mp4", [False]), (".mov", [False]), (".mkv", [True])])
def test_the_stream_probe_decodes_only_where_the_file_lacks_timestamps(tmp_path, monkeypatch, suffix, probes):
    """MP4 and QuickTime store every packet's timestamps, so their first open skips the probe's decoding (for H.264 up
    to 7 frames); elsewhere FFmpeg fills timestamps in from the delay the probe guesses (an MKV's decode timestamps
    differ without it), so those files open with it. A file that starts like an MP4 but that FFmpeg reads otherwise
    opens again with the probe."""
    path = tmp_path / f"clip{suffix}"
    write_video(path, _texture_video(20), fps=25, options={"bframes": "3"})
    with media.open_media(path, "a video file", probe_decodes=False) as container:
        assert container.streams.video[0].codec_context.format is None  # nothing was decoded to learn it
    spied = spy_on_opens(monkeypatch)
    reference = _full_decode(path)[frame_indices(20)]
    np.testing.assert_array_equal(sample_video_frames(path), reference)
    assert spied == probes
    if suffix == ".mp4":
        spied.clear()
        monkeypatch.setattr(media, "_STORED_TIMESTAMPS", ())
        np.testing.assert_array_equal(sample_video_frames(path), reference)
        assert spied == [False, True]


def test_clean_start_detection():
    assert media._is_clean_start("mpeg4", b"\x00\x00\x01\xb6\x10rest", b"")  # vop_coding_type 00: I
    assert not media._is_clean_start("mpeg4", b"\x00\x00\x01\xb6\x50rest", b"")  # 01: P
    assert not media._is_clean_start("mpeg4", b"\x00\x00\x01\xb6\x10a\x00\x00\x01\xb6\x90b", b"")  # packed VOPs
    assert not media._is_clean_start("vp9", b"\x00\x00\x01\xb6\x10", b"")
