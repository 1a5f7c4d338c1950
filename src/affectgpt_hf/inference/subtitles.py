"""The subtitle each clip is described with, and where it came from: ``given`` (a table, a cue file, a string, the
empty string included), ``asr:<model id>`` (speech recognition, speech.py), or ``none`` (no subtitle, no ASR).

`affectgpt describe` transcribes every clip without a given subtitle before the AffectGPT model loads, so a
speech-recognition model that cannot be loaded is named first, and the two models never share the accelerator."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from ..speech import SpeechRecognizer, resolve_asr

if TYPE_CHECKING:
    from .batch import Clip

logger = logging.getLogger(__name__)

GIVEN = "given"
NONE = "none"


def load_recognizer(asr: str | None, language: str | None = None, device: str | None = None) -> SpeechRecognizer | None:
    """The recogniser an ``--asr`` option names (None for "none"); speech.ASRModelError when it cannot load."""
    model = resolve_asr(asr)
    if model is None:
        return None
    logger.info("loading the speech-recognition model %s for clips without a subtitle", model)
    return SpeechRecognizer(model, language=language, device=device)


def transcribe_clips(clips: Sequence[Clip], recognizer: SpeechRecognizer | None, progress: bool = True) -> list[Clip]:
    """``clips`` with a subtitle and its source each: those given keep theirs (source "given"); the others get their
    speech's transcript (source "asr:<model>", a note when empty or cut), or stay without one (source "none") when
    ``recognizer`` is None. A clip whose audio cannot be read is left as it is: describing it reports the error."""
    missing = [i for i, clip in enumerate(clips) if clip.subtitle is None]
    done = [replace(clip, subtitle_source=clip.subtitle_source or GIVEN) if clip.subtitle is not None else clip
            for clip in clips]  # fmt: skip
    if recognizer is None:
        return [clip if clip.subtitle is not None else replace(clip, subtitle_source=NONE) for clip in done]
    for index in tqdm(missing, desc="transcribe", unit="clip", disable=not progress or not missing):
        clip = clips[index]
        source = clip.audio if clip.audio is not None else clip.video
        try:
            transcript = recognizer(source, sampling_rate=clip.sampling_rate)
        except ValueError as error:
            logger.warning("no transcript for %s: %s", clip.name, error)
            continue
        if transcript.note:
            logger.info("%s: %s", clip.name, transcript.note)
        done[index] = replace(
            clip, subtitle=transcript.text, subtitle_source=transcript.source, subtitle_note=transcript.note
        )
    return done


def subtitle_fields(clip: Clip) -> dict:
    """What a result records of its clip's subtitle: the text the model read, its source, and a note if any."""
    source = clip.subtitle_source or (GIVEN if clip.subtitle is not None else NONE)
    fields = {"subtitle": clip.subtitle or "", "subtitle_source": source}
    if clip.subtitle_note:
        fields["subtitle_note"] = clip.subtitle_note
    return fields


__all__ = ["GIVEN", "NONE", "load_recognizer", "subtitle_fields", "transcribe_clips"]
