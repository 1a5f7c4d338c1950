"""media.py: upstream's sampling rules, exactness against a full decode, resampling, and bad input.

All media is generated here with write_video / write_audio (PyAV: h264 + aac, pcm wav); small sizes keep
the file fast on two CPU cores.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from utils import spy_on_opens

from affectgpt_hf import media
from affectgpt_hf.data.writers import write_audio, write_video
from affectgpt_hf.media import (
    SAMPLE_RATE,
    audio_clips,
    frame_indices,
    load_audio,
    load_faces,
    resize_bilinear_cv2,
    sample_segment_frames,
    sample_video_frames,
)

GOLDEN = Path(__file__).parent / "golden"


def _ramp_video(num: int, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """Frames whose brightness encodes their index (3 * i + ~20), on a moving texture so P/B frames do work."""
    texture = np.random.default_rng(seed).integers(0, 40, (height, width + num, 3), dtype=np.uint8)
    return np.stack([texture[:, i : i + width] + np.uint8(3 * i) for i in range(num)])


def _full_decode(path, size=(224, 224)) -> np.ndarray:
    """Reference: decode and convert every frame, no seeking (the conversion sample_video_frames uses by default)."""
    convert = media._RGBConverter(size, "decord")
    with av.open(str(path)) as container:
        return np.stack([convert(frame) for frame in container.decode(video=0)])


# ------------------------------------------------------------------------------------------ frame indices


@pytest.mark.timeout(10)
def test_frame_indices_golden():
    # upstream's load_video / load_face (my_affectgpt/processors/video_processor.py, run at fffca79): T=13 ->
    # 0,1,3,4,6,8,9,11; T<8 repeats the last index.
    assert frame_indices(13) == [0, 1, 3, 4, 6, 8, 9, 11]
    assert frame_indices(8) == list(range(8))
    assert frame_indices(3) == [0, 1, 2, 2, 2, 2, 2, 2]
    assert frame_indices(1) == [0] * 8
    assert frame_indices(100) == [0, 12, 25, 37, 50, 62, 75, 87]
    assert frame_indices(5, num_frames=3) == [0, 1, 3]
    with pytest.raises(ValueError):
        frame_indices(0)


# ------------------------------------------------------------------------------------------ video frames


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "gop_size, options, seeks",
    [
        (None, None, False),  # x264 default keyint 250: one keyframe, sequential decode
        (25, None, True),  # keyint 25 with x264's default B-frames: seeks to IDR frames
        (25, {"bframes": "3", "b-pyramid": "normal"}, True),
        (10, {"bframes": "0"}, True),
    ],
)
def test_sample_video_frames_equals_full_decode(tmp_path, monkeypatch, gop_size, options, seeks):
    path = tmp_path / "clip.mp4"
    frames = _ramp_video(75)
    write_video(path, frames, fps=25, gop_size=gop_size, options=options)
    used = []
    real = media._decode_with_seeks
    monkeypatch.setattr(media, "_decode_with_seeks", lambda *a: used.append(1) or real(*a))
    reference = _full_decode(path)
    assert len(reference) == 75
    for num in (8, 16, 3):
        got = sample_video_frames(path, num_frames=num)
        assert got.shape == (num, 224, 224, 3) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, reference[frame_indices(75, num)])
    assert bool(used) == seeks
    native = sample_video_frames(path, size=None)
    brightness = native.astype(float).mean(axis=(1, 2, 3)) - 19.5
    np.testing.assert_allclose(brightness, 3 * np.array(frame_indices(75)), atol=2.5)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("options", [{"b": "4000000"}, {"b": "4000000", "bf": "2"}])
def test_mpeg4_avi_sampling_equals_full_decode(tmp_path, options):
    """MER2023 and IEMOCAP ship mpeg4 .avi clips: the sequential path, indexed over the packets, equals a full decode
    at upstream's indices (with and without B-frames)."""
    path = tmp_path / "clip.avi"
    write_video(path, _ramp_video(29), fps=25, codec="mpeg4", options=options)
    reference = _full_decode(path)
    assert len(reference) == 29
    for num in (8, 3):
        np.testing.assert_array_equal(sample_video_frames(path, num_frames=num), reference[frame_indices(29, num)])
    assert len({frame.tobytes() for frame in reference}) == 29  # every frame differs, so an index off by one shows


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("suffix", "codec", "gop", "options"),
    [
        (".mp4", "libx264", 10, {"bframes": "2"}),  # keyframes every 10: seeks across the gaps
        (".mp4", "libx264", None, {}),  # one keyframe: a forward walk
        (".avi", "mpeg4", 12, {"bf": "2"}),
    ],
)
def test_segment_frames_equal_the_frames_at_upstreams_indices_of_each_stretch(tmp_path, suffix, codec, gop, options):
    """Each segment's frames are those frame_indices picks among the frames shown in [start, end), as a full decode
    shows them: contiguous segments, a gap, one shorter than 8 frames, one at the end; a segment without frames is
    named."""
    path = tmp_path / f"long{suffix}"
    write_video(path, _ramp_video(60), fps=10, codec=codec, gop_size=gop, options=options)
    reference = _full_decode(path)
    segments = [(0.0, 1.2), (1.2, 2.5), (3.4, 3.9), (4.0, 6.0)]
    shown = [(0, 12), (12, 25), (34, 39), (40, 60)]  # frames i shown at i / 10 s
    got = sample_segment_frames(path, segments)
    for (first, stop), frames in zip(shown, got, strict=True):
        np.testing.assert_array_equal(frames, reference[[first + i for i in frame_indices(stop - first, 8)]])
    with pytest.raises(ValueError, match=r"no frame is shown in the segment 2\.510-2\.550 s"):
        sample_segment_frames(path, [(2.51, 2.55)])
    with pytest.raises(ValueError, match="expected 0 <= start < end"):
        sample_segment_frames(path, [(2.0, 1.0)])


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "codec, options, threads, disposable",
    [
        ("libx264", {"bframes": "3", "b-pyramid": "none", "x264-params": "b-adapt=0:threads=2"}, "SLICE", 54),
        ("libx264", {"bframes": "3", "b-pyramid": "none", "x264-params": "b-adapt=0:sliced-threads=0"}, "AUTO", 54),
        ("libx264", {"bframes": "3", "b-pyramid": "normal", "x264-params": "b-adapt=0:sliced-threads=0"}, "AUTO", 36),
        ("mpeg4", {"bf": "2"}, "NONE", 48),
    ],
)
def test_decode_shortcuts_skip_disposable_frames_exactly(tmp_path, monkeypatch, codec, options, threads, disposable):
    """The index marks frames nothing refers to (non-reference B-frames, B-VOPs; a B-pyramid's middle B-frame is a
    reference) and picks the decoder threading (none where torch may use one thread); sampling never sends the
    unwanted disposable packets, and its frames equal a full decode's. (PyAV asks x264 for slice threads: two slices
    a picture at this size on 2 cores or more.)"""
    path = tmp_path / "clip.mp4"
    write_video(path, _ramp_video(73, height=240, width=320), fps=25, gop_size=250, codec=codec, options=options)
    with av.open(str(path)) as container:
        packets, stream = media._index_video(container, "clip.mp4")
        assert stream.thread_type.name == threads
    assert sum(p[4] for p in packets) == disposable
    sent = []
    real = media._decode
    monkeypatch.setattr(media, "_decode", lambda packet, name: sent.append(packet.pts) or real(packet, name))
    got = sample_video_frames(path)
    np.testing.assert_array_equal(got, _full_decode(path)[frame_indices(73)])
    shown = sorted(p[0] for p in packets)
    wanted = {shown[i] for i in frame_indices(73)}
    skipped = {p[0] for p in packets if p[4]} - wanted
    assert skipped and not skipped & set(sent)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # as in a DataLoader worker: one decoding thread
    with av.open(str(path)) as container:
        assert media._index_video(container, "clip.mp4")[1].thread_type.name == "NONE"


