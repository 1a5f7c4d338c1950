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

import numpy as np
from tqdm.auto import tqdm

from .faces import NoFaceError, contact_sheet, video_face_crops
from .inference import find_clips

LAYOUTS = {"flat": "{name}.npy", "nested": "{name}/{name}.npy"}


def face_path(out: str | os.PathLike, name: str, layout: str) -> Path:
    """Where a clip's crops go: OUT/NAME.npy (flat) or OUT/NAME/NAME.npy (nested)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    return Path(out) / LAYOUTS[layout].format(name=name)


@dataclass
class ExtractReport:
    written: list[str] = field(default_factory=list)
    skipped_existing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # name -> error (no face, unreadable video)
    frames_without_face: dict[str, int] = field(default_factory=dict)


def _shard(items: list, rank: int, world: int) -> list:
    return items[rank::world]


def _process_rank() -> tuple[int, int]:
    """(rank, world size) of this process under accelerate / torchrun; (0, 1) when run alone."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        state = PartialState()
        return state.process_index, state.num_processes
    return 0, 1


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        np.save(handle, array)
    os.replace(partial, path)


def _save_png(path: Path, image: np.ndarray) -> None:
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
    face_path(out, "x", layout)  # validates the layout before any work
    clips = find_clips(paths)
    names = [clip.stem for clip in clips]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"several videos share the name(s) {duplicates}; each clip needs its own {layout} file")
    rank, world = _process_rank()
    report = ExtractReport()
    for clip in tqdm(_shard(clips, rank, world), desc=f"faces (process {rank})", unit="clip", disable=not progress):
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


def run_extract(args) -> int:
    report = extract_faces(
        args.paths, args.out, layout=args.layout, preview=args.preview, num_frames=args.num_frames, device=args.device
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


__all__ = ["ExtractReport", "LAYOUTS", "NoFaceError", "extract_faces", "face_path", "run_extract"]
