"""Golden frames from upstream's frame reader (decord 0.6.0) for tests/test_decode_exact.py.

Run from the repository root with this project's environment. It writes the clips of :func:`build_clips` to a
temporary folder, then runs itself in upstream's pinned environment (as tests/golden/upstream/make.sh builds it), where
upstream's own ``load_video(path, n_frms=8, height=224, width=224)`` (my_affectgpt/processors/video_processor.py,
decord underneath) reads each clip; ``frames.json`` gets, per clip, decord's frame count and the sha256 of each
returned 224x224x3 uint8 frame, plus the provenance. Nothing is written unless every clip was read.

    PYTHONPATH=src python tests/golden/decord/make_frames.py [--upstream-python $AFFECTGPT_UPSTREAM_ENV/venv/bin/python]
        [--upstream-src $AFFECTGPT_UPSTREAM_ENV/src/AffectGPT] [--shims $AFFECTGPT_UPSTREAM_ENV/shims]

The H.264 clips are lossless (qp 0) encodes of pictures made here in YUV, so any x264 decodes them to the same
pixels: rebuilding them in the test reproduces what decord read. The MPEG-4 part 2 clip is lossy, so it is stored
(mpeg4_160x120.mp4, written once by this script with FFmpeg's encoder; kept unless --rewrite-mpeg4).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "upstream"))
from env_options import add_upstream_env_options, check_upstream_env  # noqa: E402

MPEG4 = HERE / "mpeg4_160x120.mp4"
NUM_FRAMES = 8

# name: (codec, pix_fmt, height, width, frames, encoder options, colorspace, color_range, rotation, gop)
CLIPS = {
    "h264_yuv420p_320x240_idr10": ("libx264", "yuv420p", 240, 320, 30, {"qp": "0"}, None, None, 0, 10),
    "h264_yuv420p_322x178": ("libx264", "yuv420p", 178, 322, 12, {"qp": "0"}, None, None, 0, None),
    "h264_yuv444p_321x241": ("libx264", "yuv444p", 241, 321, 12, {"qp": "0"}, None, None, 0, None),
    "h264_yuv420p_240x160_rotate90": ("libx264", "yuv420p", 160, 240, 10, {"qp": "0"}, None, None, 90, None),
    "h264_yuvj420p_bt709_480x270": ("libx264", "yuvj420p", 270, 480, 10, {"qp": "0"}, 1, 2, 0, None),
}


def _planes(index: int, height: int, width: int, pix_fmt: str):
    """Frame ``index`` as YUV planes: smooth gradients, a moving grating and a moving block (numpy only)."""
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    luma = 128 + 60 * np.sin((xx + 3 * index) / 5.0) * np.cos(yy / 7.0) + 40 * (xx / width - 0.5)
    top, left = (7 * index) % max(height - 20, 1), (11 * index) % max(width - 20, 1)
    luma[top : top + 20, left : left + 20] = 235 - 4 * index
    sub = (2, 2) if pix_fmt in ("yuv420p", "yuvj420p") else (1, 1)
    ch, cw = -(-height // sub[0]), -(-width // sub[1])
    cy, cx = np.mgrid[0:ch, 0:cw].astype(np.float64)
    u = 128 + 50 * np.sin((cx + 2 * index) / 4.0 + cy / 9.0)
    v = 128 + 50 * np.cos(cy / 3.0 - (cx + index) / 11.0)
    return [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (luma, u, v)]


def _frame(index: int, height: int, width: int, pix_fmt: str):
    """An av.VideoFrame holding :func:`_planes` (each plane copied under its line size)."""
    import av
    import numpy as np

    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(frame.planes, _planes(index, height, width, pix_fmt), strict=True):
        rows = np.zeros((data.shape[0], plane.line_size), np.uint8)
        rows[:, : data.shape[1]] = data
        plane.update(rows)
    return frame


def write_clip(path: Path, name: str) -> None:
    """Encode clip ``name`` of CLIPS losslessly from its YUV planes (PyAV)."""
    import av

    codec, pix_fmt, height, width, count, options, colorspace, color_range, rotation, gop = CLIPS[name]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(25))
        stream.height, stream.width, stream.pix_fmt = height, width, pix_fmt
        if gop is not None:
            stream.codec_context.gop_size = gop
        if colorspace is not None:
            stream.codec_context.colorspace = colorspace
        if color_range is not None:
            stream.codec_context.color_range = color_range
        stream.options = dict(options)
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(count):
            frame = _frame(i, height, width, pix_fmt)
            if colorspace is not None:
                frame.colorspace = colorspace
            if color_range is not None:
                frame.color_range = color_range
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_mpeg4(path: Path) -> None:
    """The stored MPEG-4 part 2 clip: 30 frames 160x120, FFmpeg's mpeg4 encoder, qscale 4, GOP 12, no B-frames."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(25))
        stream.height, stream.width, stream.pix_fmt = 120, 160, "yuv420p"
        stream.codec_context.gop_size = 12
        stream.codec_context.thread_count = 1
        stream.options = {"qscale": "4"}
        for i in range(30):
            container.mux(stream.encode(_frame(i, 120, 160, "yuv420p")))
        container.mux(stream.encode(None))


