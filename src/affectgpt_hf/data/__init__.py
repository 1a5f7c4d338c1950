"""MER-Caption builders, the Hub-folder writer, the SFT view and mini releases (README.md, "Use")."""

from .._lazy import lazy_exports

_EXPORTS = {  # submodule -> the names it gives the package
    "builder": (
        "MERBuilder",
        "MERConfig",
        "PathAudio",
        "build_dataset",
        "features_for",
        "load_mer_caption",
        "load_unibench",
    ),
    "hub": ("attach_media", "dataset_card", "load_hub_folder", "push_to_hub", "write_hub_folder"),
    "layouts": ("CAPTION_CONFIGS", "LAYOUTS", "MODEL_SUBTITLE", "ReleaseLayout", "UNIBENCH_CONFIGS", "get_layout"),
    "releases": ("ReleaseError", "read_release", "resolve_release_dir"),
    "sft": ("TASKS", "add_sft_columns", "choose_question", "pick_pair", "sft_pairs"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
