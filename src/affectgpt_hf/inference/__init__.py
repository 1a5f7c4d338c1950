"""Batched inference over clips (batch.py) with media prepared ahead in worker processes (prefetch.py); the options
(arguments.py) and the input files (inputs.py) of `affectgpt describe`."""

from .._lazy import lazy_exports

_EXPORTS = {  # submodule -> the names it gives the package
    "arguments": (
        "CLIP_TIMEOUT",
        "DescribeArguments",
        "GREEDY",
        "InferenceArguments",
        "UPSTREAM_SAMPLING",
        "generation_kwargs",
    ),
    "batch": ("Clip", "DescribeResult", "describe", "describe_files", "load_model", "prepare_clip"),
    "inputs": ("VIDEO_SUFFIXES", "face_file", "find_clips", "read_subtitles"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
