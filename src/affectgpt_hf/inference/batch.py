"""Batched inference: clips -> answers and labels. The one module behind `affectgpt describe`, the benchmark runner
and the Space: loading, per-clip preprocessing (a bad clip is reported and skipped) in DataLoader workers ahead of the
model (prefetch.py), left-padded batches, greedy or upstream sampling, answer parsing."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import BatchFeature

from ..faces import default_faces
from ..modeling_affectgpt import AffectGPTForConditionalGeneration
from ..processing_affectgpt import AffectGPTProcessor
from .arguments import DescribeArguments, InferenceArguments, check_clip_timeout, check_device
from .inputs import face_file, find_clips, given_subtitles
from .prefetch import Prefetcher, Prepare, Prepared, deadline
from .subtitles import load_recognizer, subtitle_fields, transcribe_clips

logger = logging.getLogger(__name__)


@dataclass
class Clip:
    """One clip to describe: a video file or frames, optional separate audio, optional OpenFace faces, a subtitle
    (None: none given; "" is given, and empty) and where it came from (subtitles.py: given, asr:<model>, none)."""

    name: str
    video: object = None
    audio: object = None
    faces: object = None
    subtitle: str | None = None
    sampling_rate: int | None = None
    subtitle_source: str | None = None  # None: "given" when there is a subtitle, else "none"
    subtitle_note: str | None = None  # e.g. why a transcript is empty ("no speech detected") or that it was cut


@dataclass
class DescribeResult:
    name: str
    text: str | None = None
    labels: list[str] = field(default_factory=list)
    error: str | None = None
    face_source: str | None = None  # face models: "openface" (.npy), "builtin" (faces.py crops) or "frames"
    frames_without_face: int | None = None  # builtin crops: frames that reused the nearest detected crop
    subtitle: str = ""  # the subtitle the model read
    subtitle_source: str = "none"  # "given", "asr:<model id>" or "none"
    subtitle_note: str | None = None

    def to_dict(self) -> dict:
        record = {"name": self.name, "text": self.text, "labels": self.labels}
        record.update(subtitle=self.subtitle, subtitle_source=self.subtitle_source)
        if self.subtitle_note is not None:
            record["subtitle_note"] = self.subtitle_note
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
    quantization: str | None = None,
) -> tuple[AffectGPTForConditionalGeneration, AffectGPTProcessor]:
    """A saved AffectGPT folder or Hub id -> (model in eval mode, processor). A folder that does not exist (and is
    no reachable Hub id) raises FileNotFoundError, a device this torch cannot use ValueError, each naming it.
    ``quantization`` ("bnb-8bit" / "bnb-4bit"): the language model's decoder in 8 or 4 bits, loaded onto ``device``
    (a quantized model cannot be moved afterwards)."""
    kwargs = {}
    if dtype is not None and dtype != "auto":
        kwargs["dtype"] = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if device is not None:
        check_device(device)
    if quantization is not None:
        kwargs["quantization"] = quantization
        if device_map is None and device is not None:
            device_map, device = {"": device}, None
    if device_map is not None:
        kwargs["device_map"] = device_map
    with model_source(model):
        loaded = AffectGPTForConditionalGeneration.from_pretrained(model, **kwargs).eval()
        processor = AffectGPTProcessor.from_pretrained(model)
    if device is not None and device_map is None:
        loaded.to(device)
    return loaded, processor


@contextmanager
def model_source(model: str | os.PathLike) -> Iterator[None]:
    """Loading from ``model``: transformers' OSError (no such folder, and no Hub id it could reach) or the Hub's
    refusal of the name as a repo id becomes a FileNotFoundError naming ``model`` and what it should be."""
    from huggingface_hub.errors import HFValidationError

    try:
        yield
    except (OSError, HFValidationError) as error:
        missing = "" if Path(model).exists() else f" (no folder {Path(model).resolve()})"
        raise FileNotFoundError(
            f"model {os.fspath(model)}{missing} is neither a saved AffectGPT folder nor a reachable Hub id; expected a "
            f"folder written by `affectgpt train`, `convert` or `quickstart` ({str(error).splitlines()[0]})"
        ) from error


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


def prepare_clip(processor: AffectGPTProcessor, clip: Clip, **processor_kwargs) -> BatchFeature:
    """One clip -> its model inputs (a batch of one; ``processor_kwargs``: task, question, ...). A clip that cannot be
    read raises ValueError naming it. The one place a clip meets the processor; the pipeline's workers call it."""
    return processor(
        videos=None if clip.video is None else [clip.video],
        audio=None if clip.audio is None else [clip.audio],
        faces=None if clip.faces is None else [clip.faces],
        subtitles=[clip.subtitle or ""],
        sampling_rate=clip.sampling_rate,
        **processor_kwargs,
    )


def _clip_label(clip: Clip) -> str:
    return clip.name if not isinstance(clip.video, (str, os.PathLike)) else f"{clip.name} ({os.fspath(clip.video)})"


