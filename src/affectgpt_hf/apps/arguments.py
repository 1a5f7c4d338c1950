"""The options of `affectgpt demo` and of the Space's app.py, with the limits on untrusted uploads (dataclasses read by
transformers' `HfArgumentParser`; free of heavy imports, so `--help` is quick)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..inference.arguments import QUANTIZATIONS

DEFAULT_MODEL = "runs/quickstart"
ENV_MODEL = "AFFECTGPT_MODEL"
TASKS = {"ov_labels": "Emotion labels (open vocabulary)", "description": "Description with reasoning"}
API_NAME = "analyze"
# Limits for untrusted uploads: flags of `affectgpt demo` and app.py, environment variables of the Space.
ENV_LIMITS = {
    "max_upload_mb": "AFFECTGPT_MAX_UPLOAD_MB",
    "max_seconds": "AFFECTGPT_MAX_SECONDS",
    "request_timeout_s": "AFFECTGPT_REQUEST_TIMEOUT_S",
    "max_text_chars": "AFFECTGPT_MAX_TEXT_CHARS",
    "max_timeline_seconds": "AFFECTGPT_MAX_TIMELINE_SECONDS",
}


@dataclass(frozen=True)
class Limits:
    """Per-request caps: upload size (MB = 10^6 bytes), clip duration (s), wall time of one analysis (s), the
    characters of the subtitle and of a free question (each), and the duration of a Timeline tab upload (s; its
    request time cap grows with it: ``timeline_timeout_s``)."""

    max_upload_mb: float = 100.0
    max_seconds: float = 120.0
    request_timeout_s: float = 300.0
    max_text_chars: float = 2000.0
    max_timeline_seconds: float = 600.0

    def __post_init__(self):
        for name in ENV_LIMITS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"demo limit {name} = {value!r}; expected a positive number")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    @property
    def timeline_timeout_s(self) -> float:
        """Wall time of one timeline: the per-request limit for each clip's worth of the longest timeline."""
        return self.request_timeout_s * max(1.0, self.max_timeline_seconds / self.max_seconds)

    def for_timeline(self) -> Limits:
        """These limits with the timeline's duration cap in place of the clip's (for ``check_upload``)."""
        from dataclasses import replace

        return replace(self, max_seconds=self.max_timeline_seconds)

    @classmethod
    def from_env(cls, **overrides: float | None) -> Limits:
        """Defaults, overridden by the environment (ENV_LIMITS), overridden by ``overrides`` that are not None."""
        values = {}
        for name, variable in ENV_LIMITS.items():
            if overrides.get(name) is not None:
                values[name] = float(overrides[name])
            elif os.environ.get(variable):
                try:
                    values[name] = float(os.environ[variable])
                except ValueError:
                    raise ValueError(f"${variable} = {os.environ[variable]!r}; expected a number") from None
        return cls(**values)


_DEFAULTS = Limits()


def _limit(name: str, unit: str) -> float | None:
    return field(
        default=None, metadata={"help": f"{unit} (default: ${ENV_LIMITS[name]} or {getattr(_DEFAULTS, name):g})"}
    )


