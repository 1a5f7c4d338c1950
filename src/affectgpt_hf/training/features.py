"""The encoder feature cache: run the frozen CLIP and HuBERT towers once over a data set (`datasets.map`).

The towers are frozen and kept in eval mode, so their per-frame / per-clip features (`get_video_features`,
`get_audio_features`, before pooling) are the same at every epoch; training reads them as the model's
`video_features=` / `audio_features=` arguments and never runs the towers again (perf/README.md, "Training").
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import numpy as np
import torch
from datasets.fingerprint import generate_random_fingerprint

from ..configuration_affectgpt import AffectGPTConfig
from ..data.releases import report_problems
from ..inference.prefetch import Prefetcher, Prepared
from ..modeling_affectgpt import AffectGPTForConditionalGeneration
from .cache_arguments import CacheFeaturesArguments
from .collator import AUDIO_FEATURES, VIDEO_FEATURES, media_source

FEATURES_INFO = "affectgpt_features.json"


def towers_checksum(model) -> float:
    """A fingerprint of the frozen towers (sum of their parameters in float64): training warns on a mismatch."""
    core = model.model if hasattr(model, "model") else model
    total = 0.0
    for tower in (core.vision_tower, core.audio_tower):
        if tower is not None:
            total += float(sum(p.detach().double().sum() for p in tower.parameters()))
    return total


def processor_inputs(processor, batch: dict) -> dict[str, torch.Tensor]:
    """The towers' inputs of one batch of rows (columns as lists): pixel_values_videos and/or input_values."""
    count = len(batch["name"])
    videos = [media_source(value) for value in batch["video"]] if "video" in batch else None
    audio = [media_source(value) for value in batch["audio"]] if "audio" in batch else None
    inputs = processor(text=["."] * count, videos=videos, audio=audio, faces=batch.get("face"), return_tensors="pt")
    return {key: inputs[key] for key in ("pixel_values_videos", "input_values") if key in inputs}


@torch.no_grad()
def encode_inputs(model, inputs: dict[str, torch.Tensor]) -> dict:
    """The frozen towers over prepared inputs: video [n, frames, dim] and/or audio [n, clips, dim] (float32 numpy)."""
    config = model.config
    core = model.model if hasattr(model, "model") else model
    tower = core.vision_tower if core.vision_tower is not None else core.audio_tower
    device = next(tower.parameters()).device
    out = {}
    if config.uses_video:
        pixels = inputs["pixel_values_videos"].to(device, non_blocking=True)
        out[VIDEO_FEATURES] = model.get_video_features(pixels).float().cpu().numpy()
    if config.uses_audio:
        values = inputs["input_values"].to(device, non_blocking=True)
        out[AUDIO_FEATURES] = model.get_audio_features(values).float().cpu().numpy()
    return out


def encode_batch(model, processor, batch: dict) -> dict:
    """Features of one batch of rows (columns as lists): video [n, frames, dim] and/or audio [n, clips, dim]."""
    return encode_inputs(model, processor_inputs(processor, batch))


class _RowBatches:
    """Prepares the towers' inputs of consecutive rows (in a media worker, or in place). A batch with a row that cannot
    be read is prepared again row by row: the rows that fail are kept in ``errors``, the others form the batch."""

    def __init__(self, processor, dataset: datasets.Dataset) -> None:
        self.processor, self.dataset = processor, dataset

    def __call__(self, number: int, indices: list[int]) -> Prepared:
        rows = self.dataset[indices[0] : indices[-1] + 1]
        try:
            return Prepared(number, indices, processor_inputs(self.processor, rows), kept=list(indices))
        except ValueError:
            pass
        errors = {}
        for offset, index in enumerate(indices):
            try:
                processor_inputs(self.processor, {key: values[offset : offset + 1] for key, values in rows.items()})
            except ValueError as error:
                errors[index] = str(error)
        kept = [index for index in indices if index not in errors]
        picked = {key: [values[index - indices[0]] for index in kept] for key, values in rows.items()}
        inputs = processor_inputs(self.processor, picked) if kept else {}
        return Prepared(number, indices, inputs, kept=kept, errors=errors)


