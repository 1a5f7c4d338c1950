"""The rows a training run reads: a feature cache (`save_to_disk`), a Hub-ready folder or an upstream release, and the
checks that a feature cache fits the model and still matches the rows it was made from."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import datasets

from .arguments import DataArguments
from .collator import AUDIO_FEATURES, VIDEO_FEATURES
from .features import read_features_info, towers_checksum

logger = logging.getLogger(__name__)


def load_training_dataset(data_args: DataArguments) -> datasets.Dataset:
    """Rows from a `save_to_disk` folder (a feature cache), a Hub-ready folder, or an upstream release folder."""
    if data_args.dataset_dir is None:
        raise ValueError("dataset_dir is not set; expected a data set folder or an upstream MER-Caption release")
    folder = Path(data_args.dataset_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"dataset_dir {folder} is not a folder")
    if (folder / "state.json").exists() or (folder / "dataset_dict.json").exists():
        dataset = datasets.load_from_disk(str(folder))
        if isinstance(dataset, datasets.DatasetDict):
            dataset = dataset[data_args.dataset_split]
    elif (folder / "README.md").exists():
        from ..data.hub import load_hub_folder

        dataset = load_hub_folder(folder, data_args.dataset_config, data_args.dataset_split)
    else:
        from ..data.builder import load_mer_caption

        dataset = load_mer_caption(folder, data_args.dataset_config, split=data_args.dataset_split)
    if "name" not in dataset.column_names or not {"description", "ov_labels"} & set(dataset.column_names):
        raise ValueError(
            f"{folder} has columns {dataset.column_names}; expected a MER-Caption table (name, subtitle, description "
            "and/or ov_labels, media or cached features)"
        )
    if not {"video", "audio", "face", VIDEO_FEATURES, AUDIO_FEATURES} & set(dataset.column_names):
        raise ValueError(
            f"{folder} holds no media (video, audio, face) and no cached features, only the table; build it with "
            "`affectgpt dataset build --embed-media`, pass the upstream release folder itself, or add the media "
            "with affectgpt_hf.data.attach_media"
        )
    if data_args.max_train_samples is not None:
        if data_args.max_train_samples < 1:
            raise ValueError(f"max_train_samples={data_args.max_train_samples}; expected a positive number of rows")
        dataset = dataset.select(range(min(data_args.max_train_samples, len(dataset))))
    return dataset


def dataset_fingerprint(data_args: DataArguments) -> str:
    """A cheap key of the rows :func:`load_training_dataset` reads (nothing is loaded): a `save_to_disk` folder by its
    state and data files, a Hub-ready folder by the files its README lists, a release by its tables and media
    folders; each with sizes and modification times."""
    from ..cache import stat_fingerprint

    folder = Path(data_args.dataset_dir)
    if (folder / "state.json").exists() or (folder / "dataset_dict.json").exists():
        return stat_fingerprint(sorted(p for p in folder.rglob("*") if p.suffix in (".json", ".arrow")))
    if (folder / "README.md").exists():
        from ..data.hub import hub_folder_files

        return stat_fingerprint(hub_folder_files(folder, data_args.dataset_config, data_args.dataset_split))
    from ..data.builder import release_fingerprint

    return release_fingerprint(folder, data_args.dataset_config)


def check_feature_cache(data_args: DataArguments, model) -> None:
    """A cache of another input mode is refused (its features are not what this model's heads take), and so is one
    whose source rows have changed since it was made (it holds the earlier rows); one of other towers is warned about
    (the model then trains on features of towers it is not saved with)."""
    info = read_features_info(data_args.dataset_dir) if data_args.dataset_dir else None
    if info is None:
        return
    data = info.get("data")
    if data and Path(data["dataset_dir"]).is_dir():
        source = DataArguments(**{key: data[key] for key in ("dataset_dir", "dataset_config", "dataset_split")})
        try:
            current = dataset_fingerprint(source)
        except ValueError:  # the config or its files are gone: the source is not what the cache was made from
            current = None
        if current != data["fingerprint"]:
            raise ValueError(
                f"the feature cache {data_args.dataset_dir} was made from {data['dataset_dir']} (config "
                f"{data['dataset_config']}, split {data['dataset_split']}), which has changed since; its rows are the "
                "earlier ones. Run `affectgpt cache-features` again over it"
            )
    mode = model.config.input_mode
    if info.get("input_mode", mode) != mode:
        raise ValueError(
            f"the cached features in {data_args.dataset_dir} were made for input_mode {info['input_mode']!r} (by "
            f"{info.get('model')}), but this model's input_mode is {mode!r}; run `affectgpt cache-features --model` "
            "with this model"
        )
    checksum = towers_checksum(model)
    if not math.isclose(info["towers_checksum"], checksum, rel_tol=1e-6, abs_tol=1e-6):
        logger.warning(
            "the cached features in %s were made by towers with checksum %r (%s), but this model's towers give %r: "
            "the model trains on features of other towers than it is saved with",
            data_args.dataset_dir,
            info["towers_checksum"],
            info.get("model"),
            checksum,
        )
