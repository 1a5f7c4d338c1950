"""`affectgpt describe`: files and folders -> clips (subtitles, faces) -> inference.describe -> JSONL."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from .faces import default_faces
from .inference import Clip, describe, find_clips, load_model
from .pipeline import CLIP_TIMEOUT, WorkerError


def read_subtitles(path: str | Path) -> dict[str, str]:
    """CSV (name, subtitle) -> {name: subtitle}; NaN subtitles become "" as upstream."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"name", "subtitle"} - set(table.columns)
    if missing:
        raise ValueError(f"{path} lacks column(s) {sorted(missing)}; expected a CSV with columns name, subtitle")
    return dict(zip(table["name"], table["subtitle"], strict=True))


def face_file(folder: str | Path, name: str) -> Path:
    """OpenFace crops of a clip: NAME.npy (test sets) or NAME/NAME.npy (MER-Caption+ layout)."""
    for candidate in (Path(folder) / f"{name}.npy", Path(folder) / name / f"{name}.npy"):
        if candidate.exists():
            return candidate
    raise ValueError(f"no face crops for {name} in {folder}; expected {name}.npy or {name}/{name}.npy")


def run_describe(args: argparse.Namespace) -> int:
    try:
        return _describe_paths(args)
    except WorkerError as error:  # a media worker died or hung: the message names the batch; no traceback
        print(f"affectgpt describe: error: {error}", file=sys.stderr)
        return 1


def _describe_paths(args: argparse.Namespace) -> int:
    paths = find_clips(args.paths)
    subtitles = read_subtitles(args.subtitles) if args.subtitles else {}
    model, processor = load_model(args.model, dtype=args.dtype, device=args.device)
    faces_arg = default_faces(processor.input_mode, args.faces)
    clips = []
    for path in paths:
        faces = faces_arg if faces_arg in (None, "auto") else face_file(faces_arg, path.stem)
        clips.append(
            Clip(
                name=path.stem,
                video=str(path),
                faces=None if faces is None else str(faces),
                subtitle=subtitles.get(path.stem, ""),
            )
        )
    extractor = None
    if args.task == "description" or args.question:
        from .unibench import get_extractor

        extractor = get_extractor().extract_labels
    results = describe(
        model,
        processor,
        clips,
        task=args.task,
        question=args.question,
        batch_size=args.batch_size,
        upstream_sampling=args.upstream_sampling,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        label_extractor=extractor,
        on_no_face=args.on_no_face,
        num_workers=args.num_workers,
        clip_timeout=CLIP_TIMEOUT if args.clip_timeout is None else args.clip_timeout,
    )
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for result in results:
            out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    finally:
        if args.output:
            out.close()
    failed = [r.name for r in results if r.error]
    if failed:
        print(f"skipped {len(failed)} clip(s) that could not be read: {', '.join(failed)}", file=sys.stderr)
    return 0
