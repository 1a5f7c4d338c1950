"""Batched inference: clips -> answers and labels. The one module behind `affectgpt describe`, the benchmark runner
and the Space: loading, per-clip preprocessing (a bad clip is reported and skipped), left-padded batches, greedy or
upstream sampling, answer parsing."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .modeling_affectgpt import AffectGPTForConditionalGeneration
from .processing_affectgpt import AffectGPTProcessor

logger = logging.getLogger(__name__)

# Upstream's decoding (conversation_video.answer_sample): top_p 0.9, temperature 1.0, plus Qwen2.5's own top_k 20,
# which upstream's generate inherited from the LLM folder's generation config.
UPSTREAM_SAMPLING = {"do_sample": True, "top_p": 0.9, "temperature": 1.0, "top_k": 20, "num_beams": 1}
GREEDY = {"do_sample": False, "num_beams": 1}
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv", ".m4v")


@dataclass
class Clip:
    """One clip to describe: a video file or frames, optional separate audio, optional OpenFace faces (or "auto": crops
    made from the video, faces.py), a subtitle."""

    name: str
    video: object = None
    audio: object = None
    faces: object = None
    subtitle: str = ""
    sampling_rate: int | None = None


@dataclass
class DescribeResult:
    name: str
    text: str | None = None
    labels: list[str] = field(default_factory=list)
    error: str | None = None
    face_source: str | None = None  # face models: "openface" (.npy), "builtin" (faces.py crops) or "frames"
    frames_without_face: int | None = None  # builtin crops: frames that reused the nearest detected crop

    def to_dict(self) -> dict:
        record = {"name": self.name, "text": self.text, "labels": self.labels}
        if self.face_source is not None:
            record["face_source"] = self.face_source
            record["frames_without_face"] = self.frames_without_face
        if self.error is not None:
            record["error"] = self.error
        return record


def load_model(
    model: str | os.PathLike,
    dtype: str | torch.dtype | None = None,
    device: str | None = None,
    device_map: str | None = None,
) -> tuple[AffectGPTForConditionalGeneration, AffectGPTProcessor]:
    """A saved AffectGPT folder or Hub id -> (model in eval mode, processor)."""
    kwargs = {}
    if dtype is not None and dtype != "auto":
        kwargs["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if device_map is not None:
        kwargs["device_map"] = device_map
    loaded = AffectGPTForConditionalGeneration.from_pretrained(model, **kwargs).eval()
    if device is not None and device_map is None:
        loaded.to(device)
    return loaded, AffectGPTProcessor.from_pretrained(model)


def find_clips(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Video files named directly or found (sorted, recursively) in folders."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES))
        elif path.exists():
            found.append(path)
        else:
            raise ValueError(f"{path} does not exist; expected a video file or a folder of videos")
    if not found:
        raise ValueError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) in {[str(p) for p in paths]}")
    return found


def generation_kwargs(upstream_sampling: bool = False, max_new_tokens: int | None = None, **extra) -> dict:
    """Arguments for `generate`: greedy by default, upstream's sampling on request."""
    kwargs = dict(UPSTREAM_SAMPLING if upstream_sampling else GREEDY)
    if max_new_tokens is not None:
        kwargs["max_new_tokens"] = max_new_tokens
    kwargs.update(extra)
    return kwargs


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _collate(features: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad single-clip features into one batch (each clip was preprocessed alone, so one bad clip costs one)."""
    width = max(f["input_ids"].shape[1] for f in features)
    batch: dict[str, list[torch.Tensor]] = {}
    for f in features:
        fill = width - f["input_ids"].shape[1]
        batch.setdefault("input_ids", []).append(torch.nn.functional.pad(f["input_ids"], (fill, 0), value=pad_id))
        batch.setdefault("attention_mask", []).append(torch.nn.functional.pad(f["attention_mask"], (fill, 0), value=0))
        for key in ("pixel_values_videos", "input_values"):
            if key in f:
                batch.setdefault(key, []).append(f[key])
    return {key: torch.cat(values) for key, values in batch.items()}


def describe(
    model: AffectGPTForConditionalGeneration,
    processor: AffectGPTProcessor,
    clips: Sequence[Clip],
    task: str = "ov_labels",
    question: str | None = None,
    batch_size: int = 8,
    upstream_sampling: bool = False,
    seed: int | None = None,
    max_new_tokens: int | None = None,
    skip_errors: bool = True,
    label_extractor: Callable[[list[str]], list[list[str]]] | None = None,
    progress: bool = True,
    on_no_face: str = "error",
    **generate_kwargs,
) -> list[DescribeResult]:
    """Describe clips in batches. Results keep the input order; a clip that fails to load gets `error` set (with
    `skip_errors`, else the ValueError propagates). Labels come from the OV answer parser, or from
    `label_extractor` (e.g. unibench's extractor for free descriptions) when given. `on_no_face` goes to the processor
    (clips with `faces="auto"`); each result of a face model records its face source."""
    if seed is not None:
        torch.manual_seed(seed)
    kwargs = generation_kwargs(upstream_sampling, max_new_tokens, **generate_kwargs)
    device = next(model.parameters()).device
    results: dict[int, DescribeResult] = {}
    prepared: list[tuple[int, dict]] = []
    started = time.perf_counter()
    bar = tqdm(total=len(clips), desc="describe", unit="clip", disable=not progress)
    for index, clip in enumerate(clips):
        try:
            features = processor(
                videos=None if clip.video is None else [clip.video],
                audio=None if clip.audio is None else [clip.audio],
                faces=None if clip.faces is None else [clip.faces],
                subtitles=[clip.subtitle or ""],
                task=task,
                question=question,
                sampling_rate=clip.sampling_rate,
                on_no_face=on_no_face,
            )
        except ValueError as error:
            if not skip_errors:
                raise
            logger.warning("skipping %s: %s", clip.name, error)
            results[index] = DescribeResult(clip.name, error=str(error))
            bar.update(1)
            continue
        prepared.append((index, features))
        if len(prepared) == batch_size:
            results.update(_generate(model, processor, clips, prepared, kwargs, device, task, label_extractor))
            bar.update(len(prepared))
            prepared = []
    if prepared:
        results.update(_generate(model, processor, clips, prepared, kwargs, device, task, label_extractor))
        bar.update(len(prepared))
    bar.close()
    elapsed = time.perf_counter() - started
    done = sum(result.error is None for result in results.values())
    logger.info(
        "described %d clips in %.1f s (%.2f clips/s), %d skipped",
        done,
        elapsed,
        done / max(elapsed, 1e-9),
        len(clips) - done,
    )
    return [results[i] for i in range(len(clips))]


@torch.no_grad()
def _generate(model, processor, clips, prepared, kwargs, device, task, label_extractor) -> dict[int, DescribeResult]:
    batch = _collate([features for _, features in prepared], processor.tokenizer.pad_token_id)
    dtype = model.dtype
    batch = {k: v.to(device, dtype) if v.is_floating_point() else v.to(device) for k, v in batch.items()}
    output = model.generate(**batch, **kwargs)
    texts = processor.batch_decode(output[:, batch["input_ids"].shape[1] :])
    labels = label_extractor(texts) if label_extractor is not None else processor.post_process(texts)
    return {
        index: DescribeResult(clips[index].name, text=text, labels=list(label), **_face_source(features))
        for (index, features), text, label in zip(prepared, texts, labels, strict=True)
    }


def _face_source(features) -> dict:
    sources = getattr(features, "face_sources", None)  # set by the processor for face models, one per clip
    return dict(sources[0]) if sources and sources[0] is not None else {}


__all__ = [
    "Clip",
    "DescribeResult",
    "GREEDY",
    "UPSTREAM_SAMPLING",
    "describe",
    "find_clips",
    "generation_kwargs",
    "load_model",
]
