"""Built-in face crops (faces.py): MTCNN + OpenFace-style alignment on clips made in code from a real face photo.

The photo is matplotlib's sample image of Grace Hopper (matplotlib is a dependency). The clips move, zoom and turn it
(up to 20 degrees), add a second smaller face, cover the face in some frames; the crops' geometry is checked against
the transform that made each frame, so the reference is the photo's own landmarks, moved by a known transform.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image
from utils import TINY, tiny_model

from affectgpt_hf import AffectGPTProcessor
from affectgpt_hf.data.writers import write_video
from affectgpt_hf.faces import (
    CROP_SIZE,
    TEMPLATE,
    NoFaceError,
    align_face,
    crop_faces,
    get_detector,
    similarity_transform,
    video_face_crops,
    warp_affine,
)
from affectgpt_hf.media import load_faces

pytestmark = pytest.mark.timeout(180)
GREY = 90


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    return np.asarray(Image.open(path).convert("RGB"))  # 600 x 512


@pytest.fixture(scope="module")
def photo_points(photo) -> np.ndarray:
    """The photo's 5 landmarks as the detector finds them on the untouched photo: the reference of every check."""
    boxes, points = get_detector().detect(photo)[0]
    assert len(boxes) == 1
    return points[0]


def place(photo, size=(240, 320), scale=0.5, angle=0.0, centre=(160, 120), canvas=None):
    """Paste the photo scaled, turned by ``angle`` degrees (counter-clockwise on screen) and centred at ``centre``
    onto a grey canvas (H, W) -> (frame, 2x3 matrix taking photo coordinates to frame coordinates)."""
    h, w = size if canvas is None else canvas.shape[:2]
    theta = np.deg2rad(angle)
    rotation = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])  # y points down
    forward = np.zeros((2, 3))
    forward[:, :2] = scale * rotation
    forward[:, 2] = np.asarray(centre, float) - forward[:, :2] @ (np.array(photo.shape[1::-1]) / 2)
    inverse = np.linalg.inv(np.vstack([forward, [0, 0, 1]]))[:2]
    pasted = Image.fromarray(photo).transform((w, h), Image.AFFINE, inverse.ravel(), resample=Image.BILINEAR)
    mask = Image.fromarray(np.full(photo.shape[:2], 255, np.uint8)).transform((w, h), Image.AFFINE, inverse.ravel())
    frame = np.full((h, w, 3), GREY, np.uint8) if canvas is None else canvas.copy()
    inside = np.asarray(mask) > 0
    frame[inside] = np.asarray(pasted)[inside]
    return frame, forward


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.fixture(scope="module")
def moving(photo):
    """8 frames: pan left to right, zoom 0.42 -> 0.56, turn -20 -> +20 degrees."""
    frames, transforms = [], []
    for t in range(8):
        frame, forward = place(photo, scale=0.42 + 0.02 * t, angle=-20 + 40 * t / 7, centre=(130 + 9 * t, 120))
        frames.append(frame)
        transforms.append(forward)
    return np.stack(frames), transforms


@pytest.fixture(scope="module")
def moving_crops(moving):
    return crop_faces(moving[0], name="moving.mp4")


def test_every_frame_of_a_moving_turning_face_is_found(moving_crops):
    assert moving_crops.crops.shape == (8, CROP_SIZE, CROP_SIZE, 3)
    assert moving_crops.crops.dtype == np.uint8
    assert moving_crops.detected.tolist() == [True] * 8  # detection rate 8/8
    assert moving_crops.reused == 0


def test_crop_geometry_puts_the_eyes_on_openface_template(moving, moving_crops, photo_points):
    """Where the true eyes (photo landmarks moved by the frame's known transform) land in each crop."""
    _, transforms = moving
    for t, forward in enumerate(transforms):
        to_crop = similarity_transform(moving_crops.points[t], TEMPLATE)
        true_points = apply(forward, photo_points)
        landed = apply(to_crop, true_points)
        assert np.abs(landed[:2] - TEMPLATE[:2]).max() < 3.0, (t, landed[:2])  # eye centres
        assert np.abs(landed - TEMPLATE).max() < 5.0, (t, landed)  # nose tip and mouth corners


