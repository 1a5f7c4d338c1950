"""Hub-ready folders: Parquet shards + README.md (YAML ``configs:`` and a dataset card), so that
``datasets.load_dataset(folder_or_repo, "mer_caption_plus")`` works; media optionally embedded.

Each shard's name carries a digest of its bytes (``train-<sha256[:16]>-00000-of-00001.parquet``) and the README lists
the exact names. ``datasets`` keys its cache of a folder by the ``data_files`` its README lists, not by the files they
match, so a README of glob patterns gave a rebuilt folder (or another folder of the same name) the first build's rows;
exact content-named files make that key follow the content. :func:`load_hub_folder` also passes the resolved files,
which ``datasets`` keys by path and modification time.

Without ``embed_media`` the folder is annotation-only (the videos are licensed: holders add them with
:func:`attach_media`). With it, video and audio bytes are embedded (``Video``/``Audio`` with ``decode=False``) and
``face`` holds the npy file's bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow as pa
import yaml
from datasets.table import embed_table_storage

from ..cache import file_sha256
from ..hub.paper import ARXIV_TAG, PAPER_URL
from .builder import CITATION, PathAudio, build_dataset
from .layouts import CAPTION_CONFIGS, LAYOUTS, MODEL_SUBTITLE, get_layout
from .releases import MEDIA_KINDS, media_paths, report_problems, resolve_release_dir

LICENSE = "cc-by-nc-4.0"
GATING_TEXT = (
    "MER-Caption / MER-Caption+ and the MER-UniBench sets are derived from movies, TV series and academic corpora. "
    "Access is granted for non-commercial academic research only, under CC BY-NC 4.0 and the MER2025 End User "
    "License Agreement (https://huggingface.co/datasets/MERChallenge/MER2025). By requesting access you agree not to "
    "redistribute the clips, not to use them commercially, and to cite AffectGPT."
)


def write_hub_folder(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    configs: Sequence[str] | None = None,
    annotations: str | os.PathLike | None = None,
    embed_media: bool = False,
    skip_missing: bool = False,
    max_shard_rows: int = 5000,
    num_proc: int | None = None,
    media: Sequence[str] | None = None,
    verify_media: bool = False,
) -> Path:
    """Build ``configs`` (default: those whose tables exist in ``data_dir``) into ``out_dir`` as Parquet + README.

    ``data_dir`` is one release folder or a root holding upstream's folders (``mer2025-dataset``, ...). ``media``
    names the kinds to embed (any of video, audio, face, as ``build_dataset(media=)``); ``embed_media`` alone embeds
    all three. ``verify_media`` decodes each embedded file (as ``build_dataset``), so a clip cut short is found now.
    """
    media = tuple(media) if media is not None else (MEDIA_KINDS if embed_media else ())
    unknown = [kind for kind in media if kind not in MEDIA_KINDS]
    if unknown:
        raise ValueError(f"media {unknown} unknown; expected any of {list(MEDIA_KINDS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [get_layout(name).name for name in configs] if configs else _available_configs(data_dir, annotations)
    if not names:
        raise ValueError(
            f"{data_dir}: no upstream release found; expected one of the folders/tables of {list(LAYOUTS)}"
        )
    configs = _read_card_configs(out / "README.md")
    with tempfile.TemporaryDirectory(prefix="affectgpt-build-") as cache:
        for name in names:
            built = build_dataset(
                data_dir,
                name,
                annotations=annotations if get_layout(name).needs_annotations else None,
                media=media,
                skip_missing=skip_missing,
                verify_media=verify_media,
                num_proc=num_proc,
                cache_dir=cache,
            )
            target = out / "data" / name
            if target.exists():
                shutil.rmtree(target)
            configs[name] = {}
            for split, dataset in built.items():
                if media:
                    dataset = _embed(dataset)
                configs[name][split] = _write_shards(dataset, target, split, max_shard_rows)
    (out / "README.md").write_text(dataset_card(configs, media), encoding="utf-8")
    return out


def push_to_hub(folder: str | os.PathLike, repo_id: str, private: bool = True, token: str | None = None) -> str:
    """Upload a built folder as a (private, by default) dataset repo; returns the commit URL."""
    from ..hub.push import push_folder

    return push_folder(
        folder,
        repo_id,
        repo_type="dataset",
        private=private,
        token=token,
        commit_message="Add MER-Caption / MER-UniBench (affectgpt dataset build)",
    )


def attach_media(
    dataset: datasets.Dataset,
    data_dir: str | os.PathLike,
    config_name: str | None = None,
    media: Sequence[str] = MEDIA_KINDS,
    skip_missing: bool = False,
) -> datasets.Dataset:
    """Add ``video`` / ``audio`` / ``face`` path columns to an annotation-only dataset from a local release folder.

    Every row's files must exist; with ``skip_missing`` rows without them are dropped with a warning naming them.
    """
    config_name = config_name or dataset.info.config_name
    if not config_name or config_name not in LAYOUTS:
        raise ValueError(f"attach_media: pass config_name= (one of {sorted(LAYOUTS)}); got {config_name!r}")
    layout = get_layout(config_name)
    root = resolve_release_dir(data_dir, layout.name)
    present = [kind for kind in media if kind in dataset.column_names]
    if present:
        dataset = dataset.remove_columns(present)
    paths = {kind: [] for kind in media}
    problems, keep = [], []
    for index, name in enumerate(dataset["name"]):
        found = media_paths(layout, root, name)
        missing = [found[kind] for kind in media if not os.path.isfile(found[kind])]
        if missing:
            problems.append((name, "missing " + ", ".join(missing)))
            continue
        keep.append(index)
        for kind in media:
            paths[kind].append(found[kind])
    report_problems(f"attach_media {layout.name} ({root})", problems, skip_missing)
    if len(keep) != len(dataset):
        dataset = dataset.select(keep)
    for kind in media:
        dataset = dataset.add_column(kind, paths[kind])
    casts = {"video": datasets.Video(decode=False), "audio": PathAudio(sampling_rate=16000, decode=False)}
    for kind in media:
        if kind in casts:
            dataset = dataset.cast_column(kind, casts[kind])
    return dataset


def dataset_card(configs: dict[str, dict[str, Shards]], embed_media: bool | Sequence[str]) -> str:
    """README.md: YAML header (licence, gating, ``configs:`` listing each split's exact files) and the card's sections;
    ``configs``: config -> split -> its shards; ``embed_media``: the embedded media kinds (True: all)."""
    embedded = MEDIA_KINDS if embed_media is True else tuple(embed_media or ())
    header = {
        "license": LICENSE,
        "language": ["en", "zh"],
        "pretty_name": "MER-Caption and MER-UniBench (AffectGPT)",
        "task_categories": ["video-text-to-text"],
        "tags": ["emotion-recognition", "multimodal", "affective-computing", ARXIV_TAG],
        "extra_gated_prompt": GATING_TEXT,
        "extra_gated_fields": {
            "Name": "text",
            "Affiliation": "text",
            "I agree to use this dataset for non-commercial research only": "checkbox",
        },
        "configs": [
            {
                "config_name": name,
                "data_files": [{"split": split, "path": list(shards.files)} for split, shards in splits.items()],
                **({"default": True} if name == "mer_caption_plus" else {}),
            }
            for name, splits in sorted(configs.items())
        ],
    }
    rows = "\n".join(
        f"| `{name}` | {LAYOUTS[name].description} | "
        + ", ".join(f"{split}: {shards.rows:,}" for split, shards in splits.items())
        + f" | `{MODEL_SUBTITLE[name]}` |"
        for name, splits in sorted(configs.items())
    )
    features = {
        "video": "video bytes are embedded (`Video(decode=False)`)",
        "audio": "audio bytes are embedded (`Audio(decode=False)`)",
        "face": "`face` holds the bytes of the OpenFace crops (`.npy`)",
    }
    media_text = (
        "; ".join(features[kind] for kind in MEDIA_KINDS if kind in embedded).capitalize() + "."
        if embedded
        else "This folder holds annotations only. If you hold the licensed clips, add the media columns with "
        "`affectgpt_hf.data.attach_media(ds, RELEASE_DIR, config_name)`."
    )
    body = f"""
# MER-Caption and MER-UniBench

Annotations (and optionally media) of the AffectGPT training sets and its benchmark ([paper]({PAPER_URL})),
converted from the upstream releases by `affectgpt dataset build` (package `affectgpt_hf`).

## Configurations and statistics

| config | content | rows | subtitle fed to the model |
| --- | --- | --- | --- |
{rows}

Columns: `name`; `subtitle` (the text upstream feeds the model: Chinese for MER2024, English elsewhere),
`subtitle_en`, `subtitle_zh` (null where the release has no such column; NaN subtitles are empty strings as
upstream); `description` and `ov_labels` (caption sets; `ov_labels` null where the source has no label column, an
empty list means "neutral" to upstream's loader); `emotion` or `valence` (test sets); media columns.

## Media

{media_text} Columns are not decoded by `datasets`; decode with `affectgpt_hf.media` or cast them to decoding features.

## Usage

```python
import datasets
ds = datasets.load_dataset("THIS_REPO_OR_FOLDER", "mer_caption_plus", split="train")
```

## Licence and access

CC BY-NC 4.0, gated: {GATING_TEXT}

## Citation

```bibtex
{CITATION}
```
"""
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n" + body


def _available_configs(data_dir: str | os.PathLike, annotations: str | os.PathLike | None) -> list[str]:
    names = []
    for name, layout in LAYOUTS.items():
        if layout.needs_annotations and annotations is None:
            continue
        try:
            root = resolve_release_dir(data_dir, name)
        except FileNotFoundError:
            continue
        table = layout.label_file or layout.subtitle_csv
        if (root / table).is_file() and (name in CAPTION_CONFIGS or (root / layout.subtitle_csv).is_file()):
            names.append(name)
    return names


def _embed_batch(table: pa.Table) -> pa.Table:
    table = embed_table_storage(table)
    if "face" in table.column_names:
        faces = [None if path is None else Path(path).read_bytes() for path in table["face"].to_pylist()]
        table = table.set_column(table.column_names.index("face"), "face", pa.array(faces, type=pa.binary()))
    return table


def _embed(dataset: datasets.Dataset) -> datasets.Dataset:
    """Video/audio bytes into the table; ``face`` path -> npy bytes."""
    features = dataset.features.copy()
    if "face" in features:
        features["face"] = datasets.Value("binary")
    embedded = dataset.with_format("arrow").map(_embed_batch, batched=True, batch_size=64, features=features)
    return embedded.with_format(None)


@dataclass(frozen=True)
class Shards:
    """One split of a built config: its row count and its Parquet files (paths relative to the folder)."""

    rows: int
    files: tuple[str, ...]


def _write_shards(dataset: datasets.Dataset, target: Path, split: str, max_shard_rows: int) -> Shards:
    """``dataset`` as Parquet shards named by their content: ``{split}-{sha256[:16]}-{i:05d}-of-{n:05d}.parquet``."""
    target.mkdir(parents=True, exist_ok=True)
    count = max(1, -(-len(dataset) // max_shard_rows))
    files = []
    for index in range(count):
        shard = dataset.shard(num_shards=count, index=index, contiguous=True)
        written = target / f".{split}-{index:05d}.parquet.tmp"
        shard.to_parquet(str(written))
        digest = file_sha256(written)[:16]
        final = target / f"{split}-{digest}-{index:05d}-of-{count:05d}.parquet"
        written.replace(final)
        files.append(final.relative_to(target.parent.parent).as_posix())
    return Shards(rows=len(dataset), files=tuple(files))


def _card_configs(folder: Path) -> dict[str, dict[str, list[str]]]:
    """config -> split -> the ``data_files`` entries of the folder's README (paths or glob patterns, as listed)."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    header = yaml.safe_load(text.split("---\n", 2)[1]) or {}
    configs: dict[str, dict[str, list[str]]] = {}
    for config in header.get("configs") or []:
        entries = config.get("data_files") or []
        if isinstance(entries, (str, list)) and not (entries and isinstance(entries[0], dict)):
            entries = [{"split": "train", "path": entries}]
        configs[config["config_name"]] = {
            entry["split"]: [entry["path"]] if isinstance(entry["path"], str) else list(entry["path"])
            for entry in entries
        }
    return configs


def hub_folder_files(folder: str | os.PathLike, config_name: str, split: str) -> list[Path]:
    """The Parquet files of ``config_name``'s ``split`` in a built folder, as its README lists them (patterns of older
    builds expanded); ``ValueError`` names the configs and splits the folder has."""
    folder = Path(folder)
    configs = _card_configs(folder)
    if config_name not in configs:
        raise ValueError(f"{folder} has no config {config_name!r}; its README lists {sorted(configs) or 'none'}")
    if split not in configs[config_name]:
        raise ValueError(
            f"{folder}: config {config_name!r} has no split {split!r}; it has {sorted(configs[config_name])}"
        )
    files = []
    for entry in configs[config_name][split]:
        matched = sorted(folder.glob(entry)) if any(c in entry for c in "*?[") else [folder / entry]
        missing = [path for path in matched if not path.is_file()]
        if not matched or missing:
            raise ValueError(f"{folder}: {entry} (config {config_name!r}, split {split!r}) matches no file")
        files.extend(matched)
    return files


def load_hub_folder(folder: str | os.PathLike, config_name: str, split: str) -> datasets.Dataset:
    """A split of a built folder, as ``datasets.load_dataset(folder, config_name)`` gives it, with the resolved files
    passed in so that ``datasets`` keys its cache by each file's path and modification time: a file replaced under the
    same name never brings back the rows of the earlier one."""
    files = [str(path) for path in hub_folder_files(folder, config_name, split)]
    return datasets.load_dataset(str(folder), config_name, data_files={split: files}, split=split)


def _read_card_configs(readme: Path) -> dict[str, dict[str, Shards]]:
    """Configs already in a folder's card whose files are still there (so building one config keeps the others)."""
    import pyarrow.parquet as pq

    kept: dict[str, dict[str, Shards]] = {}
    for name, splits in _card_configs(readme.parent).items():
        if name not in LAYOUTS:
            continue
        try:
            resolved = {split: hub_folder_files(readme.parent, name, split) for split in splits}
        except ValueError:
            continue
        kept[name] = {
            split: Shards(
                rows=sum(pq.ParquetFile(path).metadata.num_rows for path in paths),
                files=tuple(path.relative_to(readme.parent).as_posix() for path in paths),
            )
            for split, paths in resolved.items()
        }
    return kept
