"""The options of `affectgpt describe` and of everything that runs clips through a model (the benchmark extends them),
as dataclasses read by transformers' `HfArgumentParser`. Kept free of torch and transformers, so `--help` is quick."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..speech import DEFAULT_ASR_MODEL, ENV_ASR

QUANTIZATIONS = ("bnb-8bit", "bnb-4bit")  # as modeling_affectgpt.QUANTIZATIONS (that module imports torch)
CLIP_TIMEOUT = 120.0  # seconds per clip: a decoder stuck on a stalled read is reported like a corrupt clip

# Upstream's decoding (conversation_video.answer_sample): top_p 0.9, temperature 1.0, plus Qwen2.5's own top_k 20,
# which upstream's generate inherited from the LLM folder's generation config.
UPSTREAM_SAMPLING = {"do_sample": True, "top_p": 0.9, "temperature": 1.0, "top_k": 20, "num_beams": 1}
GREEDY = {"do_sample": False, "num_beams": 1}


def generation_kwargs(upstream_sampling: bool = False, max_new_tokens: int | None = None, **extra) -> dict:
    """Arguments for `generate`: greedy by default, upstream's sampling on request."""
    kwargs = dict(UPSTREAM_SAMPLING if upstream_sampling else GREEDY)
    if max_new_tokens is not None:
        kwargs["max_new_tokens"] = max_new_tokens
    kwargs.update(extra)
    return kwargs


def check_clip_timeout(seconds: float | None) -> None:
    """ValueError unless ``seconds`` is a per-clip deadline: > 0, or 0 / None for none."""
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"clip timeout {seconds}; expected seconds per clip > 0 (0 or None: no timeout)")


def check_device(device: str) -> None:
    """ValueError naming ``device`` when this torch cannot run on it (e.g. cuda with a CPU-only build)."""
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError as error:
        raise ValueError(f"device {device!r} is not a torch device; expected cpu, cuda, cuda:1 ... ({error})") from None
    if kind == "cuda" and not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"device {device!r}: this torch ({torch.__version__}, {build}) sees no CUDA GPU; use cpu")


@dataclass
class InferenceArguments:
    """How clips run through a model: loading, batching, media workers, decoding. The options `affectgpt describe`
    and `affectgpt benchmark` share (the benchmark's config extends this)."""

    batch_size: int = field(default=8, metadata={"help": "clips per generate call"})
    upstream_sampling: bool = field(default=False, metadata={"help": "upstream's top_p 0.9 / T 1.0 / top_k 20"})
    seed: int | None = field(default=None, metadata={"help": "seed for --upstream-sampling"})
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "tokens per answer (default: the model's generation config)"}
    )
    dtype: str | None = field(default=None, metadata={"help": "float32, bfloat16, float16 (default: as saved)"})
    quantization: str | None = field(
        default=None,
        metadata={
            "help": "the language model's decoder in 8 or 4 bits (bitsandbytes; towers and heads stay in dtype)",
            "choices": list(QUANTIZATIONS),
        },
    )
    device: str | None = field(
        default=None, metadata={"help": "cpu, cuda, cuda:1 ... (benchmark under accelerate: one per process)"}
    )
    num_workers: int | None = field(
        default=None,
        metadata={"help": "media decoding processes per process (default: min(4, CPUs-1) for a GPU model; 0 on CPU)"},
    )
    clip_timeout: float | None = field(
        default=CLIP_TIMEOUT, metadata={"help": "seconds per clip before it is skipped (0: none)"}
    )

    def __post_init__(self) -> None:  # wrong values named before any model loads
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size}; expected a positive integer")
        if self.device is not None:
            check_device(self.device)
        check_clip_timeout(self.clip_timeout)

    def generation(self, **extra) -> dict:
        """These options as `generate` arguments (``extra`` on top, a ``max_new_tokens`` of its own included)."""
        return {**generation_kwargs(self.upstream_sampling, self.max_new_tokens), **extra}


@dataclass
class DescribeArguments:
    """What `affectgpt describe` asks of which model, with which side inputs, and where the JSONL goes."""

    model: str = field(default="runs/quickstart", metadata={"help": "a saved AffectGPT folder or Hub id"})
    task: Literal["ov_labels", "description"] = field(
        default="ov_labels", metadata={"help": "upstream's question for emotion labels, or for a free description"}
    )
    question: str | None = field(default=None, metadata={"help": "a free question instead of the task's"})
    subtitles: str | None = field(
        default=None,
        metadata={
            "help": "CSV with columns name, subtitle (name = file stem; an empty cell is an empty subtitle), or an "
            ".srt/.vtt file for one video (default: NAME.srt or NAME.vtt beside each video)"
        },
    )
    asr: str | None = field(
        default=None,
        metadata={
            "help": f"speech recognition for clips without a subtitle: a transformers ASR model id or folder, or "
            f"'none' (default: ${ENV_ASR} or {DEFAULT_ASR_MODEL})"
        },
    )
    asr_language: str | None = field(
        default=None, metadata={"help": "the speech's language for Whisper (en, zh, ...; default: detected)"}
    )
    faces: str | None = field(
        default=None,
        metadata={
            "help": "folder of OpenFace crops (NAME.npy or NAME/NAME.npy), or 'auto': crops made from the video "
            "(default for face models when facenet-pytorch's weights are installed)"
        },
    )
    on_no_face: Literal["error", "frames"] = field(
        default="error",
        metadata={
            "help": "face models, built-in crops: a clip without any face is skipped with an error, or gets video "
            "frames"
        },
    )
    output: str | None = field(default=None, metadata={"help": "JSONL file (default: stdout)"})