# Golden: (x, y) in mm of OpenFace's 68-point mean shape, points 30 (nose tip), 36-41 and 42-47 (eyes), 48 and 54
# (mouth corners), from OpenFace's In-the-wild_aligned_PDM_68.txt (the first 136 of its 204 mean values; the same file
# OpenFace's FaceAnalyser aligns with; read from the CLM-framework-era copy in daviesian/psyche at afa36ac,
# lib/local/CLM/model/pdms/, whose values equal the widely reproduced OpenFace 3D model points).
PDM_MM = {
    30: (1.226783, -8.414541),
    **{36: (-46.04729, -37.471411), 37: (-37.674688, -42.73051), 38: (-27.883856, -42.711517)},
    **{39: (-19.648268, -36.754742), 40: (-28.272965, -35.134493), 41: (-38.082418, -34.919043)},
    **{42: (19.265868, -37.032306), 43: (27.894191, -43.342445), 44: (37.437529, -43.110822)},
    **{45: (45.170805, -38.086515), 46: (38.196454, -35.532024), 47: (28.764989, -35.484289)},
    **{48: (-28.916267, 28.612716), 54: (28.794412, 28.079924)},
}


def test_template_is_openfaces_mean_shape_at_sim_scale_07():
    """OpenFace's AlignFace warps onto 0.7 * mean shape, its origin (the shape's centroid) at the crop's centre."""
    pdm = {k: np.array(v) for k, v in PDM_MM.items()}
    expected = np.stack(
        [
            np.mean([pdm[i] for i in range(36, 42)], axis=0),
            np.mean([pdm[i] for i in range(42, 48)], axis=0),
            pdm[30],
            pdm[48],
            pdm[54],
        ]
    )
    np.testing.assert_allclose(TEMPLATE, 0.7 * expected + 56, atol=1e-3)


def test_warp_moves_a_dot_where_the_matrix_sends_it():
    image = np.zeros((200, 300, 3), np.uint8)
    image[120:123, 80:83] = 255  # a dot centred on (81, 121)
    angle, scale, target = np.deg2rad(30), 1.5, np.array([60.0, 50.0])  # turn 30 degrees, enlarge, dot -> (60, 50)
    source = np.array([[81.0, 121.0], [81.0 + np.cos(angle), 121.0 - np.sin(angle)]])  # a unit step at -30 degrees
    matrix = similarity_transform(source, np.array([target, target + [scale, 0.0]]))
    np.testing.assert_allclose(matrix[:, :2] @ source[0] + matrix[:, 2], target, atol=1e-9)
    warped = warp_affine(image, matrix, 112)[..., 0].astype(float)
    ys, xs = np.mgrid[0:112, 0:112]
    centre = np.array([(warped * xs).sum(), (warped * ys).sum()]) / warped.sum()
    np.testing.assert_allclose(centre, target, atol=0.3)
    assert warp_affine(image, matrix, 112)[0, 111].tolist() == [0, 0, 0]  # outside the image: black


def test_crops_of_moved_frames_match_the_crop_of_the_photo(photo, photo_points, moving_crops):
    """The same face, panned, zoomed and turned, gives nearly the same aligned crop (compared in 8x8 blocks, so that
    the pixel-level jitter of 5 landmarks does not count: moving a crop by 3 pixels costs about 20 here)."""

    def blocks(image):
        return image.astype(float).reshape(14, 8, 14, 8, 3).mean(axis=(1, 3))

    still = blocks(align_face(photo, photo_points))
    distances = [np.abs(blocks(crop) - still).mean() for crop in moving_crops.crops]
    assert np.median(distances) < 8 and max(distances) < 20, distances


def test_crops_are_bgr_as_openface_writes_them(photo, photo_points, moving_crops):
    """Skin is redder than blue: in BGR crops the last channel (red) outweighs the first (blue)."""
    face = photo[150:330, 190:340].astype(float)  # cheeks, nose and mouth of the photo, RGB
    assert face[..., 0].mean() > face[..., 2].mean() + 40
    for crop in moving_crops.crops:
        centre = crop[30:100, 25:90].astype(float)
        assert centre[..., 2].mean() > centre[..., 0].mean() + 40


