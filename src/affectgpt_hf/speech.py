"""A clip's speech -> its subtitle: voice activity first (silero-vad), then any transformers speech-recognition model
through ``pipeline("automatic-speech-recognition")`` (default: a multilingual Whisper).

AffectGPT always reads a subtitle, and the MER sets' subtitles came from speech recognition; a clip given without one
gets it here. The recogniser hears the audio the model itself gets (media.py's 16 kHz mono, from the video's track or
a separate file). Silence never becomes text: a clip in which the voice-activity detector finds no speech is not
transcribed at all (Whisper makes up short phrases on silence), and its transcript says so. Audio longer than 30 s is
transcribed in 30 s chunks (the pipeline's chunking), and the segment times are kept in order and inside the audio.

Copied beside the weights of every saved folder (the custom pipeline uses it), so it imports siblings with one dot,
and torch, transformers and silero-vad only inside functions (``affectgpt --help`` stays quick).
"""

from __future__ import annotations

import collections
import os
import threading
from dataclasses import dataclass, field

DEFAULT_ASR_MODEL = "openai/whisper-large-v3-turbo"
"""Multilingual (the MER sets are Chinese and English), and its 4-layer decoder makes it fast: docs/speech.md."""
ENV_ASR = "AFFECTGPT_ASR"
NO_ASR = "none"
CHUNK_SECONDS = 30.0
MAX_TRANSCRIPT_CHARS = 2000
"""As the Space caps a typed subtitle (apps.arguments.Limits.max_text_chars): a transcript is cut there, and says so."""
_SAMPLE_RATE = 16000  # media.SAMPLE_RATE; silero-vad's rate too


class ASRModelError(ValueError):
    """The speech-recognition model cannot be loaded (offline, a wrong id, not a speech model)."""


@dataclass(frozen=True)
class Segment:
    """A stretch of the transcript: start and end in seconds from the start of the audio, and its text."""

    start: float
    end: float
    text: str


@dataclass
class Transcript:
    """What speech recognition made of a clip: the joined ``text``, its timed ``segments``, the ``language`` (given,
    or detected by Whisper), the ``speech`` the voice-activity detector found ((start, end) seconds), and a ``note``
    when the text is empty or cut (no speech, no audio track, over ``max_chars``)."""

    text: str
    segments: list[Segment] = field(default_factory=list)
    model: str = DEFAULT_ASR_MODEL
    language: str | None = None
    speech: list[tuple[float, float]] = field(default_factory=list)
    note: str | None = None

    @property
    def source(self) -> str:
        """The subtitle source every output records: ``asr:<model id>``."""
        return f"asr:{self.model}"

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in self.segments],
            "model": self.model,
            "language": self.language,
            "speech": [list(span) for span in self.speech],
            "note": self.note,
        }


def resolve_asr(asr: str | None) -> str | None:
    """The ASR model an option names: ``"none"`` (any case) -> None (no speech recognition); None -> ``$AFFECTGPT_ASR``,
    else :data:`DEFAULT_ASR_MODEL`; anything else as given."""
    if asr is None:
        asr = os.environ.get(ENV_ASR) or DEFAULT_ASR_MODEL
    return None if asr.strip().lower() == NO_ASR else asr


# --------------------------------------------------------------------------------------------------- voice activity
_vad_lock = threading.Lock()
_vad_model = None


def _silero():
    """silero-vad's model (from its wheel, loaded once) and its ``get_speech_timestamps``. Importing silero_vad sets
    torch to one thread for the whole process; the thread count is put back."""
    global _vad_model
    import torch

    threads = torch.get_num_threads()
    try:
        from silero_vad import get_speech_timestamps, load_silero_vad
    except ImportError as error:
        raise ImportError(
            "voice-activity detection needs silero-vad (its wheel carries the weights): "
            "pip install --no-deps silero-vad==6.2.3 (scripts/setup.sh does)"
        ) from error
    finally:
        torch.set_num_threads(threads)
    if _vad_model is None:
        _vad_model = load_silero_vad()
    return _vad_model, get_speech_timestamps


