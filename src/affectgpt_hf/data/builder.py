"""A `datasets.GeneratorBasedBuilder` over upstream's release layouts: MER-Caption(+), OV-MERD+ and the 8 test sets.

datasets 5.x loads no scripts, so the builder is used directly from the package (``load_mer_caption`` /
``load_unibench``) and published as Parquet + README configs (``hub.write_hub_folder``). Media columns hold paths
(``Video(decode=False)``, ``Audio(decode=False)``, ``face`` a path string): decoding belongs to ``media.py``; cast to
decoding features if you want ``datasets`` to decode.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets

from ..cache import source_digest, stat_fingerprint
from ..hub.paper import CITATION
from .layouts import LAYOUTS, ReleaseLayout, get_layout
from .releases import MEDIA_KINDS, ReleaseError, check_rows, read_release, resolve_release_dir

_VERSION = datasets.Version("1.0.0")
_SHARDS = 64  # row chunks handed to the workers when num_proc > 1


@dataclass(repr=False)
class PathAudio(datasets.Audio):
    """``Audio`` whose encoding of a path or bytes needs no torchcodec; serialised (and reloaded) as plain ``Audio``.

    datasets 5.2's ``Audio.encode_example`` imports torchcodec even to store a path, and torchcodec needs system
    FFmpeg libraries that this project does not require; paths and bytes need no encoder.
    """

    def encode_example(self, value):
        if isinstance(value, str):
            return {"bytes": None, "path": value}
        if isinstance(value, (bytes, bytearray)):
            return {"bytes": bytes(value), "path": None}
        if isinstance(value, dict) and "array" not in value and ("path" in value or "bytes" in value):
            return {"bytes": value.get("bytes"), "path": value.get("path")}
        return super().encode_example(value)


def features_for(layout: ReleaseLayout, media: Sequence[str] = MEDIA_KINDS) -> datasets.Features:
    """Columns of a config: texts, the task's labels, and the media kinds kept (paths, not decoded)."""
    columns = {
        "name": datasets.Value("string"),
        "subtitle": datasets.Value("string"),  # the text upstream feeds the model (layout.model_subtitle)
        "subtitle_en": datasets.Value("string"),
        "subtitle_zh": datasets.Value("string"),
    }
    if layout.task == "caption":
        columns["description"] = datasets.Value("string")
    if layout.task in ("caption", "ov"):
        columns["ov_labels"] = datasets.List(datasets.Value("string"))
    if layout.task == "basic":
        columns["emotion"] = datasets.Value("string")
    if layout.task == "sentiment":
        columns["valence"] = datasets.Value("float64")
    if "video" in media:
        columns["video"] = datasets.Video(decode=False)
    if "audio" in media:
        columns["audio"] = PathAudio(sampling_rate=16000, decode=False)
    if "face" in media:
        columns["face"] = datasets.Value("string")
    return datasets.Features(columns)


@dataclass
class MERConfig(datasets.BuilderConfig):
    """One release layout; options: ``annotations`` (mer_caption's CSV), ``media`` kinds required on disk,
    ``splits`` to build, ``skip_missing`` (warn and skip bad rows instead of failing), ``verify_media`` (decode each
    file through media.py instead of checking its container bytes)."""

    annotations: str | None = None
    media: tuple[str, ...] = MEDIA_KINDS
    splits: tuple[str, ...] | None = None
    skip_missing: bool = False
    verify_media: bool = False