class _ClipBatches:
    """Prepares one batch of clips (in a worker, or in place): each clip alone under the per-clip deadline, the
    readable ones left-padded into one batch, the others' errors kept for the main process to report."""

    def __init__(self, processor, clips: Sequence[Clip], processor_kwargs: dict, clip_timeout: float | None) -> None:
        check_clip_timeout(clip_timeout)
        self.processor, self.clips, self.processor_kwargs = processor, clips, processor_kwargs
        self.clip_timeout = clip_timeout

    def __call__(self, number: int, indices: list[int]) -> Prepared:
        features, kept, errors, facts = [], [], {}, {}
        for index in indices:
            clip = self.clips[index]
            try:
                with deadline(self.clip_timeout, _clip_label(clip)):
                    feature = prepare_clip(self.processor, clip, **self.processor_kwargs)
            except ValueError as error:
                errors[index] = str(error)
            else:
                features.append(feature)
                kept.append(index)
                facts[index] = _face_source(feature)
        inputs = _collate(features, self.processor.tokenizer.pad_token_id) if features else {}
        return Prepared(number, indices, inputs, kept, errors, facts)


def _names(clips: Sequence[Clip], indices: Sequence[int]) -> str:
    names = [clips[i].name for i in indices]
    return "clips " + (", ".join(names) if len(names) <= 4 else f"{names[0]}, {names[1]}, ..., {names[-1]}")


def describe(
    model: AffectGPTForConditionalGeneration,
    processor: AffectGPTProcessor,
    clips: Sequence[Clip],
    runtime: InferenceArguments | None = None,
    *,
    task: str = "ov_labels",
    question: str | None = None,
    on_no_face: str = "error",
    label_extractor: Callable[[list[str]], list[list[str]]] | None = None,
    on_batch: Callable[[list[DescribeResult]], None] | None = None,
    skip_errors: bool = True,
    progress: bool = True,
    seed_each_batch: bool = False,
    prepare: Prepare | None = None,
    **generate_kwargs,
) -> list[DescribeResult]:
    """Describe ``clips`` (in batches of ``runtime.batch_size`` consecutive clips) with upstream's ``task`` question or
    a free ``question``. Results keep the input order; a clip that fails to load, or takes longer than
    ``runtime.clip_timeout`` s, gets `error` set (with `skip_errors`, else the ValueError propagates) and its batch
    goes on without it. Labels come from the OV answer parser, or from `label_extractor` (e.g. unibench's extractor
    for free descriptions) when given.

    ``runtime`` (default: :class:`InferenceArguments`' defaults, media decoded in this process): ``num_workers``
    DataLoader workers decode and process the next batches while the model generates (None:
    :func:`prefetch.default_num_workers`), without changing the outputs; ``seed`` seeds torch once, or before batch k
    with ``seed + k`` (``seed_each_batch``); decoding is greedy or upstream's sampling, ``generate_kwargs`` on top.
    ``on_batch`` gets each batch's results as they come. ``on_no_face`` goes to the processor (clips with
    ``faces="auto"``); each result of a face model records its face source. ``prepare(number, indices) -> Prepared``
    replaces reading each clip alone (the timeline reads a batch of segments in one pass over its video; it must
    pickle for workers); ``clips`` still name the results and give their subtitles."""
    runtime = runtime if runtime is not None else InferenceArguments(num_workers=0)
    seed, clip_timeout = runtime.seed, runtime.clip_timeout
    if seed is not None and not seed_each_batch:
        torch.manual_seed(seed)
    kwargs = runtime.generation(**generate_kwargs)
    device = next(model.parameters()).device
    if prepare is None:
        prepare = _ClipBatches(
            processor, clips, {"task": task, "question": question, "on_no_face": on_no_face}, clip_timeout
        )
    pipeline = Prefetcher(
        len(clips),
        runtime.batch_size,
        prepare,
        num_workers=runtime.num_workers,
        device=device,
        batch_timeout=2 * runtime.batch_size * clip_timeout + 60 if clip_timeout else 0,
        label=lambda indices: _names(clips, indices),
    )
    results: dict[int, DescribeResult] = {}
    started = time.perf_counter()
    bar = tqdm(total=len(clips), desc="describe", unit="clip", disable=not progress)
    with pipeline:
        for prepared in pipeline:
            batch: dict[int, DescribeResult] = {}
            for index, error in prepared.errors.items():
                if not skip_errors:
                    raise ValueError(error)
                logger.warning("skipping %s: %s", clips[index].name, error)
                batch[index] = DescribeResult(clips[index].name, error=error, **subtitle_fields(clips[index]))
            if prepared.kept:
                if seed is not None and seed_each_batch:
                    torch.manual_seed(seed + prepared.number)
                batch.update(_generate(model, processor, clips, prepared, kwargs, device, label_extractor))
            results.update(batch)
            if on_batch is not None:
                on_batch([batch[index] for index in prepared.indices])
            bar.update(len(prepared.indices))
    bar.close()
    elapsed = time.perf_counter() - started
    done = sum(result.error is None for result in results.values())
    logger.info(
        "described %d clips in %.1f s (%.2f clips/s, %d worker(s)), %d skipped",
        done,
        elapsed,
        done / max(elapsed, 1e-9),
        pipeline.num_workers,
        len(clips) - done,
    )
    return [results[i] for i in range(len(clips))]