MAX_DURATION = 4 * 3600.0
"""Seconds of a video a timeline covers by default: longer ones stop there (the audio it holds at 16 kHz is ~230 MB an
hour; frames are held per segment only)."""


@dataclass
class TimelineArguments:
    """What `affectgpt timeline` cuts a long video into, which model describes each segment, and where it writes.
    docs/timeline.md explains each rule and default."""

    model: str = field(default="runs/quickstart", metadata={"help": "a saved AffectGPT folder or Hub id"})
    out: str = field(default="runs/timeline", metadata={"help": "output folder: OUT/<video stem>/timeline.*"})
    segments: Literal["speech", "subtitles", "fixed"] = field(
        default="speech",
        metadata={
            "help": "speech: speech turns from voice activity (silero-vad), merged and split to --min/--max-seconds; "
            "subtitles: one segment per cue of --subtitles or NAME.srt/.vtt (cues past the video's end or shorter "
            "than 0.2 s are left out and listed, overlapping cues are joined into one segment, a cue running past the "
            "end is cut there); fixed: --window seconds every --hop seconds (for videos without speech)"
        },
    )
    subtitles: str | None = field(
        default=None,
        metadata={
            "help": "an .srt/.vtt for one video (default: NAME.srt or NAME.vtt beside each video): the segments' "
            "subtitles (the cues overlapping each), and the cues of --segments subtitles"
        },
    )
    asr: str | None = field(
        default=None,
        metadata={
            "help": f"speech recognition when no subtitle file is given: a transformers ASR model id or folder, or "
            f"'none' (default: ${ENV_ASR} or {DEFAULT_ASR_MODEL}); its sentence times also refine the speech turns"
        },
    )
    asr_language: str | None = field(
        default=None, metadata={"help": "the speech's language for Whisper (en, zh, ...; default: detected)"}
    )
    min_seconds: float = field(
        default=2.0, metadata={"help": "speech: shorter turns are widened into the silence around them"}
    )
    max_seconds: float = field(
        default=16.0, metadata={"help": "speech: longer turns are split (at transcript sentence ends when near)"}
    )
    merge_gap: float = field(
        default=0.5,
        metadata={
            "help": "speech: turns closer than this (seconds of silence) are joined, unless a transcript sentence "
            "ends in the pause"
        },
    )
    window: float = field(default=4.0, metadata={"help": "fixed: window length in seconds"})
    hop: float | None = field(
        default=None, metadata={"help": "fixed: seconds between window starts (default: --window)"}
    )
    max_duration: float = field(
        default=MAX_DURATION,
        metadata={"help": "seconds of each video covered; a longer one stops there, with a message"},
    )
    task: Literal["ov_labels", "description"] = field(
        default="ov_labels", metadata={"help": "upstream's question for emotion labels, or for a free description"}
    )
    question: str | None = field(default=None, metadata={"help": "a free question instead of the task's"})
    on_no_face: Literal["error", "frames"] = field(
        default="frames",
        metadata={"help": "face models: a segment without a face gets video frames (named in its row), or fails"},
    )
    captions_with_subtitle: bool = field(
        default=False, metadata={"help": "timeline.srt/.vtt: each caption's labels followed by its subtitle"}
    )
    no_progress: bool = field(default=False, metadata={"help": "no progress bar"})

    def __post_init__(self) -> None:  # wrong values named before anything is read
        self.rules()
        if not self.max_duration > 0:
            raise ValueError(f"--max-duration {self.max_duration:g}; expected seconds > 0")

    def rules(self):
        """The segmentation lengths as :class:`segments.SegmentRules` (ValueError names a bad combination)."""
        from .segments import SegmentRules

        return SegmentRules(self.min_seconds, self.max_seconds, self.merge_gap, self.window, self.hop)


__all__ = [
    "CLIP_TIMEOUT",
    "MAX_DURATION",
    "GREEDY",
    "QUANTIZATIONS",
    "UPSTREAM_SAMPLING",
    "DescribeArguments",
    "InferenceArguments",
    "TimelineArguments",
    "check_clip_timeout",
    "check_device",
    "generation_kwargs",
]