def test_the_main_face_is_followed_when_a_second_person_appears(photo):
    """The clip's largest face (left, frame 0) is followed while it shrinks; a second person on the right (frames
    2-5) ends up larger than it in frames 4-5, yet the crops stay on the first."""
    frames = []
    for t in range(6):
        frame, _ = place(photo, size=(320, 480), scale=0.46 - 0.03 * t, centre=(120, 160))
        if t >= 2:
            frame, _ = place(photo, scale=0.36, centre=(365, 160), canvas=frame)
        frames.append(frame)
    found = crop_faces(np.stack(frames), name="two people")
    assert found.detected.all()
    centres_x = (found.boxes[:, 0] + found.boxes[:, 2]) / 2
    assert (centres_x < 240).all(), centres_x
    boxes = get_detector().detect(frames[5])[0][0]
    assert len(boxes) == 2 and (boxes[0, 0] + boxes[0, 2]) / 2 > 240  # both found; the right one is the larger


def test_frames_without_a_face_reuse_the_nearest_crop(moving):
    frames = moving[0].copy()
    frames[2:4] = GREY  # the face gone in frames 2 and 3
    found = crop_faces(frames, name="covered")
    assert found.detected.tolist() == [True, True, False, False, True, True, True, True]
    assert found.reused == 2
    np.testing.assert_array_equal(found.crops[2], found.crops[1])  # frame 2: nearest is 1
    np.testing.assert_array_equal(found.crops[3], found.crops[4])  # frame 3: nearest is 4
    assert np.isnan(found.boxes[2]).all()


def test_no_face_and_bad_frames_raise_named_errors():
    gradient = np.broadcast_to(np.linspace(0, 255, 160, dtype=np.uint8)[None, :, None], (120, 160, 3))
    with pytest.raises(NoFaceError, match="empty_room.mp4: no face detected in any of its 3 sampled frames"):
        crop_faces(np.stack([gradient] * 3), name="empty_room.mp4")
    assert issubclass(NoFaceError, ValueError)
    with pytest.raises(ValueError, match="tiny.mp4: frames are 48x40 pixels; face detection needs at least 64"):
        crop_faces(np.zeros((2, 40, 48, 3), np.uint8), name="tiny.mp4")
    with pytest.raises(ValueError, match=r"gray.mp4: expected \(T, H, W, 3\) uint8 RGB frames"):
        crop_faces(np.zeros((2, 120, 160), np.uint8), name="gray.mp4")


def test_4k_frame_is_searched_downscaled_and_cropped_at_full_size(photo, photo_points):
    frame, forward = place(photo, size=(2160, 3840), scale=2.0, angle=10, centre=(2400, 1000))
    found = crop_faces(frame[None], name="uhd")
    assert found.detected.all()
    landed = apply(similarity_transform(found.points[0], TEMPLATE), apply(forward, photo_points))
    assert np.abs(landed[:2] - TEMPLATE[:2]).max() < 3.0


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory, moving) -> str:
    path = tmp_path_factory.mktemp("faces") / "hopper.mp4"
    tone = (0.2 * np.sin(np.arange(3 * 16000) / 16000 * 2 * np.pi * 220)).astype(np.float32)
    write_video(path, np.repeat(moving[0], 3, axis=0)[:20], fps=8, audio=tone)  # 20 frames, h264 + aac
    return str(path)


@pytest.fixture(scope="module")
def empty_clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("faces") / "empty_room.mp4"
    frames = np.broadcast_to(np.linspace(0, 255, 160, dtype=np.uint8)[None, None, :, None], (10, 120, 160, 3))
    tone = (0.2 * np.sin(np.arange(2 * 16000) / 16000 * 2 * np.pi * 330)).astype(np.float32)
    write_video(path, np.ascontiguousarray(frames), fps=8, audio=tone)
    return str(path)