@pytest.mark.timeout(30)
def test_fewer_decoded_frames_than_packets_reindexes_the_decoded_ones(tmp_path, monkeypatch):
    """A stream whose last packets yield no frame (a decoder that drops them): the indices are taken again over the
    frames that did decode, and the frames are those of a full decode."""
    path = tmp_path / "clip.mp4"
    write_video(path, _ramp_video(12), fps=25, options={"bframes": "0"})
    reference = _full_decode(path)
    with av.open(str(path)) as container:
        dropped = {frame.pts for frame in container.decode(video=0)}
    dropped = set(sorted(dropped)[10:])  # the last 2 of 12 frames never come out
    real = media._decode
    monkeypatch.setattr(media, "_decode", lambda packet, name: [f for f in real(packet, name) if f.pts not in dropped])
    np.testing.assert_array_equal(sample_video_frames(path), reference[frame_indices(10)])


@pytest.mark.timeout(20)
def test_array_input_and_bytes_input(tmp_path):
    frames = _ramp_video(13)
    np.testing.assert_array_equal(sample_video_frames(frames, size=None), frames[[0, 1, 3, 4, 6, 8, 9, 11]])
    resized = sample_video_frames(frames, size=(32, 40))
    assert resized.shape == (8, 32, 40, 3)
    path = tmp_path / "clip.mp4"
    write_video(path, frames, fps=25)
    np.testing.assert_array_equal(sample_video_frames(path.read_bytes()), sample_video_frames(str(path)))
    with pytest.raises(ValueError, match="uint8"):
        sample_video_frames(frames.astype(np.float32))


