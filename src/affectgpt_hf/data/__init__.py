"""MER-Caption builders, the Hub-folder writer, the SFT view and mini releases (README.md, "Use")."""

from affectgpt_hf.data.builder import (
    MERBuilder,
    MERConfig,
    PathAudio,
    build_dataset,
    features_for,
    load_mer_caption,
    load_unibench,
)
from affectgpt_hf.data.hub import attach_media, dataset_card, load_hub_folder, push_to_hub, write_hub_folder
from affectgpt_hf.data.layouts import (
    CAPTION_CONFIGS,
    LAYOUTS,
    MODEL_SUBTITLE,
    UNIBENCH_CONFIGS,
    ReleaseLayout,
    get_layout,
)
from affectgpt_hf.data.releases import ReleaseError, read_release, resolve_release_dir
from affectgpt_hf.data.sft import TASKS, add_sft_columns, choose_question, pick_pair, sft_pairs

__all__ = [
    "CAPTION_CONFIGS",
    "LAYOUTS",
    "MODEL_SUBTITLE",
    "TASKS",
    "UNIBENCH_CONFIGS",
    "MERBuilder",
    "MERConfig",
    "PathAudio",
    "ReleaseError",
    "ReleaseLayout",
    "add_sft_columns",
    "attach_media",
    "build_dataset",
    "choose_question",
    "dataset_card",
    "features_for",
    "load_hub_folder",
    "get_layout",
    "load_mer_caption",
    "load_unibench",
    "pick_pair",
    "push_to_hub",
    "read_release",
    "resolve_release_dir",
    "sft_pairs",
    "write_hub_folder",
]
