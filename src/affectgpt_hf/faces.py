"""Face crops for face models on raw video: MTCNN detection, then OpenFace-style similarity alignment.

The paper's face model reads OpenFace crops: per video a (T, 112, 112, 3) uint8 BGR array of faces that OpenFace's
FeatureExtraction aligned with a similarity transform onto its 68-point mean shape scaled by ``sim_scale`` 0.7
(``-simscale``/``-simsize`` defaults, FaceAnalyser's ``AlignFace``). Building OpenFace is hard, so this module makes
an approximation of those crops in-process:

* detection and 5 landmarks (eye centres, nose tip, mouth corners): MTCNN (Zhang et al. 2016), the network code
  written here, the trained weights read from the ``facenet-pytorch`` 2.6.0 wheel's ``data/{p,r,o}net.pt`` (MIT;
  installed with ``pip install --no-deps facenet-pytorch==2.6.0``: its code pins torch<2.3 and is never imported,
  only its weight files are read, with ``torch.load(weights_only=True)``; nothing is downloaded at run time);
* alignment: a least-squares similarity transform (rotation, uniform scale, translation) of those 5 points onto
  :data:`TEMPLATE`, the same 5 points of OpenFace's In-the-wild 68-point PDM mean shape (x, y; z dropped) scaled by
  0.7 and centred in 112x112 (OpenFace centres the PDM origin, the shape's centroid, at (56, 56)); the warp samples
  bilinearly with black borders, as ``cv2.warpAffine(INTER_LINEAR)`` does.

What differs from OpenFace: 5 MTCNN points instead of 24 rigid points of 68 CLNF landmarks; no face mask (OpenFace's
default output blacks out the area outside the face outline, ``-nomask`` turns that off; which one a release's crops
used is not recorded upstream); crops for the sampled frames only (the 8 frames upstream's reader picks; OpenFace
writes every frame). Frames without a face reuse the nearest detected crop (counted in :class:`FaceCrops`).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .media import MediaSource, resize_bilinear_cv2, sample_video_frames
from .prompt import FACE_TOKEN, visual_token_of

CROP_SIZE = 112  # OpenFace's -simsize default
SIM_SCALE = 0.7  # OpenFace's -simscale default
# The 5 MTCNN points (image-left eye centre, image-right eye centre, nose tip, mouth corners left and right) in a
# 112x112 OpenFace crop: 0.7 * (x, y) of OpenFace's In-the-wild_aligned_PDM_68 mean shape (model/pdms, in mm;
# eye centre = mean of points 36-41 / 42-47, nose tip = point 30, mouth corners = points 48 / 54) + 56.
TEMPLATE = np.array(
    [[32.9456, 29.1991], [78.9518, 28.8647], [56.8587, 50.1098], [35.7586, 76.0289], [76.1561, 75.6559]],
    dtype=np.float64,
)
MIN_FRAME_SIDE = 64  # smaller frames are refused with a named error
DETECT_MAX_SIDE = 1280  # frames are downscaled to at most this long side for detection (4K in, crops from full size)
MIN_FACE_FRACTION = 1 / 12  # faces smaller than this share of the frame's short side are not searched (min 20 px)
INSTALL_HINT = "pip install --no-deps facenet-pytorch==2.6.0  (only its MTCNN weight files are used)"
FACE_SOURCES = ("openface", "builtin", "frames")
logger = logging.getLogger(__name__)


class FacesUnavailable(ImportError):
    """The MTCNN weights (the facenet-pytorch wheel's data files) are not installed."""


class NoFaceError(ValueError):
    """No face was detected in any sampled frame of a clip."""


# --------------------------------------------------------------------------------------------- weights


def weights_dir() -> Path:
    """Folder holding pnet.pt / rnet.pt / onet.pt: the installed facenet-pytorch's data/ (found, never imported)."""
    spec = importlib.util.find_spec("facenet_pytorch")  # a top-level name: the package's code is not run
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location) / "data"
        if all((folder / f"{name}.pt").is_file() for name in ("pnet", "rnet", "onet")):
            return folder
    raise FacesUnavailable(f"the built-in face crops need MTCNN weights; install them with: {INSTALL_HINT}")


def faces_available() -> bool:
    """True when the MTCNN weights are installed (the processor's faces="auto" can work)."""
    try:
        weights_dir()
    except FacesUnavailable:
        return False
    return True


# --------------------------------------------------------------------------------------------- MTCNN networks


