"""Batched inference over clips (batch.py) with media prepared ahead in worker processes (prefetch.py); the options
(arguments.py) and the input files (inputs.py: clips, subtitle tables and SRT/VTT files, face crops) of `affectgpt
describe`, and each clip's subtitle and its source (subtitles.py: given, from speech, or none)."""

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
    "inputs": ("VIDEO_SUFFIXES", "face_file", "find_clips", "given_subtitles", "read_cues", "read_subtitles"),
    "subtitles": ("load_recognizer", "transcribe_clips"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