class MERBuilder(datasets.GeneratorBasedBuilder):
    """MER-Caption+, MER-Caption, OV-MERD+ and the MER-UniBench test sets, read from upstream's release folders."""

    BUILDER_CONFIG_CLASS = MERConfig
    BUILDER_CONFIGS = [
        MERConfig(name=name, version=_VERSION, description=layout.description) for name, layout in LAYOUTS.items()
    ]
    DEFAULT_CONFIG_NAME = "mer_caption_plus"

    def _info(self) -> datasets.DatasetInfo:
        layout = get_layout(self.config.name)
        return datasets.DatasetInfo(
            description=layout.description,
            features=features_for(layout, self.config.media),
            homepage="https://github.com/zeroQiaoba/AffectGPT",
            license="cc-by-nc-4.0",
            citation=CITATION,
        )

    def _split_generators(self, dl_manager):
        if not self.config.data_dir:
            raise ValueError(f"{self.config.name}: pass data_dir= (the upstream release folder)")
        layout = get_layout(self.config.name)
        generators = []
        for split in self.config.splits or layout.default_splits:
            records = read_release(
                layout.name,
                self.config.data_dir,
                split=split,
                annotations=self.config.annotations,
                media=self.config.media,
                skip_missing=self.config.skip_missing,
            )
            size = max(1, -(-len(records) // _SHARDS))
            chunks = [records[start : start + size] for start in range(0, len(records), size)] or [[]]
            generators.append(
                datasets.SplitGenerator(name=split, gen_kwargs={"chunks": chunks, "where": f"{layout.name}/{split}"})
            )
        return generators

    def _generate_examples(self, chunks: list[list[dict]], where: str):
        for chunk in chunks:
            good = check_rows(chunk, where, verify=self.config.verify_media, skip_missing=self.config.skip_missing)
            for record in good:
                yield record["name"], {key: record.get(key) for key in self.info.features}


def release_fingerprint(data_dir: str | os.PathLike, config_name: str, annotations: str | None = None) -> str:
    """The cache key of a built release: its tables and media folders by size and modification time (so an edited
    table or an added or removed clip rebuilds; rows hold media paths, read when used), and this package's builder code
    (so an upgraded builder never returns rows an older one made)."""
    layout = get_layout(config_name)
    root = resolve_release_dir(data_dir, layout.name)
    tables = (layout.subtitle_csv, layout.label_file, layout.extra.get("description_file"))
    paths = [root / name for name in tables if name]
    paths += [root / layout.video_dir, root / layout.audio_dir, root / layout.face_pattern.split("/")[0]]
    if annotations:
        paths.append(Path(annotations))
    here = Path(__file__).parent
    code = source_digest(here / "builder.py", here / "layouts.py", here / "releases.py")
    return stat_fingerprint(paths) + code


def build_dataset(
    data_dir: str | os.PathLike,
    config_name: str,
    split: str | None = None,
    annotations: str | os.PathLike | None = None,
    media: Sequence[str] = MEDIA_KINDS,
    skip_missing: bool = False,
    verify_media: bool = False,
    num_proc: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> datasets.Dataset | datasets.DatasetDict:
    """Prepare one config from a release folder; a `Dataset` for ``split``, else a `DatasetDict` of its splits."""
    layout = get_layout(config_name)
    builder = MERBuilder(
        config_name=layout.name,
        hash=release_fingerprint(data_dir, layout.name, annotations),
        data_dir=os.path.abspath(data_dir),
        cache_dir=None if cache_dir is None else str(cache_dir),
        annotations=None if annotations is None else os.path.abspath(annotations),
        media=tuple(media),
        splits=(split,) if split else None,
        skip_missing=skip_missing,
        verify_media=verify_media,
    )
    try:
        builder.download_and_prepare(num_proc=num_proc)
    except datasets.exceptions.DatasetGenerationError as error:
        cause = error.__cause__
        if isinstance(cause, ReleaseError):  # the rows' own error, not datasets' wrapper
            raise ReleaseError(str(cause), cause.problems) from None
        raise
    return builder.as_dataset(split=split) if split else builder.as_dataset()


def load_mer_caption(
    data_dir: str | os.PathLike,
    config_name: str = "mer_caption_plus",
    split: str = "train",
    **kwargs,
) -> datasets.Dataset:
    """MER-Caption+ (``mer_caption_plus``) or MER-Caption (``mer_caption``, with ``annotations=CSV``) as a Dataset.

    ``data_dir`` is the MER2025 release folder (``video/``, ``audio/``, ``openface_face/``, ``subtitle_chieng.csv``,
    ``track2/3_train_mercaptionplus.csv``); keyword options as :func:`build_dataset`.
    """
    if get_layout(config_name).task != "caption":
        raise ValueError(f"{config_name!r} is not a caption set; expected one of ('mer_caption_plus', 'mer_caption')")
    return build_dataset(data_dir, config_name, split=split, **kwargs)


def load_unibench(data_dir: str | os.PathLike, name: str, split: str = "test", **kwargs) -> datasets.Dataset:
    """One MER-UniBench test set (``ov_merd_plus``, ``mer2023``, ..., ``sims_v2``, or an upstream key) as a Dataset.

    ``data_dir`` is the set's processed folder (e.g. ``mer2023-dataset-process``) or the folder holding it. The
    ``subtitle`` column is what upstream feeds the model (``MODEL_SUBTITLE``: Chinese for MER2024, else English).
    """
    layout = get_layout(name)
    if layout.task == "caption":
        raise ValueError(f"{name!r} is a training set; use load_mer_caption")
    return build_dataset(data_dir, layout.name, split=split, **kwargs)