class _PNet(nn.Module):
    """Proposal net: fully convolutional over 12x12 windows (stride 2) -> face probability and box offsets."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = nn.functional.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class _RNet(nn.Module):
    """Refinement net on 24x24 crops -> probability and box offsets."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x):
        x = nn.functional.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = nn.functional.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))  # the converted weights flatten (W, H, C)
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class _ONet(nn.Module):
    """Output net on 48x48 crops -> probability, box offsets and 5 landmarks (5 x then 5 y, relative to the box)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = nn.functional.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = nn.functional.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression (MTCNN's: inclusive pixel areas; overlap over union or over the smaller box)."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[-1], order[:-1]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        overlap = inter / (np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.array(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes made square around their centre (side = the longer side), as MTCNN does between stages."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] += w * 0.5 - side * 0.5
    boxes[:, 1] += h * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, 0:2] + side[:, None]
    return boxes


def _regress(boxes: np.ndarray, offsets: np.ndarray, inclusive: bool) -> np.ndarray:
    boxes = boxes.copy()
    extra = 1 if inclusive else 0
    w, h = boxes[:, 2] - boxes[:, 0] + extra, boxes[:, 3] - boxes[:, 1] + extra
    boxes[:, :4] += offsets * np.stack([w, h, w, h], axis=1)
    return boxes


class FaceDetector:
    """MTCNN on RGB uint8 frames: boxes (x1, y1, x2, y2, score) and 5 landmarks (x, y) per face, largest first."""

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        device: str | torch.device = "cpu",
    ):
        folder = weights_dir()
        self.nets = []
        for name, cls in (("pnet", _PNet), ("rnet", _RNet), ("onet", _ONet)):
            net = cls()
            net.load_state_dict(torch.load(folder / f"{name}.pt", map_location="cpu", weights_only=True))
            self.nets.append(net.eval().to(device))
        self.min_face_size, self.thresholds, self.factor, self.device = min_face_size, thresholds, factor, device

    @torch.no_grad()
    def detect(self, images: np.ndarray, min_face_size: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """(N, H, W, 3) uint8 RGB -> per image (boxes [k, 5], landmarks [k, 5, 2]), largest box first.

        ``min_face_size`` (pixels; default the detector's) sets the smallest face searched, hence the pyramid's size."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected (N, H, W, 3) uint8 RGB images, got shape {images.shape} dtype {images.dtype}")
        x = torch.from_numpy(np.require(images, requirements=["C", "W"])).to(self.device).permute(0, 3, 1, 2).float()
        boxes, owner = self._propose(x, min_face_size or self.min_face_size)
        boxes, owner = self._refine(x, boxes, owner)
        boxes, owner, points = self._output(x, boxes, owner)
        results = []
        for n in range(len(images)):
            mine = owner == n
            b, p = boxes[mine], points[mine]
            order = np.argsort(-(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), kind="stable")
            results.append((b[order], p[order]))
        return results

    def _propose(self, x: torch.Tensor, min_face_size: float):
        _, _, h, w = x.shape
        scale = 12.0 / min_face_size
        side = min(h, w) * scale
        found, owners = [], []
        while side >= 12:
            size = (int(h * scale + 1), int(w * scale + 1))
            data = (nn.functional.interpolate(x, size=size, mode="area") - 127.5) * 0.0078125
            offsets, probs = self.nets[0](data)
            hit = (probs[:, 1] >= self.thresholds[0]).nonzero().cpu().numpy()  # (image, row, col)
            if len(hit):
                score = probs[hit[:, 0], 1, hit[:, 1], hit[:, 2]].cpu().numpy()
                reg = offsets[hit[:, 0], :, hit[:, 1], hit[:, 2]].cpu().numpy()
                xy = hit[:, [2, 1]].astype(np.float64)
                q1, q2 = np.floor((2 * xy + 1) / scale), np.floor((2 * xy + 12) / scale)
                boxes = np.concatenate([q1, q2, score[:, None], reg], axis=1)
                for image in np.unique(hit[:, 0]):
                    mine = np.flatnonzero(hit[:, 0] == image)
                    keep = mine[_nms(boxes[mine, :4], boxes[mine, 4], 0.5)]
                    found.append(boxes[keep])
                    owners.append(np.full(len(keep), image))
            scale *= self.factor
            side *= self.factor
        if not found:
            return np.zeros((0, 5)), np.zeros(0, dtype=np.int64)
        boxes, owner = np.concatenate(found), np.concatenate(owners)
        keep = self._nms_per_image(boxes, owner, 0.7, "union")
        boxes, owner = boxes[keep], owner[keep]
        boxes = np.concatenate([_regress(boxes[:, :4], boxes[:, 5:9], inclusive=False), boxes[:, 4:5]], axis=1)
        return _square(boxes), owner

    def _refine(self, x, boxes, owner):
        if not len(boxes):
            return boxes, owner
        offsets, probs = self.nets[1](self._crops(x, boxes, owner, 24))
        score = probs[:, 1].cpu().numpy()
        keep = score > self.thresholds[1]
        boxes, owner = boxes[keep], owner[keep]
        boxes[:, 4] = score[keep]
        offsets = offsets.cpu().numpy()[keep]
        pick = self._nms_per_image(boxes, owner, 0.7, "union")
        boxes, owner, offsets = boxes[pick], owner[pick], offsets[pick]
        boxes = np.concatenate([_regress(boxes[:, :4], offsets, inclusive=True), boxes[:, 4:5]], axis=1)
        return _square(boxes), owner

    def _output(self, x, boxes, owner):
        if not len(boxes):
            return boxes, owner, np.zeros((0, 5, 2))
        offsets, marks, probs = self.nets[2](self._crops(x, boxes, owner, 48))
        score = probs[:, 1].cpu().numpy()
        keep = score > self.thresholds[2]
        boxes, owner = boxes[keep], owner[keep]
        boxes[:, 4] = score[keep]
        offsets, marks = offsets.cpu().numpy()[keep], marks.cpu().numpy()[keep]
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        px = w[:, None] * marks[:, :5] + boxes[:, 0:1] - 1
        py = h[:, None] * marks[:, 5:] + boxes[:, 1:2] - 1
        points = np.stack([px, py], axis=2)
        boxes = np.concatenate([_regress(boxes[:, :4], offsets, inclusive=True), boxes[:, 4:5]], axis=1)
        pick = self._nms_per_image(boxes, owner, 0.7, "min")
        return boxes[pick], owner[pick], points[pick]

    @staticmethod
    def _nms_per_image(boxes, owner, threshold, mode):
        groups = [np.flatnonzero(owner == value) for value in np.unique(owner)]
        keep = [idx[_nms(boxes[idx, :4], boxes[idx, 4], threshold, mode)] for idx in groups]
        return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)

    @staticmethod
    def _crops(x: torch.Tensor, boxes: np.ndarray, owner: np.ndarray, size: int) -> torch.Tensor:
        """Each box (MTCNN's 1-based pixel box, truncated to integers) cut out of its image and resized to
        ``size`` x ``size``, zero outside the image: one batched bilinear sampling at twice the size, then 2x2 means
        (so large boxes are not aliased)."""
        _, _, h, w = x.shape
        b = torch.as_tensor(np.trunc(boxes[:, :4]), dtype=x.dtype, device=x.device)
        x1, y1, x2, y2 = b[:, 0] - 1, b[:, 1] - 1, b[:, 2], b[:, 3]  # pixel edges [x1, x2) x [y1, y2)
        theta = torch.zeros(len(b), 2, 3, dtype=x.dtype, device=x.device)
        theta[:, 0, 0] = (x2 - x1) / w
        theta[:, 0, 2] = (x1 + x2) / w - 1
        theta[:, 1, 1] = (y2 - y1) / h
        theta[:, 1, 2] = (y1 + y2) / h - 1
        grid = nn.functional.affine_grid(theta, [len(b), 3, 2 * size, 2 * size], align_corners=False)
        patches = x.new_empty(len(b), 3, 2 * size, 2 * size)
        for image in np.unique(owner):  # the image is expanded (not copied) over its own boxes
            mine = torch.as_tensor(np.flatnonzero(owner == image), device=x.device)
            source = x[int(image) : int(image) + 1].expand(len(mine), -1, -1, -1)
            patches[mine] = nn.functional.grid_sample(source, grid[mine], padding_mode="zeros", align_corners=False)
        return (nn.functional.avg_pool2d(patches, 2) - 127.5) * 0.0078125


