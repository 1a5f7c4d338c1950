"""Make faces.npz: upstream's face loading and cv2.resize on textured inputs, for tests/test_media.py.

Run in upstream's pinned environment (opencv-python 4.6.0.66, numpy 1.23.5; tests/golden/upstream/make.sh builds it),
from the repository root, with upstream AffectGPT (commit fffca79) on the path:

    PYTHONPATH=$AFFECTGPT_UPSTREAM_ENV/shims:$AFFECTGPT_UPSTREAM_ENV/src/AffectGPT \
        $AFFECTGPT_UPSTREAM_ENV/venv/bin/python tests/golden/cv2_resize/make.py

Stored: each case's input and output as uint8, and the provenance (versions, command). The inputs are made by a
formula here and stored, so the test reads them rather than restating it.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path
from tempfile import TemporaryDirectory

import cv2
import numpy as np
from my_affectgpt.processors.video_processor import load_face

OUT = Path(__file__).with_name("faces.npz")
COMMAND = (
    "PYTHONPATH=$AFFECTGPT_UPSTREAM_ENV/shims:$AFFECTGPT_UPSTREAM_ENV/src/AffectGPT "
    "$AFFECTGPT_UPSTREAM_ENV/venv/bin/python tests/golden/cv2_resize/make.py"
)


def textured(frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """Frames with edges, gradients and a per-frame shift in every channel (no flat areas for a resize to hide in)."""
    t, y, x, c = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    values = 29 * t + 7 * y + 13 * x + 61 * c + 40 * ((x // 3 + y // 4 + seed) % 2) + (x * y * (c + 1)) % 23
    return (values % 256).astype(np.uint8)


def main() -> None:
    stored = {}
    faces = textured(13, 17, 23, seed=0)  # 13 frames: upstream picks 0,1,3,4,6,8,9,11
    with TemporaryDirectory() as folder:
        path = Path(folder) / "faces.npy"
        np.save(path, faces)
        picked = load_face(str(path), n_frms=8, height=30, width=30)  # (C, T, H, W) float of uint8 values
    stored["load_face_input"] = faces
    stored["load_face_30"] = picked.permute(1, 2, 3, 0).numpy().astype(np.uint8)
    for name, (height, width), (out_w, out_h) in (
        ("down", (40, 52), (30, 22)),  # non-integer shrink, both axes
        ("half", (32, 48), (24, 16)),  # exact 2x shrink (OpenCV's INTER_AREA shortcut)
        ("up", (9, 14), (31, 20)),  # non-integer growth, aspect changed
    ):
        image = textured(1, height, width, seed=1)[0]
        stored[f"{name}_input"] = image
        stored[f"{name}_output"] = cv2.resize(image, (out_w, out_h))
    stored["provenance"] = np.array(
        f"upstream AffectGPT fffca79 my_affectgpt/processors/video_processor.load_face and cv2.resize "
        f"(INTER_LINEAR default); opencv-python {version('opencv-python')}, numpy {np.__version__}, "
        f"python {sys.version.split()[0]}; made by: {COMMAND}"
    )
    np.savez_compressed(OUT, **stored)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): {stored['provenance']}")


if __name__ == "__main__":
    main()