def detect_speech(
    waveform, threshold: float = 0.5, min_speech_ms: int = 250, time_resolution: int = 1
) -> list[tuple[float, float]]:
    """Where a 16 kHz mono waveform holds speech: (start, end) seconds per stretch (rounded to ``time_resolution``
    decimals), by silero-vad (speech probability over ``threshold`` for at least ``min_speech_ms``, silero's other
    defaults). Empty for silence, noise and pure tones. Audio longer than :data:`VAD_PIECE_WINDOWS` windows is scored in
    parallel pieces (:func:`speech_probabilities`)."""
    import numpy as np

    wave = np.asarray(waveform, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"detect_speech takes a 1-D 16 kHz mono waveform, got shape {wave.shape}")
    if wave.size == 0:
        return []
    probabilities = speech_probabilities(wave)  # loads silero-vad (and says how to install it) first
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    found = get_speech_timestamps_from_probs(
        probabilities,
        sampling_rate=_SAMPLE_RATE,
        threshold=threshold,
        min_speech_duration_ms=min_speech_ms,
        return_seconds=True,
        time_resolution=time_resolution,
        audio_length_samples=len(wave),
    )
    return [(float(span["start"]), float(span["end"])) for span in found]


VAD_WINDOW = 512  # samples silero-vad scores at a time at 16 kHz
VAD_PIECE_WINDOWS = 192  # about 6.1 s: longer audio is scored in pieces of this many windows, side by side
VAD_WARMUP_WINDOWS = 64  # about 2 s of the audio before each piece, scored and dropped, so its state has settled
VAD_STREAMS = 256  # pieces scored together in one batch (26 minutes of audio per pass)