@functools.lru_cache(maxsize=2)
def get_detector(device: str = "cpu") -> FaceDetector:
    """A cached detector (weights are read once per process)."""
    return FaceDetector(device=device)


# --------------------------------------------------------------------------------------------- alignment


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping source onto target.

    Umeyama's closed form, as OpenFace's AlignShapesWithScale (Kabsch with scale). Returns a 2x3 matrix.
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s / len(source))
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ d @ vt
    scale = np.trace(np.diag(sigma) @ d) / (s**2).sum(1).mean()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_t - scale * rotation @ mu_s
    return matrix


def warp_affine(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``cv2.warpAffine(image, matrix, (size, size), INTER_LINEAR)`` in numpy: bilinear, zero outside the image."""
    h, w = image.shape[:2]
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    sx = inverse[0, 0] * u + inverse[0, 1] * v + inverse[0, 2]
    sy = inverse[1, 0] * u + inverse[1, 1] * v + inverse[1, 2]
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    padded = np.zeros((h + 2, w + 2, image.shape[2]), np.float64)  # a black frame of one pixel: border = 0
    padded[1:-1, 1:-1] = image
    xa, ya = np.clip(x0 + 1, 0, w + 1), np.clip(y0 + 1, 0, h + 1)
    xb, yb = np.clip(x0 + 2, 0, w + 1), np.clip(y0 + 2, 0, h + 1)
    top = padded[ya, xa] * (1 - fx) + padded[ya, xb] * fx
    bottom = padded[yb, xa] * (1 - fx) + padded[yb, xb] * fx
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


def align_face(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """RGB frame + 5 landmarks -> one OpenFace-style crop, (112, 112, 3) uint8 in BGR order (as OpenFace writes)."""
    crop = warp_affine(image, similarity_transform(points, TEMPLATE), CROP_SIZE)
    return np.ascontiguousarray(crop[..., ::-1])


# --------------------------------------------------------------------------------------------- clips


@dataclass
class FaceCrops:
    """A clip's crops (T, 112, 112, 3) uint8 BGR with, per frame, whether a face was detected there."""

    crops: np.ndarray
    detected: np.ndarray  # (T,) bool; False: the crop is the nearest detected frame's
    boxes: np.ndarray  # (T, 4) x1, y1, x2, y2 of the tracked face in the frame (NaN where none)
    points: np.ndarray  # (T, 5, 2) landmarks in the frame (NaN where none)

    @property
    def reused(self) -> int:
        """Frames without a detected face, filled with the nearest detected crop."""
        return int((~self.detected).sum())


def _track(found: list[tuple[np.ndarray, np.ndarray]]) -> list[int | None]:
    """One face per frame: the largest face of the clip anchors a track followed to both sides by position and size.

    In each frame the candidate nearest the track's last box is kept if it lies within one box width of it and its
    size is within a factor 2; otherwise the frame's largest face is taken if it is at least half the anchor's size
    (a cut to the same person elsewhere); otherwise the frame counts as one without a face.
    """
    areas = [(b[0, 2] - b[0, 0]) * (b[0, 3] - b[0, 1]) if len(b) else -1.0 for b, _ in found]
    anchor = int(np.argmax(areas))
    chosen: list[int | None] = [None] * len(found)
    chosen[anchor] = 0
    anchor_side = math.sqrt(areas[anchor])
    for step in (1, -1):
        last = found[anchor][0][0]
        for t in range(anchor + step, len(found) if step == 1 else -1, step):
            boxes = found[t][0]
            if not len(boxes):
                continue
            last_side = max(last[2] - last[0], 1e-6)
            centres = (boxes[:, :2] + boxes[:, 2:4]) / 2
            distance = np.linalg.norm(centres - (last[:2] + last[2:4]) / 2, axis=1) / last_side
            ratio = (boxes[:, 2] - boxes[:, 0]) / last_side
            fits = (distance <= 1.0) & (ratio >= 0.5) & (ratio <= 2.0)
            if fits.any():
                pick = int(np.argmin(np.where(fits, distance, np.inf)))
            elif math.sqrt(max(areas[t], 0)) >= 0.5 * anchor_side:
                pick = 0
            else:
                continue
            chosen[t], last = pick, boxes[pick]
    return chosen


def crop_faces(
    frames: np.ndarray, name: str = "the frames", detector: FaceDetector | None = None, device: str = "cpu"
) -> FaceCrops:
    """(T, H, W, 3) uint8 RGB frames -> :class:`FaceCrops` of the main face (tracked), nearest crop where none.

    Raises :class:`NoFaceError` (a ValueError naming ``name``) when no frame has a face, and ValueError for frames
    that are not RGB uint8 or smaller than 64 pixels on a side. Frames larger than 1280 px on their long side are
    searched downscaled; the crop is always cut from the full-size frame. Faces smaller than 1/12 of the (searched)
    frame's short side, or 20 px, are not looked for: the clip's main face is wanted, and the pyramid stays small.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] < 1:
        raise ValueError(f"{name}: expected (T, H, W, 3) uint8 RGB frames, got shape {frames.shape} {frames.dtype}")
    height, width = frames.shape[1:3]
    if min(height, width) < MIN_FRAME_SIDE:
        raise ValueError(
            f"{name}: frames are {width}x{height} pixels; face detection needs at least {MIN_FRAME_SIDE} on each side"
        )
    detector = detector or get_detector(device)
    factor = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small = frames
    if factor < 1.0:
        size = (max(round(height * factor), 1), max(round(width * factor), 1))
        small = np.stack([resize_bilinear_cv2(frame, size[1], size[0]) for frame in frames])
        factor = np.array([size[1] / width, size[0] / height])
    else:
        factor = np.array([1.0, 1.0])
    min_face = max(20.0, min(small.shape[1:3]) * MIN_FACE_FRACTION)
    found = [(b[:, :4] / np.tile(factor, 2), p / factor) for b, p in detector.detect(small, min_face)]
    if not any(len(b) for b, _ in found):
        raise NoFaceError(f"{name}: no face detected in any of its {len(frames)} sampled frames")
    chosen = _track(found)
    count = len(frames)
    crops = np.zeros((count, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    boxes, points = np.full((count, 4), np.nan), np.full((count, 5, 2), np.nan)
    detected = np.array([c is not None for c in chosen])
    for t, pick in enumerate(chosen):
        if pick is not None:
            boxes[t], points[t] = found[t][0][pick], found[t][1][pick]
            crops[t] = align_face(frames[t], points[t])
    have = np.flatnonzero(detected)
    for t in np.flatnonzero(~detected):
        crops[t] = crops[have[np.argmin(np.abs(have - t))]]  # nearest detected frame; the earlier one on a tie
    return FaceCrops(crops=crops, detected=detected, boxes=boxes, points=points)


def video_face_crops(video: MediaSource | np.ndarray, num_frames: int = 8, device: str = "cpu") -> FaceCrops:
    """A video (path, bytes or (T, H, W, 3) RGB array) -> crops of the ``num_frames`` frames upstream samples.

    The frames are those :func:`media.sample_video_frames` picks (upstream's index rule, rotation honoured), decoded
    at full size. Saved as ``openface_face/{name}.npy`` they give the same 8 inputs as cropping in the processor, since
    upstream's reader picks ``frame_indices(8, 8)``, i.e. every one of them.
    """
    name = os.fspath(video) if isinstance(video, (str, os.PathLike)) else "the video"
    frames = sample_video_frames(video, num_frames=num_frames, size=None)
    return crop_faces(frames, name=name, device=device)


def default_faces(input_mode: str, faces: str | None = None) -> str | None:
    """What a model reads when no face crops are given (describe, benchmark, Space): for a face model "auto" (built-in
    crops) when the MTCNN weights are installed, else None (video frames) with a warning saying how to get crops.
    Given crops, and frame models, are left as they are."""
    if faces is not None or visual_token_of(input_mode) != FACE_TOKEN:
        return faces
    if faces_available():
        logger.warning(
            "%s reads face crops and none were given: cropping faces from the videos (built-in, an approximation of "
            "OpenFace's crops; each result names its face_source)",
            input_mode,
        )
        return "auto"
    warnings.warn(
        f"{input_mode} reads face crops and none were given: give OpenFace .npy crops, or install the built-in crops "
        f"with `{INSTALL_HINT}`; video frames are used instead",
        stacklevel=2,
    )
    return None


def contact_sheet(crops: np.ndarray, columns: int = 8) -> np.ndarray:
    """BGR crops (T, h, w, 3) -> one RGB image with the crops in a grid (for --preview PNGs)."""
    count, h, w = crops.shape[:3]
    rows = math.ceil(count / columns)
    sheet = np.zeros((rows * h, min(count, columns) * w, 3), np.uint8)
    for i, crop in enumerate(crops):
        r, c = divmod(i, columns)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = crop[..., ::-1]
    return sheet


__all__ = [
    "CROP_SIZE",
    "FaceCrops",
    "FaceDetector",
    "FacesUnavailable",
    "NoFaceError",
    "SIM_SCALE",
    "TEMPLATE",
    "align_face",
    "contact_sheet",
    "crop_faces",
    "default_faces",
    "faces_available",
    "get_detector",
    "similarity_transform",
    "video_face_crops",
    "warp_affine",
    "weights_dir",
]
