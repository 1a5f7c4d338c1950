"""Speech -> subtitle (speech.py): silero-vad finds espeak-ng speech and nothing in silence or noise, and silence never
reaches the recogniser; a tiny random Whisper with Whisper's real vocabulary hears exactly the clip's 16 kHz track
(a random model's text follows its input), through `affectgpt describe` as through the Python function; long audio is
chunked with ordered segment times; a long transcript is cut; models that cannot load are named before the AffectGPT
model loads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from utils import make_clip, speak

from affectgpt_hf.cli import main
from affectgpt_hf.data.writers import write_video
from affectgpt_hf.media import load_audio
from affectgpt_hf.speech import ASRModelError, SpeechRecognizer, detect_speech, transcribe

pytestmark = pytest.mark.timeout(300)
WHISPER_CALL = {"return_timestamps": True, "generate_kwargs": {"task": "transcribe"}}  # speech.SpeechRecognizer's call


@pytest.fixture(scope="module")
def reference_asr(tiny_whisper_dir):
    """transformers' own ASR pipeline on the tiny Whisper: what the package's text is compared with."""
    from transformers import pipeline

    return pipeline("automatic-speech-recognition", model=str(tiny_whisper_dir))


class Spy:
    """Wraps the recogniser's ASR pipeline and records each call's audio."""

    def __init__(self, asr):
        self.asr, self.calls = asr, []

    def __call__(self, inputs, **kwargs):
        self.calls.append((inputs["raw"], kwargs))
        return self.asr(inputs, **kwargs)

    def __getattr__(self, name):
        return getattr(self.asr, name)


def test_voice_activity_finds_speech_not_silence_or_noise(tmp_path):
    english = load_audio(speak(tmp_path / "en.wav", "I told you already, I do not want to talk about it."))
    chinese = load_audio(speak(tmp_path / "zh.wav", "我已经告诉过你了", voice="cmn"))
    silence = np.zeros(3 * 16000, np.float32)
    noise = (0.1 * np.random.default_rng(0).standard_normal(3 * 16000)).astype(np.float32)
    gap = np.zeros(2 * 16000, np.float32)
    joined = np.concatenate([english, gap, chinese])
    found = detect_speech(joined)
    assert detect_speech(silence) == [] and detect_speech(noise) == []
    assert len(found) >= 2, found
    seconds_en = len(english) / 16000
    assert found[0][0] < 0.5 and abs(found[0][1] - seconds_en) < 0.6  # the English sentence
    assert abs(found[-1][0] - (seconds_en + 2.0)) < 0.5  # the Chinese one starts after the 2 s gap
    assert not any(start < seconds_en + 1.8 and end > seconds_en + 0.2 for start, end in found)  # nothing in the gap


def test_silence_never_reaches_the_recogniser(tiny_whisper_dir, spoken, tmp_path):
    recognizer = SpeechRecognizer(tiny_whisper_dir)
    spy = recognizer.asr = Spy(recognizer.asr)
    silent = tmp_path / "silent.mp4"
    frames = np.zeros((20, 32, 32, 3), np.uint8)
    write_video(silent, frames, fps=10, audio=np.zeros(32000, np.float32), sampling_rate=16000)
    noisy = make_clip(tmp_path / "tone.mp4", seconds=2.0)  # a pure tone: no speech either
    for clip in (silent, noisy):
        transcript = recognizer(str(clip))
        assert (transcript.text, transcript.segments, transcript.note) == ("", [], "no speech detected")
    assert spy.calls == []
    spoken_text = recognizer(str(spoken["en"]))
    assert len(spy.calls) == 1 and spoken_text.text and spoken_text.speech
    np.testing.assert_array_equal(spy.calls[0][0], load_audio(str(spoken["en"])))  # the clip's own 16 kHz track

    without_vad = SpeechRecognizer(tiny_whisper_dir, vad=False)
    spy = without_vad.asr = Spy(without_vad.asr)
    without_vad(str(silent))
    assert len(spy.calls) == 1  # only the voice-activity gate kept silence away


def test_describe_transcribes_what_the_asr_pipeline_hears(tiny_model_dir, tiny_whisper_dir, reference_asr, spoken,
                                                          tmp_path):  # fmt: skip
    """`affectgpt describe --asr DIR`: the subtitle is transformers' ASR pipeline on the clip's 16 kHz track, and it
    is what the model read (the answer changes with it)."""
    from affectgpt_hf.inference.arguments import InferenceArguments
    from affectgpt_hf.inference.batch import Clip, describe, load_model

    folder = tiny_model_dir(seed=0, sensitive=True)
    out = tmp_path / "out.jsonl"
    clips = [str(spoken["en"]), str(spoken["zh"])]
    assert main(["describe", *clips, "--model", str(folder), "--asr", str(tiny_whisper_dir),
                 "--max-new-tokens", "8", "--output", str(out)]) == 0  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row, clip in zip(rows, clips, strict=True):
        expected = reference_asr({"raw": load_audio(clip), "sampling_rate": 16000}, **WHISPER_CALL)["text"].strip()
        assert expected and row["subtitle"] == expected
        assert row["subtitle_source"] == f"asr:{tiny_whisper_dir}"
    assert rows[0]["subtitle"] != rows[1]["subtitle"]  # the two clips' speech differs, so does the random text

    model, processor = load_model(folder)
    runtime = InferenceArguments(batch_size=1, max_new_tokens=8)
    with_text, without = describe(
        model,
        processor,
        [Clip("a", video=clips[0], subtitle=rows[0]["subtitle"]), Clip("b", video=clips[0], subtitle="")],
        runtime,
        progress=False,
    )
    assert rows[0]["text"] == with_text.text != without.text  # the transcript is what the model read
    ids = processor(videos=[clips[0]], subtitles=[rows[0]["subtitle"]])["input_ids"][0].tolist()
    subtitle_ids = processor.tokenizer(rows[0]["subtitle"], add_special_tokens=False)["input_ids"]
    assert any(ids[i : i + len(subtitle_ids)] == subtitle_ids for i in range(len(ids)))  # it reaches the prompt ids


def test_long_audio_is_chunked_with_ordered_segments(tiny_whisper_dir, reference_asr, tmp_path):
    speech = load_audio(speak(tmp_path / "long.wav", "I told you already. I do not want to talk about it. " * 2))
    wave = np.concatenate([speech, np.zeros(16000, np.float32)] * 8)[: 45 * 16000]  # 45 s: two 30 s chunks
    assert len(wave) / 16000 > 40
    recognizer = SpeechRecognizer(tiny_whisper_dir)
    spy = recognizer.asr = Spy(recognizer.asr)
    transcript = recognizer(wave, sampling_rate=16000)
    assert spy.calls[0][1]["chunk_length_s"] == 30.0
    expected = reference_asr({"raw": wave, "sampling_rate": 16000}, chunk_length_s=30.0, **WHISPER_CALL)
    assert transcript.text == expected["text"].strip() != ""
    starts = [segment.start for segment in transcript.segments]
    assert starts == sorted(starts) and len(starts) >= 2
    assert all(0 <= s.start <= s.end <= len(wave) / 16000 for s in transcript.segments)
    assert transcript.language is not None  # detected (Whisper: no language given)


def test_the_function_caps_the_transcript_and_names_a_clip_without_audio(tiny_whisper_dir, spoken, tmp_path):
    full = transcribe(str(spoken["en"]), tiny_whisper_dir)
    capped = transcribe(str(spoken["en"]), tiny_whisper_dir, max_chars=10)
    assert full.source == f"asr:{tiny_whisper_dir}"
    assert len(full.text) > 10 >= len(capped.text) > 0 and full.text.startswith(capped.text)
    assert capped.note == f"transcript cut from {len(full.text)} to 10 characters"
    mute = tmp_path / "mute.mp4"
    write_video(mute, np.zeros((10, 32, 32, 3), np.uint8), fps=10)
    transcript = transcribe(str(mute), tiny_whisper_dir)
    assert (transcript.text, transcript.note) == ("", "no audio track")
    english = transcribe(str(spoken["en"]), tiny_whisper_dir, language="en")
    assert english.language == "en" and english.text


@pytest.mark.parametrize("which", ["missing", "not-speech"])
def test_a_model_that_cannot_load_is_named_before_affectgpt_loads(which, tiny_model_dir, spoken, tmp_path, capsys):
    asr = str(tmp_path / "no-such-model") if which == "missing" else str(tiny_model_dir(seed=0))
    with pytest.raises(ASRModelError, match="--asr none"):
        SpeechRecognizer(asr)
    no_model = tmp_path / "no-affectgpt"  # the AffectGPT model does not exist either: its error would come second
    assert main(["describe", str(spoken["en"]), "--model", str(no_model), "--asr", asr]) == 2
    error = capsys.readouterr().err
    assert f"speech-recognition model {asr!r} cannot be loaded" in error and "--subtitles FILE" in error
    assert str(no_model) not in error
