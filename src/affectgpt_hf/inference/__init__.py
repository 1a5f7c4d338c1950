"""Batched inference over clips (batch.py) with media prepared ahead in worker processes (prefetch.py); the options
(arguments.py) and the input files (inputs.py: clips, subtitle tables and SRT/VTT files, face crops) of `affectgpt
describe`, and each clip's subtitle and its source (subtitles.py: given, from speech, or none)."""

from .._lazy import lazy_exports

_EXPORTS = {
    "CLIP_TIMEOUT": "arguments",
    "GREEDY": "arguments",
    "UPSTREAM_SAMPLING": "arguments",
    "DescribeArguments": "arguments",
    "InferenceArguments": "arguments",
    "generation_kwargs": "arguments",
    "Clip": "batch",
    "DescribeResult": "batch",
    "describe": "batch",
    "describe_files": "batch",
    "load_model": "batch",
    "prepare_clip": "batch",
    "VIDEO_SUFFIXES": "inputs",
    "face_file": "inputs",
    "find_clips": "inputs",
    "given_subtitles": "inputs",
    "read_cues": "inputs",
    "read_subtitles": "inputs",
    "load_recognizer": "subtitles",
    "transcribe_clips": "subtitles",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