@pytest.mark.timeout(20)
@pytest.mark.parametrize("num", [1, 3])
def test_very_short_video_repeats_frames(tmp_path, num):
    path = tmp_path / "short.mp4"
    write_video(path, _ramp_video(num), fps=25)
    got = sample_video_frames(path)
    reference = _full_decode(path)
    np.testing.assert_array_equal(got, reference[frame_indices(num)])


@pytest.mark.timeout(20)
def test_odd_resolution(tmp_path):
    path = tmp_path / "odd.mp4"
    write_video(path, _ramp_video(9, height=239, width=321), fps=25)
    assert sample_video_frames(path, size=None).shape == (8, 239, 321, 3)
    np.testing.assert_array_equal(sample_video_frames(path), _full_decode(path)[frame_indices(9)])


@pytest.mark.timeout(20)
def test_rotated_video_is_turned_upright(tmp_path):
    frames = np.zeros((4, 48, 64, 3), np.uint8)
    frames[:, :16, :24] = 255  # a white block in the top-left corner
    path = tmp_path / "rotated.mp4"
    write_video(path, frames, fps=25, rotation=90)
    upright = sample_video_frames(path, size=None)
    assert upright.shape == (8, 64, 48, 3)  # turned a quarter counter-clockwise: the block is bottom-left
    assert np.abs(upright[0].astype(int) - np.rot90(frames[0], 1)).mean() < 3
    assert sample_video_frames(path, size=(30, 20)).shape == (8, 30, 20, 3)


# ------------------------------------------------------------------------------------------ faces


@pytest.mark.timeout(10)
def test_load_faces_indices_resize_and_bgr_order(tmp_path):
    faces = np.zeros((13, 112, 112, 3), np.uint8)
    faces[..., 0] = np.arange(13)[:, None, None] * 10  # channel 0 (B as stored) carries the index
    faces[..., 1], faces[..., 2] = 200, 7
    path = tmp_path / "faces.npy"
    np.save(path, faces)
    got = load_faces(path)
    assert got.shape == (8, 224, 224, 3) and got.dtype == np.uint8
    assert got[:, 0, 0, 0].tolist() == [10 * i for i in [0, 1, 3, 4, 6, 8, 9, 11]]
    assert (got[..., 1] == 200).all() and (got[..., 2] == 7).all()  # stored order kept, no BGR->RGB swap
    np.save(path, faces[:2])
    assert load_faces(path, size=64)[:, 0, 0, 0].tolist() == [0, 10, 10, 10, 10, 10, 10, 10]