def cache_features(
    model,
    processor,
    dataset: datasets.Dataset,
    batch_size: int = 8,
    keep_media: bool = True,
    num_workers: int | None = 0,
    skip_missing: bool = False,
) -> datasets.Dataset:
    """`dataset` plus `video_features` / `audio_features` columns (float32 arrays) from the model's frozen towers.

    ``keep_media=False`` drops the video/audio/face cells (training then needs only the cache). ``num_workers``
    processes decode and process the next batches while the towers run (0: in this process; None: the default of
    :func:`pipeline.default_num_workers`); the features do not depend on it. A row whose media cannot be read stops
    the run, naming it (a ReleaseError), or with ``skip_missing`` is left out of the result with a warning that names
    every such row.
    """
    if "name" not in dataset.column_names:
        raise ValueError(f"the data set has columns {dataset.column_names}; expected a MER-Caption table with 'name'")
    config = model.config
    features = dataset.features.copy()
    if config.uses_video:
        shape = (config.num_frames, config.vision_config.projection_dim)
        features[VIDEO_FEATURES] = datasets.Array2D(shape, "float32")
    if config.uses_audio:
        features[AUDIO_FEATURES] = datasets.Array2D(
            (config.num_audio_clips, config.audio_config.hidden_size), "float32"
        )
    model.eval()
    core = model.model if hasattr(model, "model") else model
    tower = core.vision_tower if core.vision_tower is not None else core.audio_tower
    device = next(tower.parameters()).device
    pipeline = Prefetcher(
        len(dataset),
        batch_size,
        _RowBatches(processor, dataset),
        num_workers=num_workers,
        device=device,
        label=lambda indices: f"rows {indices[0]}-{indices[-1]} ({dataset[indices[0]]['name']}, ...)",
    )
    skipped: list[tuple[str, str]] = []  # (name, why) of the rows left out
    left_out: set[int] = set()
    with pipeline:
        batches = iter(pipeline)

        def encode(names: list[str], indices: list[int]) -> dict:
            prepared = next(batches)
            if prepared.indices != indices:  # map's batches must be the pipeline's
                raise RuntimeError(f"feature cache out of step: rows {indices} got batch of rows {prepared.indices}")
            if not prepared.errors:
                return encode_inputs(model, prepared.inputs)
            problems = [(names[index - indices[0]], why) for index, why in prepared.errors.items()]
            if not skip_missing:
                report_problems("cache-features", problems, skip_missing=False)
            skipped.extend(problems)
            left_out.update(prepared.errors)
            return _rows_and_gaps(model, prepared, features, len(indices))

        cached = dataset.map(
            encode,
            batched=True,
            batch_size=batch_size,
            with_indices=True,
            input_columns=["name"],
            features=features,
            desc="encoder features",
            load_from_cache_file=False,
            new_fingerprint=generate_random_fingerprint(),  # the towers' weights are not in the fingerprint
        )
    if left_out:  # their feature cells are zeros: the rows go
        report_problems("cache-features", skipped, skip_missing=True)
        cached = cached.select([row for row in range(len(cached)) if row not in left_out])
    if not keep_media:
        cached = cached.remove_columns([c for c in ("video", "audio", "face") if c in cached.column_names])
    return cached


def _rows_and_gaps(model, prepared: Prepared, features: datasets.Features, count: int) -> dict:
    """The towers' features of a batch's readable rows, at their places among ``count`` rows (zeros elsewhere)."""
    encoded = encode_inputs(model, prepared.inputs) if prepared.kept else {}
    places = [index - prepared.indices[0] for index in prepared.kept]
    out = {}
    for key in (VIDEO_FEATURES, AUDIO_FEATURES):
        if key in features:
            out[key] = np.zeros((count, *features[key].shape), dtype=np.float32)
            if places:
                out[key][places] = encoded[key]
    return out


