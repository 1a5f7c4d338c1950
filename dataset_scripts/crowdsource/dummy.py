"""Deterministic stand-in models (no weights) for dry runs: ``--audio-model crowdsource.dummy:audio``."""

from __future__ import annotations

import hashlib

_EMOTIONS = ("happy", "angry", "sad", "worried")
_SENTIMENT = {"happy": "positive", "angry": "negative", "sad": "negative", "worried": "negative"}


def _emotion(name: str) -> str:
    return _EMOTIONS[hashlib.sha256(name.encode()).digest()[0] % len(_EMOTIONS)]


def audio(clips, prompt):
    return [f"The voice of {clip.name} sounds {_emotion(clip.name)}." for clip in clips]


def video(clips, prompt):
    return [f"The face in {clip.name} looks {_emotion(clip.name)}." for clip in clips]


def merge(prompts):
    out = []
    for prompt in prompts:
        clue = prompt.split("Acoustic clues:", 1)[-1].split("\n", 1)[0]
        emotion = next((e for e in _EMOTIONS if e in clue), "calm")
        out.append(f"Both the voice and the face suggest the character is {emotion}. {clue.strip()}")
    return out


def classifier(clips):
    return [{"emotion": _emotion(clip.name), "sentiment": _SENTIMENT[_emotion(clip.name)]} for clip in clips]


def disagreeing_classifier(clips):
    return [{"emotion": "happy", "sentiment": "positive"} for _ in clips]


def speaker(clips):
    return [True for _ in clips]