@pytest.mark.timeout(20)
def test_resize_matches_cv2():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    for shape, (width, height) in [((112, 112, 3), (224, 224)), ((37, 53, 3), (100, 70)), ((64, 64, 3), (32, 32))]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_array_equal(resize_bilinear_cv2(image, width, height), cv2.resize(image, (width, height)))


@pytest.mark.timeout(10)
def test_faces_and_resize_equal_upstream_cv2_golden(tmp_path):
    """tests/golden/cv2_resize/faces.npz: upstream's load_face and cv2.resize on textured inputs, made with upstream's
    pinned opencv-python 4.6.0.66 (provenance and command stored in the file; make.py beside it regenerates it)."""
    golden = np.load(GOLDEN / "cv2_resize" / "faces.npz")
    assert "opencv-python 4.6.0.66" in str(golden["provenance"])
    np.save(tmp_path / "faces.npy", golden["load_face_input"])
    np.testing.assert_array_equal(load_faces(tmp_path / "faces.npy", size=30), golden["load_face_30"])
    for name in ("down", "half", "up"):
        image, expected = golden[f"{name}_input"], golden[f"{name}_output"]
        np.testing.assert_array_equal(resize_bilinear_cv2(image, expected.shape[1], expected.shape[0]), expected)
    # the 1-D case from cv2 4.12 and 5.0: cv2.resize(np.array([[0, 100]], uint8), (4, 1)) == [[0, 25, 75, 100]]
    assert resize_bilinear_cv2(np.array([[[0], [100]]], np.uint8), 4, 1)[0, :, 0].tolist() == [0, 25, 75, 100]


# ------------------------------------------------------------------------------------------ audio clips


def _expected_clips(wave: np.ndarray, starts: list[int]) -> np.ndarray:
    clips = np.stack([wave[s : s + 32000] for s in starts]).astype(np.float64)
    return clips - clips.mean(axis=1, keepdims=True)


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "seconds, starts",
    [
        (3.5, [0, 3000, 6000, 9000, 12000, 15000, 18000, 21000]),  # upstream's ImageBind data.py, run at fffca79
        (20.0, [36000 * k for k in range(8)]),  # (20 - 2) / 8 = 2.25 s
        # 3.3 s: float 3.3 - 2.0 = 1.2999999999999998 -> k * 2599.99...: int() truncates, as ImageBind does
        (3.3, [0, 2599, 5199, 7799, 10399, 12999, 15599, 18199]),
    ],
)
def test_audio_clip_starts(seconds, starts):
    wave = np.random.default_rng(0).standard_normal(round(seconds * SAMPLE_RATE)).astype(np.float32) + 0.3
    clips = audio_clips(wave)
    assert clips.shape == (8, 32000) and clips.dtype == np.float32
    np.testing.assert_allclose(clips, _expected_clips(wave, starts), atol=1e-5)
    assert np.abs(clips.mean(axis=1)).max() < 1e-6  # each clip's own mean removed (upstream's in-place DC removal)


@pytest.mark.timeout(10)
def test_audio_clips_pad_short_and_silent():
    wave = np.full(SAMPLE_RATE, 0.5, np.float32)  # 1 s: zero-padded to 2 s, every clip starts at 0
    clips = audio_clips(wave)
    padded = np.concatenate([wave, np.zeros(SAMPLE_RATE, np.float32)])
    np.testing.assert_allclose(clips, np.tile(padded - padded.mean(), (8, 1)), atol=1e-6)
    silent = audio_clips(np.zeros(100, np.float32))
    assert silent.shape == (8, 32000) and not silent.any()


# ------------------------------------------------------------------------------------------ resampling


def _reference_resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    """Direct float64 evaluation of torchaudio's documented kernel: y[j] = sum_i x[i] h(base (i/orig - j/new))."""
    gcd = math.gcd(orig, new)
    orig, new = orig // gcd, new // gcd
    base = min(orig, new) * 0.99
    n_out = math.ceil(new * len(x) / orig)
    t = base * (np.arange(len(x))[None, :] / orig - np.arange(n_out)[:, None] / new)
    t = np.clip(t, -6, 6)
    h = np.sinc(t) * np.cos(np.pi * t / 12) ** 2 * base / orig
    return h @ x