def speech_probabilities(waveform) -> list[float]:
    """silero-vad's speech probability for each 512-sample window of a 16 kHz mono waveform (the last one zero-padded),
    as ``get_speech_timestamps`` scores them. Up to :data:`VAD_PIECE_WINDOWS` windows the model walks the windows in
    order (silero's own loop); longer audio is cut into pieces of that many windows that are scored side by side as one
    batch (the model keeps a state per batch row), each piece after the first starting
    :data:`VAD_WARMUP_WINDOWS` windows early, whose scores are dropped: the model's state forgets the start by then.
    On 190 s of espeak-ng speech the speech stretches were those of 30.7 s pieces with 1 s warm-ups, each boundary
    within one window (32 ms), and long audio is scored several times faster (perf/README.md, "Timeline")."""
    import numpy as np
    import torch

    wave = np.asarray(waveform, dtype=np.float32)
    count = -(-len(wave) // VAD_WINDOW)
    padded = np.zeros(count * VAD_WINDOW, np.float32)
    padded[: len(wave)] = wave
    windows = torch.from_numpy(padded).reshape(count, VAD_WINDOW)
    pieces = -(-count // VAD_PIECE_WINDOWS)
    length = VAD_PIECE_WINDOWS + VAD_WARMUP_WINDOWS if pieces > 1 else count
    rows = torch.zeros(pieces, length, VAD_WINDOW)  # piece p: windows from p * PIECE - WARMUP (piece 0: from 0)
    for piece in range(pieces):
        first = max(piece * VAD_PIECE_WINDOWS - (VAD_WARMUP_WINDOWS if piece else 0), 0)
        chunk = windows[first : first + length]
        rows[piece, : len(chunk)] = chunk
    scores = torch.zeros(pieces, length)
    with _vad_lock, torch.inference_mode(), torch.jit.optimized_execution(False):  # no multi-second JIT warm-up
        model, _ = _silero()
        threads = torch.get_num_threads()
        torch.set_num_threads(
            1
        )  # its steps are tiny: 2 threads made 10 min of audio 0.6 s -> 6-10 s on a busy 2-core CPU
        try:
            for group in range(0, pieces, VAD_STREAMS):
                batch = rows[group : group + VAD_STREAMS]
                model.reset_states()
                for step in range(length):
                    scores[group : group + VAD_STREAMS, step] = model(batch[:, step], _SAMPLE_RATE)[:, 0]
        finally:
            torch.set_num_threads(threads)
    kept = [scores[0, :VAD_PIECE_WINDOWS]] + [scores[p, VAD_WARMUP_WINDOWS:] for p in range(1, pieces)]
    return torch.cat(kept)[:count].tolist()


# ------------------------------------------------------------------------------------------------ speech recognition
class SpeechRecognizer:
    """A transformers speech-recognition model behind a voice-activity gate: ``recognizer(audio) -> Transcript``.

    ``model``: any Hub id or folder that ``pipeline("automatic-speech-recognition")`` loads (Whisper, wav2vec2, ...);
    one that cannot be loaded raises :class:`ASRModelError` naming it and how to go on. ``language``: a Whisper
    language ("en", "zh", "english", ...); None lets Whisper detect it. ``vad=False`` transcribes without asking the
    voice-activity detector first. ``max_chars``: longer transcripts are cut there (the note says so).

    The call on a clip's 16 kHz track ``wave`` is ``self.asr({"raw": wave, "sampling_rate": 16000},
    return_timestamps=True, generate_kwargs={"task": "transcribe"})`` for Whisper (``"language"`` added when given,
    ``chunk_length_s=30`` past 30 s), word timestamps for CTC models."""

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_ASR_MODEL,
        *,
        language: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        vad: bool = True,
        max_chars: int = MAX_TRANSCRIPT_CHARS,
        batch_size: int = 1,
    ) -> None:
        self.model_id = os.fspath(model)
        self.language, self.vad, self.max_chars, self.batch_size = language, vad, int(max_chars), batch_size
        if self.max_chars < 1:
            raise ValueError(f"max_chars={max_chars}; expected a positive number of characters")
        if vad:
            _silero()  # a missing silero-vad is named now, not at the first clip
        self.asr = load_asr_pipeline(self.model_id, device=device, dtype=dtype)
        self.is_whisper = self.asr.type == "seq2seq_whisper"
        if language is not None and not self.is_whisper:
            raise ValueError(
                f"language={language!r} is for Whisper models; {self.model_id} is a {self.asr.type} model, which "
                "transcribes the language it was trained on (leave the language out)"
            )

    def __call__(self, audio, sampling_rate: int | None = None) -> Transcript:
        """``audio`` (a media path, bytes or file object, or an array with ``sampling_rate``, or a dict with "array"
        and "sampling_rate") -> its Transcript. A file without an audio stream gets an empty one that says so."""
        from .media import NoAudioStream

        try:
            wave = _waveform(audio, sampling_rate)
        except NoAudioStream:
            return Transcript("", model=self.model_id, language=self.language, note="no audio track")
        return self.transcribe_waveform(wave)

    def transcribe_waveform(self, wave) -> Transcript:
        """A 16 kHz mono float waveform -> its Transcript (empty, ASR not run, where no speech is found)."""
        speech = detect_speech(wave) if self.vad else []
        if self.vad and not speech:
            return Transcript("", model=self.model_id, language=self.language, note="no speech detected")
        seconds = len(wave) / _SAMPLE_RATE
        output = self.asr({"raw": wave, "sampling_rate": _SAMPLE_RATE}, **self.call_options(seconds))
        segments = _segments(output, seconds)
        text = output.get("text", "").strip()
        note = None
        if len(text) > self.max_chars:
            note = f"transcript cut from {len(text)} to {self.max_chars} characters"
            text = _cut(text, self.max_chars)
        return Transcript(text, segments, self.model_id, self.language or _language(output), speech, note)

    def call_options(self, seconds: float) -> dict:
        """The ASR pipeline's call arguments for audio of ``seconds``."""
        options: dict = {}
        if self.asr.type.startswith("ctc"):
            options["return_timestamps"] = "word"
        if self.is_whisper:  # other seq2seq models (Speech2Text, ...) give no timestamps
            options["return_timestamps"] = True
            options["generate_kwargs"] = {
                "task": "transcribe",
                **({"language": self.language} if self.language else {}),
            }
            options["return_language"] = True
        if seconds > CHUNK_SECONDS:
            options.update(chunk_length_s=CHUNK_SECONDS, batch_size=self.batch_size)
        return options


def load_asr_pipeline(model: str, device: str | None = None, dtype: str | None = None):
    """transformers' ASR pipeline for ``model`` (GPU when there is one, fp16 there); :class:`ASRModelError` naming the
    model and the ways on when it cannot be loaded."""
    import torch
    from transformers import pipeline

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = dtype or ("float16" if torch.device(device).type == "cuda" else "float32")
    try:
        return pipeline(
            "automatic-speech-recognition", model=model, device=device, dtype=getattr(torch, dtype), ignore_warning=True
        )
    except Exception as error:  # noqa: BLE001 - transformers raises OSError, ValueError, KeyError... for a bad model
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ASRModelError(
            f"speech-recognition model {model!r} cannot be loaded ({type(error).__name__}: {reason}); it is needed "
            "for clips without a subtitle: give their subtitles (describe --subtitles FILE, or NAME.srt/.vtt beside "
            "each video; subtitle= in Python) or turn speech recognition off (--asr none, asr_model=None)"
        ) from error


_recognizers: dict[tuple, SpeechRecognizer] = {}
_recognizers_lock = threading.Lock()


def transcribe(audio, model: str | os.PathLike = DEFAULT_ASR_MODEL, sampling_rate: int | None = None, **options):
    """``audio`` (path, bytes, file object, array with ``sampling_rate``) -> its :class:`Transcript`, through a
    :class:`SpeechRecognizer` for ``model`` and ``options`` kept for the next call. The cache key holds what the
    recogniser was made from: the model id, or for a folder its path and its files' sizes and times."""
    key = (os.fspath(model), _folder_stamp(model), tuple(sorted(options.items())))
    with _recognizers_lock:
        if key not in _recognizers:
            _recognizers[key] = SpeechRecognizer(model, **options)
        recognizer = _recognizers[key]
    return recognizer(audio, sampling_rate=sampling_rate)


def _folder_stamp(model: str | os.PathLike) -> tuple:
    if not os.path.isdir(model):
        return ()
    entries = sorted(os.scandir(model), key=lambda entry: entry.name)
    return tuple((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries if e.is_file())


def _waveform(audio, sampling_rate: int | None):
    from .media import load_audio

    if isinstance(audio, dict) and "array" in audio:  # datasets' decoded Audio()
        return load_audio(audio["array"], sampling_rate=audio.get("sampling_rate"))
    if hasattr(audio, "shape"):
        import numpy as np

        return load_audio(np.asarray(audio), sampling_rate=sampling_rate)
    return load_audio(audio)


def _segments(output: dict, seconds: float) -> list[Segment]:
    """The pipeline's chunks as segments inside [0, seconds], each starting no earlier than the one before (a chunk
    without an end runs to the end of the audio; stitched chunk boundaries may step back, random models jump)."""
    chunks = output.get("chunks")
    if not chunks:
        text = output.get("text", "").strip()
        return [Segment(0.0, round(seconds, 3), text)] if text else []
    segments, floor = [], 0.0
    for chunk in chunks:
        text = chunk.get("text", "").strip()
        start, end = chunk.get("timestamp") or (None, None)
        start = min(max(floor, start if start is not None else floor), seconds)
        end = min(max(start, end if end is not None else seconds), seconds)
        floor = start
        if text:
            segments.append(Segment(round(start, 3), round(end, 3), text))
    return segments


def _language(output: dict) -> str | None:
    """The language Whisper detected most often over the chunks (None when the model does not say)."""
    found = [chunk.get("language") for chunk in output.get("chunks") or () if chunk.get("language")]
    return collections.Counter(found).most_common(1)[0][0] if found else None


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at the last space when there is one in its second half."""
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip()


__all__ = [
    "CHUNK_SECONDS",
    "DEFAULT_ASR_MODEL",
    "ENV_ASR",
    "MAX_TRANSCRIPT_CHARS",
    "NO_ASR",
    "ASRModelError",
    "Segment",
    "SpeechRecognizer",
    "Transcript",
    "detect_speech",
    "load_asr_pipeline",
    "resolve_asr",
    "transcribe",
]
