"""Label extraction: the offline lexicon extractor and the LLM judge (upstream's App. E prompts, chat template)."""

from __future__ import annotations

import pytest

from affectgpt_hf.unibench.extraction import (
    SENTIMENT_PROMPT,
    LexiconExtractor,
    LLMJudge,
    openset_prompt,
    postprocess_response,
    sentiment_prompt,
)

# Upstream toolkit/utils/qwen.py at fffca79: reason_to_openset_qwen / openset_to_sentiment_qwen called with the
# reasons "REASON" / "OPENSET" (their prompt builders executed, the LLM call captured), bytes copied here.
UPSTREAM_OPENSET = (
    "Please assume the role of an expert in the field of emotions. We provide clues that may be related to the "
    "emotions of the characters. Based on the provided clues, please identify the emotional states of the main "
    "character. The main character is the one with the most detailed clues. Please separate different emotional "
    "categories with commas and output only the clearly identifiable emotional categories in a list format. If none "
    "are identified, please output an empty list. Input: We cannot recognize his emotional state; Output: [] Input: "
    "His emotional state is happy, sad, and angry; Output: [happy, sad, angry] Input: REASON; Output: "
)
S13 = " " * 13
UPSTREAM_SENTIMENT = (
    f"Please act as an expert in the field of emotions.{S13}We provide a few words to describe the emotions of a "
    f"character.{S13}Please choose the most likely sentiment from the given candidates: [positive, negative, neutral]"
    f"{S13}Please direct output answer without analyzing process.{S13}Input: [joyful]; Output: positive{S13}Input: "
    f"[]; Output: neutral{S13}Input: OPENSET; Output: "
)


@pytest.fixture(scope="module")
def lexicon():
    return LexiconExtractor()


@pytest.mark.timeout(30)
def test_prompts_are_upstream_bytes():
    assert openset_prompt("REASON") == UPSTREAM_OPENSET
    assert sentiment_prompt("OPENSET") == UPSTREAM_SENTIMENT
    assert sentiment_prompt(["a", "b"]) == SENTIMENT_PROMPT.replace("{reason}", "[a, b]")


@pytest.mark.timeout(30)
def test_postprocess_like_upstream():
    assert postprocess_response("  Output: [happy,\n sad] ") == "[happy, sad]"
    assert postprocess_response("输出：[开心]") == "[开心]"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "text, expected",
    [
        ("The character's emotional state is unease, anxiety.", ["unease", "anxiety"]),
        ("The character's emotional state is Happy, and excited.", ["happy", "excited"]),
        ("[happy, Sad, happy]", ["happy", "sad"]),
        ("['worried', \"nervous\"]", ["worried", "nervous"]),
        ("He is not happy; he seems angry and frustrated.", ["angry", "frustrated"]),
        ("There is no anger or sadness in her voice, she looks relieved.", ["relieved"]),
        ("He stays calm, while the other person appears furious.", ["calm"]),
        ("The other person is furious. She is anxious.", ["anxious"]),
        ("It is unclear whether he is sad. He sounds tired.", ["tired"]),
        ("Overall, there is no obvious emotion.", []),
        ("The content of the subtitle suggests she feels proud.", ["proud"]),
        ("He might be nervous, perhaps even a bit embarrassed.", ["nervous", "embarrassed"]),
        ("", []),
    ],
)
def test_lexicon_extractor(lexicon, text, expected):
    assert lexicon.extract_one(text) == expected


@pytest.mark.timeout(30)
def test_lexicon_sentiment(lexicon):
    got = lexicon.extract_sentiment([["happy", "excited"], "[angry, fear]", [], ["surprised"], ["fear"]])
    assert got == ["positive", "negative", "neutral", "neutral", "negative"]  # "fear": vote, not W2's tie-break
    assert lexicon.mode == "offline-lexicon"


class _ChatTokenizer:
    """Stands in for a chat tokenizer: records the messages and renders them like a Qwen template would."""

    def __init__(self):
        self.messages = []

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        self.messages.append(messages)
        return "<|im_start|>user\n" + messages[0]["content"] + "<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.timeout(30)
def test_judge_builds_upstream_prompt_and_parses():
    tokenizer, seen = _ChatTokenizer(), []

    def generate(rendered):
        seen.extend(rendered)
        out = []
        for r in rendered:
            if "most likely sentiment" in r:
                out.append("positive" if "Input: [happy" in r else "maybe")
            else:
                out.append("Output: [happy, excited]" if "smiles" in r else "[]")
        return out

    judge = LLMJudge(tokenizer=tokenizer, generate_fn=generate, batch_size=2, name="fake")
    labels = judge.extract_labels(["She smiles.", "The character's emotional state is calm.", "He smiles."])
    assert labels == [["happy", "excited"], [], ["happy", "excited"]]
    assert judge.last_responses[0] == "[happy, excited]"
    assert tokenizer.messages[0] == [{"role": "user", "content": openset_prompt("She smiles.")}]  # one user turn
    assert seen[1].startswith("<|im_start|>user\n" + UPSTREAM_OPENSET[:40])
    assert judge.extract_sentiment([["happy", "excited"], "[sad]"]) == ["positive", "neutral"]  # "maybe" -> neutral
    assert tokenizer.messages[-1][0]["content"] == sentiment_prompt("[sad]")
    assert judge.mode == "llm-judge:fake:greedy"
    assert LLMJudge(tokenizer=tokenizer, generate_fn=generate, sampling="upstream").mode.endswith("upstream-sampling")
    with pytest.raises(ValueError, match="sampling"):
        LLMJudge(tokenizer=tokenizer, generate_fn=generate, sampling="beam")


# The rigged judge: "smiles" anywhere in a step-1 prompt -> "[happy, excited]", "excited];" (a step-2 prompt of a
# list ending in excited) -> "positive", anything else -> "[]" (rigged_chat.py says how the weights do it).
RULES = [("smiles", "[happy, excited]"), ("excited];", "positive")]
# different prompt lengths and answers within one batch: left padding and prompt slicing must both be right
TEXTS = [
    "she smiles and laughs",
    "she is sad",
    "at first he frowns and looks away but later in the long scene he smiles at everyone in the room",
    "The character's emotional state is calm.",
]
RESPONSES = ["[happy, excited]", "[]", "[happy, excited]", "[]"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sampling", ["greedy", "upstream"])
def test_rigged_judge_answers_exactly_batched_and_one_by_one(sampling):
    from rigged_chat import rigged_chat_model

    model, tokenizer = rigged_chat_model(RULES, default="[]")
    for batch_size in (4, 3, 1):  # one batch, a batch and a rest, one prompt at a time
        judge = LLMJudge(model, tokenizer, sampling=sampling, batch_size=batch_size, max_new_tokens=6, name="rig")
        labels = judge.extract_labels(TEXTS)
        assert judge.last_responses == RESPONSES, batch_size
        assert labels == [["happy", "excited"], [], ["happy", "excited"], []]
        assert judge.extract_sentiment([["happy", "excited"], "[sad]", [], "[happy, excited]"]) == [
            "positive",
            "neutral",
            "neutral",
            "positive",
        ]
    assert tokenizer.padding_side == "right"  # restored after the judge's left-padded batches
    assert judge.mode == f"llm-judge:rig:{'upstream-sampling' if sampling == 'upstream' else 'greedy'}"
