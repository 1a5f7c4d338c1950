"""MER-Caption builders, the Hub-folder writer, the SFT view and mini releases (README.md, "Use")."""

from .._lazy import lazy_exports

_EXPORTS = {
    "MERBuilder": "builder",
    "MERConfig": "builder",
    "PathAudio": "builder",
    "build_dataset": "builder",
    "features_for": "builder",
    "load_mer_caption": "builder",
    "load_unibench": "builder",
    "attach_media": "hub",
    "dataset_card": "hub",
    "load_hub_folder": "hub",
    "push_to_hub": "hub",
    "write_hub_folder": "hub",
    "CAPTION_CONFIGS": "layouts",
    "LAYOUTS": "layouts",
    "MODEL_SUBTITLE": "layouts",
    "ReleaseLayout": "layouts",
    "UNIBENCH_CONFIGS": "layouts",
    "get_layout": "layouts",
    "ReleaseError": "releases",
    "read_release": "releases",
    "resolve_release_dir": "releases",
    "TASKS": "sft",
    "add_sft_columns": "sft",
    "choose_question": "sft",
    "pick_pair": "sft",
    "sft_pairs": "sft",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