def test_rotated_video_is_turned_upright_before_cropping(tmp_path, moving, moving_crops):
    """A clip stored sideways with a display matrix: the frames are turned upright (media.py), then cropped."""
    upright = moving[0][:4]
    stored = np.ascontiguousarray(np.rot90(upright, k=-1, axes=(1, 2)))  # turned 90 degrees clockwise on disk
    path = tmp_path / "sideways.mp4"
    write_video(path, stored, fps=4, rotation=90)  # displayed turned back counter-clockwise
    found = video_face_crops(str(path), num_frames=4)
    assert found.detected.all()
    diff = np.abs(found.crops.astype(np.int16) - moving_crops.crops[:4].astype(np.int16)).mean()
    assert diff < 12  # lossy h264 aside, the same crops


def test_processor_faces_auto_gives_the_face_models_input(face_clip, empty_clip, tmp_path):
    processor = AffectGPTProcessor.from_pretrained(TINY, input_mode="multiface_audio_face_text")
    out = processor(videos=[face_clip], faces="auto", subtitles=["hi"])
    assert out["pixel_values_videos"].shape == (1, 8, 3, 224, 224)
    assert out.face_sources == [{"face_source": "builtin", "frames_without_face": 0}]
    # the same crops saved as an OpenFace .npy and read back by upstream's rule give the same pixels
    crops = video_face_crops(face_clip).crops
    np.save(tmp_path / "hopper.npy", crops)
    given = processor(videos=[face_clip], faces=[str(tmp_path / "hopper.npy")], subtitles=["hi"])
    np.testing.assert_array_equal(out["pixel_values_videos"].numpy(), given["pixel_values_videos"].numpy())
    assert given.face_sources == [{"face_source": "openface", "frames_without_face": 0}]

    with pytest.raises(NoFaceError, match="empty_room.mp4: no face detected.*describe --on-no-face frames"):
        processor(videos=[empty_clip], faces="auto", subtitles=["hi"])
    with pytest.warns(UserWarning, match="empty_room.mp4: no face detected.*frame model's input"):
        fallback = processor(videos=[face_clip, empty_clip], faces="auto", subtitles=["a", "b"], on_no_face="frames")
    assert fallback.face_sources[1] == {"face_source": "frames", "frames_without_face": 8}
    assert fallback.face_sources[0]["face_source"] == "builtin"
    with pytest.warns(UserWarning, match="trained on OpenFace face crops"):
        frames = processor(videos=[empty_clip], subtitles=["b"])  # the frame input, as given without faces=
    np.testing.assert_array_equal(fallback["pixel_values_videos"][1].numpy(), frames["pixel_values_videos"][0].numpy())
    with pytest.raises(ValueError, match="on_no_face must be 'error' or 'frames'"):
        processor(videos=[face_clip], faces="auto", subtitles=["hi"], on_no_face="skip")


def test_faces_extract_writes_both_layouts_resumes_and_previews(face_clip, empty_clip, tmp_path, capsys):
    from affectgpt_hf.cli import main
    from affectgpt_hf.data.builder import build_dataset
    from affectgpt_hf.data.mini_release import write_mini_release

    flat_root = write_mini_release(tmp_path / "flat", "ov_merd_plus", count=1)
    nested_root = write_mini_release(tmp_path / "nested", "mer_caption_plus", count=1)
    expected = load_faces(_save_and_path(tmp_path, video_face_crops(face_clip).crops))
    for root, layout, config in ((flat_root, "flat", "ov_merd_plus"), (nested_root, "nested", "mer_caption_plus")):
        video = next((root / "video").iterdir())
        shutil.copyfile(face_clip, video)
        faces = root / "openface_face"
        for old in faces.rglob("*.npy"):
            old.unlink()
        code = main(
            ["faces", "extract", str(video), str(empty_clip), "--out", str(faces), "--layout", layout]
            + (["--preview"] if layout == "flat" else [])
        )
        assert code == 1  # the empty clip failed, and is named
        err = capsys.readouterr().err
        assert "wrote 1 clip(s)" in err and "empty_room: " in err and "no face detected" in err
        assert "on_no_face" not in err  # the processor's options mean nothing here
        written = faces / (f"{video.stem}.npy" if layout == "flat" else f"{video.stem}/{video.stem}.npy")
        assert written.exists()
        stamp = written.stat().st_mtime_ns
        assert main(["faces", "extract", str(video), "--out", str(faces), "--layout", layout]) == 0
        assert "1 already there" in capsys.readouterr().err and written.stat().st_mtime_ns == stamp  # resumed
        if layout == "flat":
            assert Image.open(written.with_suffix(".png")).size == (8 * CROP_SIZE, CROP_SIZE)
        ds = build_dataset(
            root, config, split="test" if layout == "flat" else "train", cache_dir=tmp_path / layout, verify_media=True
        )
        assert ds[0]["face"] == str(written)
        np.testing.assert_array_equal(load_faces(ds[0]["face"]), expected)