def build_clips(folder: Path) -> dict[str, Path]:
    """Every golden clip under ``folder`` (the H.264 ones rebuilt, the MPEG-4 one copied from the stored file)."""
    paths = {}
    for name in CLIPS:
        paths[name] = folder / f"{name}.mp4"
        write_clip(paths[name], name)
    paths["mpeg4_160x120"] = folder / MPEG4.name
    paths["mpeg4_160x120"].write_bytes(MPEG4.read_bytes())
    return paths


def sha256(frame) -> str:
    return hashlib.sha256(frame.tobytes()).hexdigest()


def _read_with_decord(pairs: dict[str, str]) -> dict:
    """Inside upstream's environment: upstream's load_video on every clip -> frame count and frame hashes."""
    import decord
    import numpy as np
    import torch
    from my_affectgpt.processors.video_processor import load_video

    out = {}
    for name, path in pairs.items():
        frames = load_video(video_path=path, n_frms=NUM_FRAMES, height=224, width=224)  # (C, T, H, W) float
        frames = frames.permute(1, 2, 3, 0).numpy()
        if not np.array_equal(frames, np.rint(frames)) or frames.min() < 0 or frames.max() > 255:
            raise SystemExit(f"{name}: load_video returned non-integer pixels")
        frames = frames.astype(np.uint8)
        count = len(decord.VideoReader(path))
        out[name] = {"frames": count, "sha256": [sha256(frame) for frame in frames]}
    out["_versions"] = {"decord": decord.__version__, "torch": torch.__version__, "numpy": np.__version__}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_upstream_env_options(parser)
    parser.add_argument("--rewrite-mpeg4", action="store_true", help="encode the stored MPEG-4 clip anew")
    parser.add_argument("--decord-json", help=argparse.SUPPRESS)  # the inner run, in upstream's environment
    args = parser.parse_args()
    if args.decord_json:
        print(json.dumps(_read_with_decord(json.loads(args.decord_json))))
        return
    check_upstream_env(args)
    if args.rewrite_mpeg4 or not MPEG4.exists():
        write_mpeg4(MPEG4)
    with tempfile.TemporaryDirectory() as tmp:
        paths = build_clips(Path(tmp))
        result = subprocess.run(
            [
                args.upstream_python,
                str(Path(__file__).resolve()),
                "--decord-json",
                json.dumps({k: str(v) for k, v in paths.items()}),
            ],
            cwd=args.upstream_src,
            env=dict(os.environ, PYTHONPATH=f"{args.shims}:{args.upstream_src}", OMP_NUM_THREADS="2"),
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        raise SystemExit(f"decord run failed in {args.upstream_python}:\n{result.stderr[-3000:]}")
    golden = json.loads(result.stdout.strip().splitlines()[-1])
    versions = golden.pop("_versions")
    golden = {
        "provenance": {
            "reader": "upstream AffectGPT fffca79 my_affectgpt/processors/video_processor.load_video("
            "n_frms=8, height=224, width=224)",
            "upstream_src": "AffectGPT at commit fffca79 (git archive, ../shared/notes/upstream-env.md)",
            "versions": versions,
            "command": "PYTHONPATH=src python tests/golden/decord/make_frames.py",
            "clips": "tests/golden/decord/make_frames.py CLIPS (lossless H.264 from YUV made in code) and "
            "mpeg4_160x120.mp4 (stored)",
        },
        "clips": golden,
    }
    (HERE / "frames.json").write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {HERE / 'frames.json'}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
