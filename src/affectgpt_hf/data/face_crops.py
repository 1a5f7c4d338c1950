"""`affectgpt faces extract`: videos -> OpenFace-style crops in upstream's layouts, resumable, sharded under accelerate.

Layouts (``--out`` is the release's ``openface_face`` folder): ``flat`` writes ``{name}.npy`` (the test sets'),
``nested`` writes ``{name}/{name}.npy`` (MER-Caption+ and MER2025). Each array holds the crops of the frames upstream's
reader samples (faces.video_face_crops), so reading it back with upstream's rule gives the processor's
``faces="auto"`` input exactly. A clip already written is skipped (files are written whole, then renamed); under
``accelerate launch`` each process takes every n-th clip.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..inference.inputs import find_clips
from ..utils.distributed import process_rank
from .layouts import FACE_FILES


@dataclass
class FacesExtractArguments:
    """`affectgpt faces extract`: where the crops go, in which layout, how many frames, on which device."""

    out: str = field(metadata={"help": "the openface_face folder to write"})
    layout: Literal["flat", "nested"] = field(default="flat", metadata={"help": "NAME.npy or NAME/NAME.npy"})
    preview: bool = field(default=False, metadata={"help": "also write a contact-sheet PNG beside each .npy"})
    num_frames: int = field(default=8, metadata={"help": "frames cropped per clip (upstream's sampling)"})
    device: str = field(default="cpu", metadata={"help": "cpu, cuda ... (detector)"})


def face_path(out: str | os.PathLike, name: str, layout: str) -> Path:
    """Where a clip's crops go: OUT/NAME.npy (flat) or OUT/NAME/NAME.npy (nested)."""
    if layout not in FACE_FILES:
        raise ValueError(f"layout must be one of {sorted(FACE_FILES)}, got {layout!r}")
    return Path(out) / FACE_FILES[layout].format(name=name)


@dataclass
class ExtractReport:
    written: list[str] = field(default_factory=list)
    skipped_existing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # name -> error (no face, unreadable video)
    frames_without_face: dict[str, int] = field(default_factory=dict)


def _save(path: Path, array) -> None:
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        np.save(handle, array)
    os.replace(partial, path)


def _save_png(path: Path, image) -> None:
    from PIL import Image

    partial = path.with_name(path.name + ".partial")
    Image.fromarray(image).save(partial, format="PNG")
    os.replace(partial, path)


def extract_faces(
    paths: list[str | os.PathLike],
    out: str | os.PathLike,
    layout: str = "flat",
    preview: bool = False,
    num_frames: int = 8,
    device: str = "cpu",
    progress: bool = True,
) -> ExtractReport:
    """Crop the faces of every video in ``paths`` (files or folders) into ``out``; see the module docstring."""
    from tqdm.auto import tqdm

    from ..faces import contact_sheet, video_face_crops

    face_path(out, "x", layout)  # validates the layout before any work
    clips = find_clips(paths)
    names = [clip.stem for clip in clips]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"several videos share the name(s) {duplicates}; each clip needs its own {layout} file")
    rank, world = process_rank()
    report = ExtractReport()
    for clip in tqdm(clips[rank::world], desc=f"faces (process {rank})", unit="clip", disable=not progress):
        target = face_path(out, clip.stem, layout)
        if target.exists():
            report.skipped_existing.append(clip.stem)
            continue
        try:
            found = video_face_crops(str(clip), num_frames=num_frames, device=device)
        except ValueError as error:  # NoFaceError and unreadable videos: reported, the others go on
            report.failed[clip.stem] = str(error)
            continue
        _save(target, found.crops)
        if preview:
            _save_png(target.with_suffix(".png"), contact_sheet(found.crops))
        report.written.append(clip.stem)
        report.frames_without_face[clip.stem] = found.reused
    return report


def run_extract(paths: list[str], args: FacesExtractArguments) -> int:
    """`affectgpt faces extract`: the crops of ``paths``' videos, a summary on stderr; 1 when a clip failed."""
    report = extract_faces(
        paths, args.out, layout=args.layout, preview=args.preview, num_frames=args.num_frames, device=args.device
    )
    reused = sum(report.frames_without_face.values())
    print(
        f"wrote {len(report.written)} clip(s) to {args.out} ({args.layout}); {len(report.skipped_existing)} already "
        f"there; {reused} frame(s) without a face reused the nearest crop; {len(report.failed)} failed",
        file=sys.stderr,
    )
    for name, error in report.failed.items():
        print(f"  {name}: {error}", file=sys.stderr)
    return 1 if report.failed else 0


__all__ = ["ExtractReport", "FacesExtractArguments", "extract_faces", "face_path", "run_extract"]