def _save_and_path(folder, crops) -> str:
    path = os.path.join(folder, "reference.npy")
    np.save(path, crops)
    return path


@pytest.fixture(scope="module")
def face_model_folder(tmp_path_factory):
    """The tiny model as a face model (random weights), saved with its processor."""
    from affectgpt_hf.hub.variants import VARIANTS, generation_config

    folder = tmp_path_factory.mktemp("face_model")
    model = tiny_model(input_mode="multiface_audio_face_text")
    model.generation_config = generation_config(VARIANTS["tiny"][1])
    model.save_pretrained(folder)
    AffectGPTProcessor.from_pretrained(TINY, input_mode="multiface_audio_face_text").save_pretrained(folder)
    return folder


def test_describe_and_space_name_the_face_source(face_model_folder, face_clip, empty_clip, tmp_path):
    import json

    from affectgpt_hf.apps.demo import Analyzer
    from affectgpt_hf.cli import main

    out = tmp_path / "out.jsonl"
    args = ["describe", face_clip, empty_clip, "--model", str(face_model_folder), "--max-new-tokens", "3"]
    assert main([*args, "--output", str(out)]) == 0
    rows = {row["name"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert rows["hopper"]["face_source"] == "builtin" and rows["hopper"]["frames_without_face"] == 0
    assert "no face detected" in rows["empty_room"]["error"]  # skipped, with the reason
    with pytest.warns(UserWarning, match="empty_room.mp4: no face detected"):
        assert main([*args, "--output", str(out), "--on-no-face", "frames"]) == 0
    rows = {row["name"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert rows["empty_room"]["face_source"] == "frames" and "error" not in rows["empty_room"]

    analyzer = Analyzer(face_model_folder, device="cpu", max_new_tokens=3)
    assert "made here (MTCNN + OpenFace-style alignment)" in analyzer.face_note()
    assert analyzer.analyze(face_clip, None, "hi", "ov_labels")["face_source"] == "builtin"


def test_without_weights_face_models_fall_back_to_frames_with_a_hint(monkeypatch):
    from affectgpt_hf import faces

    assert faces.default_faces("multiframe_audio_frame_text") is None  # frame models read frames
    assert faces.default_faces("multiface_audio_face_text", "crops/") == "crops/"  # given crops are kept
    assert faces.default_faces("multiface_audio_face_text") == "auto"
    monkeypatch.setattr(faces.importlib.util, "find_spec", lambda name: None)
    assert not faces.faces_available()
    with pytest.warns(UserWarning, match="pip install --no-deps facenet-pytorch==2.6.0"):
        assert faces.default_faces("multiface_audio_face_text") is None
    with pytest.raises(faces.FacesUnavailable, match="facenet-pytorch"):
        faces.FaceDetector()


def test_benchmark_on_a_set_without_crops_uses_builtin_faces_and_says_so(face_model_folder, tmp_path):
    """A release without openface_face/: the set loads without faces, the runner asks for faces="auto" (and the frame
    input for clips without a face), and the report counts the face sources."""
    from affectgpt_hf.benchmark.arguments import BenchmarkConfig
    from affectgpt_hf.benchmark.runner import run_benchmark
    from affectgpt_hf.data.mini_release import write_mini_release
    from affectgpt_hf.inference.batch import DescribeResult

    root = write_mini_release(tmp_path / "data", "ov_merd_plus", count=2)
    shutil.rmtree(root / "openface_face")
    seen = []

    def scripted(model, processor, clips, **kwargs):
        seen.append(([clip.faces for clip in clips], kwargs.get("on_no_face")))
        sources = ["builtin", "frames"]
        return [
            DescribeResult(c.name, text="The character's emotional state is happy.", face_source=sources[i % 2])
            for i, c in enumerate(clips)
        ]

    config = BenchmarkConfig(
        model=str(face_model_folder),
        data_root=str(tmp_path / "data"),
        output_dir=str(tmp_path / "out"),
        datasets=["OVMERDPlus"],
        cache_dir=str(tmp_path / "cache"),
        max_new_tokens=3,
        progress=False,
    )
    report = run_benchmark(config, describe_fn=scripted)
    assert seen == [(["auto", "auto"], "frames")]
    assert report["datasets"]["OVMERDPlus"]["face_sources"] == {"builtin": 1, "frames": 1}
    markdown = (tmp_path / "out" / "benchmark.md").read_text()
    assert "face source: builtin 1, frames 1 (built-in crops approximate OpenFace's" in markdown


def test_faces_extract_shards_clips_across_processes(tmp_path, monkeypatch):
    """Under accelerate each process takes every n-th clip; together they write every clip once."""
    from affectgpt_hf import faces
    from affectgpt_hf.data import face_crops as faces_extract

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b", "c"):
        (videos / f"{name}.mp4").write_bytes(b"not decoded here")
    crops = np.zeros((8, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    done = []

    def fake_crops(path, **kwargs):  # the sharding under test, not the cropping
        done.append(os.path.basename(path))
        return type("Found", (), {"crops": crops, "reused": 0})()

    monkeypatch.setattr(faces, "video_face_crops", fake_crops)
    reports = []
    for rank in (0, 1):
        monkeypatch.setattr(faces_extract, "process_rank", lambda rank=rank: (rank, 2))
        reports.append(faces_extract.extract_faces([videos], tmp_path / "out", progress=False))
    assert [r.written for r in reports] == [["a", "c"], ["b"]]
    assert sorted(done) == ["a.mp4", "b.mp4", "c.mp4"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.npy", "b.npy", "c.npy"]


def test_a_timeline_segment_of_a_face_model_gets_the_crops_of_the_clip_cut_out(moving, tmp_path):
    """`affectgpt timeline` with a face model: each segment's input (faces cropped from its frames, its audio, its
    subtitle) equals the input of the clip cut out there, written losslessly (qp 0, PCM) so the pixels are the same."""
    from affectgpt_hf.inference.batch import Clip, prepare_clip
    from affectgpt_hf.inference.segment_clips import SegmentBatches
    from affectgpt_hf.media import read_soundtrack

    processor = AffectGPTProcessor.from_pretrained(TINY, input_mode="multiface_audio_face_text")
    parts = [np.repeat(moving[0], 2, axis=0), np.repeat(moving[0][::-1], 2, axis=0)]  # 16 frames = 2 s at 8 fps each
    tones = [(0.2 * np.sin(np.arange(32000) / 16000 * 2 * np.pi * f)).astype(np.float32) for f in (220, 330)]
    lossless = {"fps": 8, "sampling_rate": 16000, "audio_codec": "pcm_s16le", "options": {"qp": "0"}}
    long = tmp_path / "long.mkv"
    write_video(long, np.concatenate(parts), audio=np.concatenate(tones), **lossless)
    cut = [tmp_path / f"cut{i}.mkv" for i in range(2)]
    for path, frames, tone in zip(cut, parts, tones, strict=True):
        write_video(path, frames, audio=tone, **lossless)
    subtitles = ["first", "second"]
    batches = SegmentBatches(processor, str(long), [(0.0, 2.0), (2.0, 4.0)], subtitles, read_soundtrack(long),
                             faces="auto", on_no_face="error")  # fmt: skip
    prepared = batches(0, [0, 1])
    batches.close()
    assert not prepared.errors and prepared.facts[0]["face_source"] == "builtin"
    for k, path in enumerate(cut):
        expected = prepare_clip(processor, Clip(path.stem, video=str(path), subtitle=subtitles[k], faces="auto"))
        for key in ("pixel_values_videos", "input_values"):
            np.testing.assert_array_equal(prepared.inputs[key][k].numpy(), expected[key][0].numpy(), err_msg=key)