@pytest.mark.timeout(20)
@pytest.mark.parametrize("rate", [48000, 8000, 44100])
def test_resample_matches_kernel_formula_and_keeps_a_sine(rate):
    n = rate // 10  # 0.1 s
    x = np.random.default_rng(rate).uniform(-1, 1, n).astype(np.float32)
    got = load_audio(x, sampling_rate=rate)
    assert got.dtype == np.float32 and got.shape == (math.ceil(n * SAMPLE_RATE / rate),)
    np.testing.assert_allclose(got, _reference_resample(x.astype(np.float64), rate, SAMPLE_RATE), atol=2e-5)
    t = np.arange(rate) / rate
    sine = load_audio(0.5 * np.sin(2 * np.pi * 1000 * t).astype(np.float32), sampling_rate=rate)
    spectrum = np.abs(np.fft.rfft(sine))
    assert np.argmax(spectrum) == 1000  # 1 s at 16 kHz: bin k is k Hz
    assert abs(np.abs(sine[2000:-2000]).max() - 0.5) < 0.01


@pytest.mark.timeout(10)
def test_resample_is_torch_batched_and_identity_at_16k():
    x = torch.randn(3, 4410)
    np.testing.assert_allclose(media.resample(x, 44100, 16000)[1], media.resample(x[1], 44100, 16000), atol=1e-6)
    assert media.resample(x, 16000, 16000) is x


# ------------------------------------------------------------------------------------------ load_audio


@pytest.mark.timeout(20)
def test_stereo_average_and_six_channel_downmix(tmp_path):
    rng = np.random.default_rng(1)
    stereo = rng.integers(-20000, 20000, (2, 8000), dtype=np.int16)
    write_audio(tmp_path / "stereo.wav", stereo, SAMPLE_RATE)
    expected = (stereo[0] / 32768 + stereo[1] / 32768) / 2
    np.testing.assert_allclose(load_audio(tmp_path / "stereo.wav"), expected, atol=1e-7)
    six = rng.integers(-20000, 20000, (6, 8000), dtype=np.int16)
    write_audio(tmp_path / "six.wav", six, SAMPLE_RATE)
    np.testing.assert_allclose(load_audio(tmp_path / "six.wav"), (six / 32768).mean(axis=0), atol=1e-6)
    mono = load_audio(stereo[0], sampling_rate=SAMPLE_RATE)
    np.testing.assert_allclose(mono, stereo[0] / 32768, atol=1e-7)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_wav_rates_decode_to_16k(tmp_path, rate):
    audio = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate)).astype(np.float32)
    write_audio(tmp_path / "tone.wav", audio, rate)
    got = load_audio(tmp_path / "tone.wav")
    assert got.shape == (math.ceil(len(audio) * SAMPLE_RATE / rate),)
    quantised = np.round(audio * 32767).astype(np.int16)
    np.testing.assert_allclose(got, load_audio(quantised, sampling_rate=rate), atol=1e-7)


