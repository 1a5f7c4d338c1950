"""The Qwen2.5 tokenizer built offline: the ids upstream's tokenizer gives and upstream's separate tokenization."""

from __future__ import annotations

import pytest

from affectgpt_hf.prompt import QUESTIONS, format_ov_answer, format_training_target, render_prompt
from affectgpt_hf.tokenizer import added_token_id, build_qwen25_tokenizer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def tokenizer():
    return build_qwen25_tokenizer()


def test_special_and_placeholder_ids(tokenizer):
    # as upstream's load_tokenizer_from_LLM (my_affectgpt/models/tokenizer.py): bos overridden to <|im_start|>,
    # pad = eos = <|im_end|>, placeholders at 151665..151669.
    assert len(tokenizer) == 151_670
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (151644, 151645, 151645)
    names = ["<ImageHere>", "<AudioHere>", "<FrameHere>", "<FaceHere>", "<MultiHere>"]
    assert tokenizer.convert_tokens_to_ids(names) == [151665, 151666, 151667, 151668, 151669]
    assert tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|file_sep|>"]) == [151643, 151664]
    assert [added_token_id(token) for token in ["<|im_start|>", *names]] == [151644, *range(151665, 151670)]
    assert added_token_id("<MultiHere>", 16384) == 16410
    with pytest.raises(ValueError, match="not an added token"):
        added_token_id("hello")


@pytest.mark.parametrize(
    "text, ids",
    [
        ("Hello world", [9707, 1879]),  # Qwen2.5's ids for these strings
        ("你好", [108386]),
        ("12345", [16, 17, 18, 19, 20]),  # Qwen2's pattern: single digits
        ("###", [14374]),  # upstream's stop words: "###", "##", "#"
        ("##", [565]),
        ("#", [2]),
    ],
)
def test_known_strings(tokenizer, text, ids):
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == ids


def test_prompt_and_answer_are_tokenized_separately(tokenizer):
    prompt = render_prompt("multiface_audio_face_text", "I told you already.", QUESTIONS["description"])
    answer = format_training_target("In the text, the person sounds tired.")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    assert prompt_ids[:2] == [14374, 33975]  # "###", "Human"
    assert prompt_ids[-1] == 220 and answer_ids[0] == 641  # a lone space ends the prompt; "In" starts the answer
    assert answer_ids[-1] == 14374
    joined = tokenizer(prompt + answer, add_special_tokens=False)["input_ids"]
    assert joined != prompt_ids + answer_ids  # joined text merges " In" into one token
    ov = tokenizer(format_ov_answer([]), add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ov) == "The character's emotional state is neutral."


def test_small_tokenizer_keeps_low_ranks_and_shifts_added_tokens():
    small = build_qwen25_tokenizer(16384)
    assert len(small) == 16384 + 27
    assert small.eos_token_id == 16386 and small.convert_tokens_to_ids("<MultiHere>") == 16410
    assert small("###", add_special_tokens=False)["input_ids"] == [14374]
    assert small.decode(small("emotional state", add_special_tokens=False)["input_ids"]) == "emotional state"