@torch.no_grad()
def _generate(
    model, processor, clips, prepared: Prepared, kwargs, device, label_extractor
) -> dict[int, DescribeResult]:
    """Generate for one prepared batch; each kept clip gets its answer and labels (OV parser or the extractor)."""
    dtype = model.dtype
    batch = {
        key: value.to(device, dtype, non_blocking=True) if value.is_floating_point() else value.to(device)
        for key, value in prepared.inputs.items()
    }
    output = model.generate(**batch, **kwargs)
    texts = processor.batch_decode(output[:, batch["input_ids"].shape[1] :])
    labels = label_extractor(texts) if label_extractor is not None else processor.post_process(texts)
    return {
        index: DescribeResult(
            clips[index].name,
            text=text,
            labels=list(label),
            **prepared.facts.get(index, {}),
            **subtitle_fields(clips[index]),
        )
        for index, text, label in zip(prepared.kept, texts, labels, strict=True)
    }


def _face_source(features) -> dict:
    """The face source the processor recorded for a one-clip batch (face models only; else {})."""
    sources = getattr(features, "face_sources", None)
    return dict(sources[0]) if sources and sources[0] is not None else {}


def answers_are_free_text(task: str, question: str | None) -> bool:
    """Whether answers to ``task`` / ``question`` are free text, whose labels unibench's extractor finds, rather than
    upstream's OV answers ("The character's emotional state is a, b."), which the processor's parser reads."""
    return task == "description" or bool(question)


def free_text_extractor(task: str, question: str | None):
    """unibench's label extractor for answers that are free text (:func:`answers_are_free_text`), else None."""
    if not answers_are_free_text(task, question):
        return None
    from ..unibench import get_extractor

    return get_extractor().extract_labels


def describe_files(
    paths: Iterable[str | os.PathLike], arguments: DescribeArguments, runtime: InferenceArguments
) -> list[DescribeResult]:
    """Video files and folders -> one result per clip (named by file stem, in :func:`find_clips` order). A clip's
    subtitle comes from ``--subtitles`` (CSV, SRT, VTT), else NAME.srt / NAME.vtt beside it, else its speech
    (``--asr``, transcribed before the AffectGPT model loads), else none. Free descriptions and free questions get
    their labels from unibench's offline extractor."""
    found = find_clips(paths)
    _warn_same_names(found)
    subtitles = given_subtitles(found, arguments.subtitles)
    clips = [Clip(name=path.stem, video=str(path), subtitle=text) for path, text in zip(found, subtitles, strict=True)]
    if any(clip.subtitle is None for clip in clips):
        recognizer = load_recognizer(arguments.asr, arguments.asr_language, runtime.device)
        clips = transcribe_clips(clips, recognizer)
        del recognizer
    else:
        clips = transcribe_clips(clips, None)
    model, processor = load_model(
        arguments.model, dtype=runtime.dtype, device=runtime.device, quantization=runtime.quantization
    )
    faces = _faces_for(processor.input_mode, arguments.faces, arguments.model)
    for clip in clips:
        clip.faces = faces if faces in (None, "auto") else str(face_file(faces, clip.name))
    extractor = free_text_extractor(arguments.task, arguments.question)
    common = {"task": arguments.task, "question": arguments.question, "label_extractor": extractor}
    return describe(model, processor, clips, runtime, on_no_face=arguments.on_no_face, **common)


def _warn_same_names(found: Sequence[Path]) -> None:
    first_of: dict[str, Path] = {}
    for path in found:
        other = first_of.setdefault(path.stem, path)
        if other != path:
            logger.warning(
                "%s and %s are both named %r: their rows (and subtitles, faces) are told apart by order only",
                other,
                path,
                path.stem,
            )


def _faces_for(input_mode: str, faces: str | None, model: str) -> str | None:
    """The faces option for a model: ``--faces`` for a model that reads face crops (default: built-in crops), refused
    for one that reads video frames (it would be ignored)."""
    from ..prompt import FACE_TOKEN, visual_token_of

    if faces is not None and visual_token_of(input_mode) != FACE_TOKEN:
        raise ValueError(
            f"--faces {faces}: {model} reads video frames ({input_mode}), not face crops; leave --faces out "
            "(it is for face models such as multiface_audio_face_text)"
        )
    return default_faces(input_mode, faces)


__all__ = [
    "Clip",
    "DescribeResult",
    "answers_are_free_text",
    "describe",
    "describe_files",
    "load_model",
    "model_source",
    "prepare_clip",
]