def write_features_info(output_dir: str | os.PathLike, model, source: str, data: dict | None = None) -> None:
    """Record what made a cache (`affectgpt_features.json` beside the saved data set): the towers, and ``data``, the
    rows' source (``dataset_dir``, ``dataset_config``, ``dataset_split`` and its ``fingerprint``; training refuses the
    cache once that source has changed)."""
    info = {"model": source, "input_mode": model.config.input_mode, "towers_checksum": towers_checksum(model)}
    if data is not None:
        info["data"] = data
    (Path(output_dir) / FEATURES_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def read_features_info(dataset_dir: str | os.PathLike) -> dict | None:
    path = Path(dataset_dir) / FEATURES_INFO
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def load_towers(
    model: str, vision: str | None = None, audio: str | None = None, seed: int = 42
) -> AffectGPTForConditionalGeneration:
    """A model whose towers are real: `model`'s weights, or (with `vision` / `audio`) pretrained CLIP / HuBERT in a
    model built on the meta device from `model`'s config (the language model is never loaded). A config-only folder
    without `vision` / `audio` gives the seeded random init that `affectgpt train` makes with the same seed."""
    from transformers import AutoModel, CLIPVisionModelWithProjection, set_seed

    from .arguments import ModelArguments
    from .model import build_model

    if vision is None and audio is None:
        set_seed(seed)
        return build_model(ModelArguments(model_name_or_path=model, use_lora=False))
    settings = AffectGPTConfig.from_pretrained(model).to_dict()
    vision_model = CLIPVisionModelWithProjection.from_pretrained(vision) if vision else None
    audio_model = AutoModel.from_pretrained(audio) if audio else None
    if vision_model is not None:
        settings["vision_config"] = vision_model.config.to_dict()
    if audio_model is not None:
        settings["audio_config"] = audio_model.config.to_dict()
    config = AffectGPTConfig(**settings)
    for needed, component, name in (
        (config.uses_video, vision_model, "vision"),
        (config.uses_audio, audio_model, "audio"),
    ):
        if needed and component is None:
            raise ValueError(f"input_mode {config.input_mode!r} needs a {name} tower: pass --{name} ID_OR_FOLDER")
    with torch.device("meta"):
        built = AffectGPTForConditionalGeneration(config)
    built.model.vision_tower, built.model.audio_tower = vision_model, audio_model
    built.model.freeze_towers()
    return built


def cache_features_command(args: CacheFeaturesArguments) -> Path:
    """`affectgpt cache-features`: the towers of ``args.model`` over the rows of ``args.dataset`` -> ``args.output``
    (save_to_disk), with what made them (`affectgpt_features.json`)."""
    from ..inference.batch import model_source
    from ..processing_affectgpt import AffectGPTProcessor
    from .arguments import DataArguments
    from .data import dataset_fingerprint, load_training_dataset

    source = DataArguments(
        dataset_dir=os.path.abspath(args.dataset), dataset_config=args.config, dataset_split=args.split
    )
    rows = load_training_dataset(source)
    data = {
        "dataset_dir": source.dataset_dir,
        "dataset_config": args.config,
        "dataset_split": args.split,
        "fingerprint": dataset_fingerprint(source),
    }
    with model_source(args.model):  # a wrong --model is named before any tower loads
        processor = AffectGPTProcessor.from_pretrained(args.model)
    towers = load_towers(args.model, vision=args.vision, audio=args.audio, seed=args.seed)
    if torch.cuda.is_available():  # only the towers run
        for tower in (towers.model.vision_tower, towers.model.audio_tower):
            if tower is not None:
                tower.to("cuda")
    cached = cache_features(
        towers,
        processor,
        rows,
        batch_size=args.batch_size,
        keep_media=not args.drop_media,
        num_workers=args.num_workers,
        skip_missing=args.skip_missing,
    )
    out = Path(args.output)
    cached.save_to_disk(str(out))
    write_features_info(out, towers, args.model, data)
    return out