@pytest.mark.timeout(20)
def test_audio_from_mp4(tmp_path, monkeypatch):
    path = tmp_path / "clip.mp4"
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(48000 * 3) / 48000)
    write_video(path, _ramp_video(10), fps=25, audio=np.stack([tone, tone]), sampling_rate=48000)
    probes = spy_on_opens(monkeypatch)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and abs(len(audio) / SAMPLE_RATE - 3) < 0.2
    assert abs(np.abs(audio[4000:40000]).max() - 0.5) < 0.02
    assert audio_clips(audio).shape == (8, 32000)
    monkeypatch.setattr(media, "_MP4_BOXES", ())  # the same file through an open whose probe decodes
    np.testing.assert_array_equal(load_audio(path), audio)
    assert probes == [False, True]  # the MP4 opened without decoding its first video frames to probe them


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.timeout(30)
def test_bad_files_name_the_file(tmp_path):
    missing = tmp_path / "missing.mp4"
    for call in (sample_video_frames, load_audio, load_faces):
        with pytest.raises(ValueError, match="missing.mp4 does not exist"):
            call(missing)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.mp4 is empty"):
        sample_video_frames(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    for call in (sample_video_frames, load_audio):
        with pytest.raises(ValueError, match="notes.mp4 is not a readable media file"):
            call(text)
    good = tmp_path / "good.mp4"
    write_video(good, _ramp_video(20), fps=25, audio=np.zeros(16000, np.float32))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # moov (at the end) is lost
    for call in (sample_video_frames, load_audio):
        with pytest.raises(ValueError, match="truncated.mp4"):
            call(truncated)


@pytest.mark.timeout(20)
def test_truncated_faststart_mp4(tmp_path):
    path = tmp_path / "fast.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for image in _ramp_video(50):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])  # header intact, data cut
    with pytest.raises(ValueError, match="cut.mp4 is truncated"):
        sample_video_frames(cut)


@pytest.mark.timeout(20)
def test_missing_streams(tmp_path):
    video_only = tmp_path / "clip.mp4"
    write_video(video_only, _ramp_video(5), fps=25)
    with pytest.raises(ValueError, match=r"clip.mp4 has no audio stream; give the audio separately \(audio="):
        load_audio(video_only)
    wav = tmp_path / "voice.wav"
    write_audio(wav, np.zeros(1600, np.float32), SAMPLE_RATE)
    with pytest.raises(ValueError, match="voice.wav has no video stream"):
        sample_video_frames(wav)
    no_frames = tmp_path / "noframes.mp4"
    with av.open(str(no_frames), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    with pytest.raises(ValueError, match="noframes.mp4 has no video stream"):  # an empty track is not muxed
        sample_video_frames(no_frames)


@pytest.mark.timeout(20)
def test_undecodable_frames(tmp_path):
    path = tmp_path / "garbage.mp4"
    write_video(path, np.random.default_rng(0).integers(0, 255, (10, 48, 64, 3), dtype=np.uint8), fps=25)
    data = bytearray(path.read_bytes())
    start, end = data.find(b"mdat") + 4, data.find(b"moov") - 4
    data[start:end] = b"\xff" * (end - start)  # every packet present, none decodable
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="garbage.mp4 could not be decoded"):
        sample_video_frames(path)


@pytest.mark.timeout(10)
def test_bad_audio_arrays():
    with pytest.raises(ValueError, match="NaN or infinite"):
        load_audio(np.array([0.0, np.nan, 0.1], np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="NaN or infinite"):
        load_audio(np.array([[0.0, np.inf]], np.float32), sampling_rate=8000)
    with pytest.raises(ValueError, match="sampling_rate"):
        load_audio(np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="channels, samples"):
        load_audio(np.zeros((16000, 2), np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="NaN or infinite"):
        audio_clips(np.array([np.nan] * 10, np.float32))


@pytest.mark.timeout(10)
def test_bad_face_files(tmp_path):
    wrong_shape = tmp_path / "flat.npy"
    np.save(wrong_shape, np.zeros((4, 112, 112), np.uint8))
    with pytest.raises(ValueError, match=r"flat.npy holds shape \(4, 112, 112\)"):
        load_faces(wrong_shape)
    wrong_dtype = tmp_path / "float.npy"
    np.save(wrong_dtype, np.zeros((4, 112, 112, 3), np.float32))
    with pytest.raises(ValueError, match="float.npy holds shape .* dtype float32"):
        load_faces(wrong_dtype)
    no_faces = tmp_path / "none.npy"
    np.save(no_faces, np.zeros((0, 112, 112, 3), np.uint8))
    with pytest.raises(ValueError, match="none.npy holds no face crops"):
        load_faces(no_faces)
    not_npy = tmp_path / "faces.npy"
    not_npy.write_text("not numpy")
    with pytest.raises(ValueError, match="faces.npy is not a readable .npy file"):
        load_faces(not_npy)