@dataclass
class DemoArguments:
    """Which model the demo serves, where it listens, and its limits (`affectgpt demo` and the Space's app.py)."""

    model: str | None = field(
        default=None, metadata={"help": f"folder or Hub id (default: ${ENV_MODEL} or {DEFAULT_MODEL})"}
    )
    host: str = field(
        default_factory=lambda: os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        metadata={
            "help": "address to listen on, 0.0.0.0 for all interfaces (default: $GRADIO_SERVER_NAME or 127.0.0.1)"
        },
    )
    port: int | None = field(default=None, metadata={"help": "port (default: Gradio's, 7860 or the next free one)"})
    share: bool = field(default=False, metadata={"help": "also open a public gradio.live link"})
    max_batch_size: int = field(
        default=8, metadata={"help": "requests that arrive together described in one batch, at most this many"}
    )
    max_upload_mb: float | None = _limit("max_upload_mb", "MB per upload")
    max_seconds: float | None = _limit("max_seconds", "seconds per clip")
    request_timeout: float | None = _limit("request_timeout_s", "seconds per analysis")
    max_text_chars: float | None = _limit("max_text_chars", "characters of the subtitle, and of a free question")
    max_timeline_seconds: float | None = _limit("max_timeline_seconds", "seconds per video of the Timeline tab")
    asr: str | None = field(
        default=None,
        metadata={
            "help": "speech recognition filling an empty subtitle: a transformers ASR model id or folder, or 'none' "
            "(default: $AFFECTGPT_ASR or the multilingual Whisper of affectgpt_hf.speech)"
        },
    )

    def limits(self) -> Limits:
        """The limits: these flags over the environment over the defaults."""
        return Limits.from_env(
            max_upload_mb=self.max_upload_mb,
            max_seconds=self.max_seconds,
            request_timeout_s=self.request_timeout,
            max_text_chars=self.max_text_chars,
            max_timeline_seconds=self.max_timeline_seconds,
        )


@dataclass
class ServeArguments:
    """`affectgpt serve`: which model transformers' OpenAI-compatible server runs, where it listens, what media it may
    read (docs/serving.md, "What the server reads") and how many requests it holds at once."""

    model: str = field(metadata={"help": "a saved AffectGPT folder or Hub id"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on (0.0.0.0: all interfaces)"})
    port: int = field(default=8000, metadata={"help": "port"})
    media_dir: str | None = field(
        default=None, metadata={"help": "the folder whose files requests may name by path (default: no local files)"}
    )
    allow_remote_media: bool = field(
        default=False, metadata={"help": "let requests name http(s) media, which the server then downloads"}
    )
    allow_private_media_hosts: bool = field(
        default=False,
        metadata={
            "help": "with --allow-remote-media, download from loopback, private and link-local addresses too (off: "
            "a request cannot make the server fetch from its own network)"
        },
    )
    remote_timeout: float = field(default=30.0, metadata={"help": "seconds one remote download may take"})
    quantization: str | None = field(
        default=None,
        metadata={
            "help": "the language model's decoder in 8 or 4 bits (bitsandbytes; towers and heads stay in dtype)",
            "choices": list(QUANTIZATIONS),
        },
    )
    dtype: str = field(default="auto", metadata={"help": "float32, bfloat16, float16, or auto (as saved)"})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, cuda:1 ... or auto"})
    max_pending: int = field(
        default=16, metadata={"help": "requests held at once (running or waiting); more are refused with 429"}
    )
    max_upload_mb: float | None = _limit("max_upload_mb", "MB per media item (data: URI, input_audio, download)")
    max_seconds: float | None = _limit("max_seconds", "seconds per clip")
    max_text_chars: float | None = _limit("max_text_chars", "characters of the subtitle, and of a free question")
    log_level: str = field(default="warning", metadata={"help": "transformers' and uvicorn's log level"})

    def __post_init__(self) -> None:  # wrong values named before any model loads
        if self.max_pending < 1:
            raise ValueError(f"max_pending={self.max_pending}; expected a positive number of requests")
        if not self.remote_timeout > 0:
            raise ValueError(f"remote_timeout={self.remote_timeout}; expected seconds > 0")
        if self.media_dir is not None and not os.path.isdir(self.media_dir):
            raise ValueError(f"media_dir {self.media_dir} is not a folder; expected the folder requests may read from")

    def limits(self) -> Limits:
        """The Space's limits (these flags over the environment over the defaults); request_timeout_s is unused."""
        return Limits.from_env(
            max_upload_mb=self.max_upload_mb, max_seconds=self.max_seconds, max_text_chars=self.max_text_chars
        )


__all__ = ["DEFAULT_MODEL", "ENV_LIMITS", "ENV_MODEL", "DemoArguments", "Limits", "ServeArguments"]
