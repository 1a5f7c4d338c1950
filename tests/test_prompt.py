"""prompt.py: upstream's prompt bytes, and the chat template (built from the same strings) rendering those bytes."""

from __future__ import annotations

import numpy as np
import pytest
from utils import TINY, UPSTREAM_FACE_PROMPT

from affectgpt_hf import AffectGPTProcessor
from affectgpt_hf.configuration_affectgpt import SUPPORTED_INPUT_MODES
from affectgpt_hf.prompt import (
    QUESTIONS,
    AnswerStream,
    extract_answer,
    parse_label_string,
    parse_ov_answer,
    render_prompt,
)

pytestmark = pytest.mark.timeout(120)


def test_prompt_bytes_match_upstream():
    prompt = render_prompt("multiface_audio_face_text", "I told you already.", QUESTIONS["ov_labels"])
    assert prompt == UPSTREAM_FACE_PROMPT
    frame = render_prompt("multiframe_audio_frame_text", "I told you already.", QUESTIONS["ov_labels"])
    assert frame == UPSTREAM_FACE_PROMPT.replace(
        "Meanwhile, we uniformly sample raw frames from the video and extract faces from these frames: "
        "<Video><FaceHere></Video>.",
        "Meanwhile, we uniformly sample raw frames from the video: <Video><FrameHere></Video>.",
    )
    assert render_prompt("audio_text", "x", "q?").startswith("The audio content is as follows")  # no "###Human: "
    assert render_prompt("frame", "s", "q", {"<FrameHere>": 3}).count("<FrameHere>") == 3


@pytest.mark.parametrize("mode", SUPPORTED_INPUT_MODES)
def test_chat_template_renders_the_same_bytes(mode):
    processor = AffectGPTProcessor.from_pretrained(TINY, input_mode=mode, chat_template=None)
    user = {"role": "user", "content": [{"type": "video", "path": "clip.mp4"}, {"type": "text", "text": "Oh, no!"}]}
    for kwargs, question in (
        ({}, QUESTIONS["ov_labels"]),
        ({"task": "description"}, QUESTIONS["description"]),
        ({"question": "Is the person lying?"}, "Is the person lying?"),
    ):
        rendered = processor.apply_chat_template([user], **kwargs)
        assert rendered == render_prompt(mode, "Oh, no!", question)


def test_extract_answer_keeps_the_last_turn_up_to_eos_and_the_last_stop():
    """After the last "###Assistant:", before the first eos, before the last "###"; without "###" the whole rest."""
    decoded = "###Human: hi ###Assistant: first ###Assistant: a ### b ###<|im_end|> junk ###<|im_end|> more"
    assert extract_answer(decoded, "<|im_end|>") == "a ### b"
    assert extract_answer(" ###Assistant: The character's emotional state is happy, joyful") == (
        "The character's emotional state is happy, joyful"  # cut by max_new_tokens: nothing to drop
    )
    assert extract_answer("plain words ### rest", None) == "plain words"
    assert extract_answer("plain words, no eos", "<|im_end|>") == "plain words, no eos"


def test_answer_stream_releases_what_extract_answer_keeps():
    """Streamed pieces, released as they become certain, add up to extract_answer of the whole text: text is held
    from the first "###" on, trailing whitespace and "#" wait for the next piece; checked on every split of random
    texts made of the pieces that matter (stops split across tokens, eos, spaces), the marker case aside."""
    stream = AnswerStream("<|im_end|>")
    assert [stream.feed(p) for p in [" The", " character", " ##", "#", " after"]] == ["The", " character", "", "", ""]
    assert stream.finish() == "" and stream.released == "The character"
    stream = AnswerStream()
    assert [stream.feed(p) for p in ["a #", "# b", " ###", " c ", "###"]] == ["a", " ## b", "", "", ""]
    assert stream.finish() == " ### c" and stream.released == extract_answer("a ## b ### c ###")
    rng = np.random.default_rng(0)
    alphabet = ["a", "b c", " ", "#", "##", "###", "\n", " x", "<|im_end|>", "Assistant:", "ok."]
    checked = 0
    for _ in range(3000):
        pieces = [alphabet[i] for i in rng.integers(0, len(alphabet), rng.integers(0, 9))]
        stream = AnswerStream("<|im_end|>")
        streamed = "".join(stream.feed(piece) for piece in pieces) + stream.finish()
        if not stream.diverged:
            assert streamed == extract_answer("".join(pieces), "<|im_end|>"), pieces
            checked += 1
    assert checked > 2500
    stream = AnswerStream()  # the one case it cannot honour: the prompt's marker written after released text
    assert stream.feed("early words ### ") == "early words" and stream.feed("###Assistant: late") == ""
    assert stream.finish() == "" and stream.diverged and extract_answer(stream.text) == "late"


def test_parse_ov_answer_reads_the_first_answer_line():
    """Labels after the first (case-blind) OV prefix, up to the line end or "###", trailing dots, leading "and"/"or"
    and repeats dropped, lower-cased; no prefix -> []."""
    first = "Well, the Character's emotional state is Happy, happy, AND joyful., calm.\n"
    first += "The character's emotional state is sad."
    assert parse_ov_answer(first) == ["happy", "joyful", "calm"]
    assert parse_ov_answer("The character's emotional state is angry, or annoyed ### is sad.") == ["angry", "annoyed"]
    assert parse_ov_answer("The character's emotional state is [worried, 'nervous'].") == ["worried", "nervous"]
    assert parse_ov_answer("She seems happy.") == []


def test_label_strings_from_numpy_and_lists():
    """npz cells arrive as numpy arrays or np.str_: arrays are lists of labels, np.str_ is parsed as a string."""
    assert parse_label_string(np.array(["happy", "sad"])) == ["happy", "sad"]
    assert parse_label_string(np.str_("[happy, 'sad']")) == ["happy", "sad"]
    assert parse_label_string(("a", 1)) == ["a", "1"]
    with pytest.raises(ValueError, match="not a string"):
        parse_label_string(3)
