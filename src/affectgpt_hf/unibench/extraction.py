"""From free text to labels (step 1) and from labels to sentiment (step 2), pluggable.

Two extractors share one interface (``extract_labels``, ``extract_sentiment``, ``mode``):
- ``LexiconExtractor`` (default, no model): OV answers ("The character's emotional state is a, b.") and label lists
  are read exactly; free descriptions are matched against the 7,386 wheel word forms with clause-level rules for
  negation, doubt and other people. Sentiment comes from the wheels' sectors.
- ``LLMJudge``: any chat model through transformers (or any ``generate_fn``) with upstream's prompts (paper App. E as
  upstream's ``toolkit/utils/qwen.py`` has them); greedy by default, upstream's sampling available.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..prompt import OV_ANSWER_PREFIX, parse_label_string, parse_ov_answer
from .resources import EmotionWheels, load_wheels

SENTIMENTS = ("positive", "negative", "neutral")


class LabelExtractor(Protocol):
    """What the scorer needs from an extractor; ``mode`` is recorded in every report."""

    mode: str

    def extract_labels(self, texts: Sequence[str]) -> list[list[str]]: ...

    def extract_sentiment(self, labels: Sequence[Sequence[str] | str]) -> list[str]: ...


# ----------------------------------------------------------------------------------------------------------------------
# Upstream prompts (toolkit/utils/qwen.py at fffca79: reason_to_openset_qwen, openset_to_sentiment_qwen). The second
# keeps upstream's runs of spaces, which come from backslash line continuations inside an indented string.

OPENSET_PROMPT = (
    "Please assume the role of an expert in the field of emotions. "
    "We provide clues that may be related to the emotions of the characters. Based on the provided clues, please "
    "identify the emotional states of the main character. "
    "The main character is the one with the most detailed clues. "
    "Please separate different emotional categories with commas and output only the clearly identifiable emotional "
    "categories in a list format. "
    "If none are identified, please output an empty list. "
    "Input: We cannot recognize his emotional state; Output: [] "
    "Input: His emotional state is happy, sad, and angry; Output: [happy, sad, angry] "
    "Input: {reason}; Output: "
)
_GAP = " " * 12
SENTIMENT_PROMPT = (
    f"Please act as an expert in the field of emotions. {_GAP}"
    f"We provide a few words to describe the emotions of a character. {_GAP}"
    f"Please choose the most likely sentiment from the given candidates: [positive, negative, neutral] {_GAP}"
    f"Please direct output answer without analyzing process. {_GAP}"
    f"Input: [joyful]; Output: positive {_GAP}"
    f"Input: []; Output: neutral {_GAP}"
    "Input: {reason}; Output: "
)
# vLLM SamplingParams of upstream's ew_metric.py; top_k=0 disables transformers' default top-k as vLLM's -1 does.
UPSTREAM_SAMPLING = {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "repetition_penalty": 1.05, "top_k": 0}
GREEDY = {"do_sample": False}
MAX_NEW_TOKENS = 512

_PREFIXES = ("输入", "输出", "翻译", "让我们来翻译一下：", "output", "Output", "input", "Input")


def postprocess_response(response: str) -> str:
    """Upstream's func_postprocess_qwen: strip one leading "Output"/"Input"-like word, a colon, and all newlines."""
    response = response.strip()
    for prefix in _PREFIXES:  # upstream tests each prefix once, in this order
        if response.startswith(prefix):
            response = response[len(prefix) :]
    response = response.strip()
    for colon in (":", "："):
        if response.startswith(colon):
            response = response[len(colon) :]
    return response.strip().replace("\n", "").strip()


def openset_prompt(reason: str) -> str:
    """Step-1 prompt (description -> label list) for one model answer."""
    return OPENSET_PROMPT.replace("{reason}", str(reason))


def sentiment_prompt(labels: Sequence[str] | str) -> str:
    """Step-2 prompt (label list -> positive/negative/neutral); lists are written as upstream's "[a, b]" strings."""
    reason = labels if isinstance(labels, str) else "[" + ", ".join(labels) + "]"
    return SENTIMENT_PROMPT.replace("{reason}", reason)


def sentiment_from_response(response: str) -> str:
    """Upstream's step-2 reading: exactly "positive"/"negative"/"neutral", anything else counts as neutral."""
    return response if response in SENTIMENTS else "neutral"


class LLMJudge:
    """Label extraction by a chat LLM with upstream's prompts, one user turn through the tokenizer's chat template.

    Give ``model`` + ``tokenizer`` (transformers), or ``generate_fn(rendered_prompts) -> responses`` (for vLLM, an
    API, or tests). ``sampling="greedy"`` (default) or ``"upstream"`` (temperature 0.7, top_p 0.8, repetition
    penalty 1.05). Raw step-1 responses of the last call stay in ``last_responses``.
    """

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        *,
        generate_fn: Callable[[list[str]], list[str]] | None = None,
        sampling: str = "greedy",
        batch_size: int = 8,
        max_new_tokens: int = MAX_NEW_TOKENS,
        name: str | None = None,
    ) -> None:
        if sampling not in ("greedy", "upstream"):
            raise ValueError(f"sampling={sampling!r}; expected 'greedy' or 'upstream'")
        if tokenizer is None:
            raise ValueError("LLMJudge needs a tokenizer (its chat template renders the prompts)")
        if model is None and generate_fn is None:
            raise ValueError("LLMJudge needs a model or a generate_fn")
        self.model, self.tokenizer, self.generate_fn = model, tokenizer, generate_fn
        self.sampling, self.batch_size, self.max_new_tokens = sampling, batch_size, max_new_tokens
        name = name or getattr(getattr(model, "config", None), "_name_or_path", None) or "custom"
        self.mode = f"llm-judge:{name}:{'upstream-sampling' if sampling == 'upstream' else 'greedy'}"
        self.last_responses: list[str] = []

    @classmethod
    def from_pretrained(cls, model_id: str, *, sampling: str = "greedy", **model_kwargs: Any) -> LLMJudge:
        """Load any causal chat LM and its tokenizer (e.g. "Qwen/Qwen2.5-7B-Instruct", upstream's judge)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_id)
        model_kwargs.setdefault("dtype", "auto")
        model = AutoModelForCausalLM.from_pretrained(model_id, **model_kwargs)
        return cls(model, tokenizer, sampling=sampling, name=model_id)

    def render(self, prompt: str) -> str:
        """The chat-template text of one user turn, generation prompt added (upstream's vLLM input)."""
        messages = [{"role": "user", "content": prompt}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _generate(self, rendered: list[str]) -> list[str]:
        if self.generate_fn is not None:
            return list(self.generate_fn(rendered))
        import torch

        tokenizer = self.tokenizer
        side = getattr(tokenizer, "padding_side", "right")
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        try:
            inputs = tokenizer(rendered, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            tokenizer.padding_side = side
        inputs = inputs.to(self.model.device)
        settings = UPSTREAM_SAMPLING if self.sampling == "upstream" else GREEDY
        with torch.no_grad():
            output = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, pad_token_id=tokenizer.pad_token_id, **settings
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    def _run(self, prompts: list[str]) -> list[str]:
        responses: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = [self.render(p) for p in prompts[start : start + self.batch_size]]
            out = self._generate(batch)
            if len(out) != len(batch):
                raise ValueError(f"the judge returned {len(out)} responses for {len(batch)} prompts")
            responses.extend(postprocess_response(r) for r in out)
        return responses

    def extract_labels(self, texts: Sequence[str]) -> list[list[str]]:
        """Step 1 for every text (OV answers too, as upstream did); responses parsed as upstream label strings."""
        self.last_responses = self._run([openset_prompt(t) for t in texts])
        return [parse_label_string(r) for r in self.last_responses]

    def extract_sentiment(self, labels: Sequence[Sequence[str] | str]) -> list[str]:
        """Step 2: one of positive/negative/neutral per label list (or upstream label string)."""
        return [sentiment_from_response(r) for r in self._run([sentiment_prompt(x) for x in labels])]


# ----------------------------------------------------------------------------------------------------------------------
# Offline extractor.

# Wheel sectors by valence (level 1 of the five wheels); "surprised" is neither.
POSITIVE_SECTORS = frozenset({"happy", "joyful", "joy", "powerful", "peaceful", "genius"})
NEGATIVE_SECTORS = frozenset(
    {"mad", "disgusted", "sad", "scared", "fearful", "angry", "bad", "anger", "fear", "disgust"}
)

# Word forms of the wheel vocabulary that in descriptions are nearly always something else ("the content of the
# subtitle", "facial expression", "might", "a bit"); a lexicon cannot tell these uses apart, so they are skipped.
STOP_FORMS = frozenset(
    """mean means meaning content contents present low open close sharp touch move moving emotion emotions emotional
    face facial might mind person bit sense sensing thought thinking speaking shaking rest clear clearly certain strong
    weak question focus positive negative state tend to""".split()
)
_NEGATORS = frozenset(
    "not no never without nor neither hardly barely lack lacks lacking absence absent devoid free rather "
    "instead".split()
)
_NEGATION_WINDOW = 3
_CLAUSE_SPLIT = re.compile(
    r"[.!?;:\n]+|,?\s+\b(?:but|while|whereas|although|though|however|yet)\b|\(|\)", flags=re.IGNORECASE
)
_DOUBT = re.compile(
    r"\b(?:unclear|not clear|uncertain (?:whether|if)|not sure (?:whether|if)|hard to (?:tell|say|determine)|"
    r"difficult to (?:tell|say|determine|judge|identify|recognize)|cannot (?:be )?(?:determined?|tell|recognized?|"
    r"identified|identify))\b"
)
_NO_EMOTION = re.compile(
    r"\b(?:no (?:obvious |clear |strong |specific |particular |apparent |discernible )?emotions?|"
    r"(?:emotion|emotional state)s? (?:is|are|remains?) (?:neutral|calm and neutral))\b"
)
_OTHERS = (
    r"(?:the )?other (?:person|people|man|woman|character|party|speaker|individual)s?|others|someone else|"
    r"the (?:interlocutor|listener|audience|interviewer|crowd|people around)|"
    r"another (?:person|character|man|woman|speaker)|the (?:man|woman|person) (?:next to|beside|opposite)"
)
_OTHERS_SUBJECT = re.compile(rf"^\s*(?:and\s+)?(?:{_OTHERS})\b")
_OTHERS_FEEL = re.compile(
    rf"\b(?:{_OTHERS})\s+(?:\w+\s+)?(?:feels?|felt|seems?|seemed|appears?|appeared|looks?|looked|is|are|was|were|"
    r"becomes?|became|remains?|makes?|made)\b"
)
_TOKEN = re.compile(r"[a-z]+(?:[-'][a-z]+)*")


def _is_label_list(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("[") and stripped.endswith("]") and "\n" not in stripped


class LexiconExtractor:
    """Deterministic, model-free extraction over the wheel vocabulary (the default when no judge is given)."""

    mode = "offline-lexicon"

    def __init__(self, wheels: EmotionWheels | None = None) -> None:
        self.wheels = wheels or load_wheels()
        self._vocab = self.wheels.vocabulary - STOP_FORMS
        self._max_words = max(len(form.split()) for form in self._vocab)
        self._polarity: dict[str, int] = {}

    # step 1 -----------------------------------------------------------------------------------------------------------
    def extract_labels(self, texts: Sequence[str]) -> list[list[str]]:
        """Labels per text: OV answers and "[a, b]" lists exactly; free descriptions by lexicon matching."""
        return [self.extract_one(text) for text in texts]

    def extract_one(self, text: str) -> list[str]:
        """Labels of one model answer, in order of first mention, without duplicates."""
        if text is None:
            return []
        text = str(text)
        if OV_ANSWER_PREFIX.lower() in text.lower():
            labels = parse_ov_answer(text)
            if labels:
                return labels
        if _is_label_list(text):
            return _dedupe(item.lower().strip() for item in parse_label_string(text.strip()))
        return self.match_description(text)

    def match_description(self, text: str) -> list[str]:
        """Emotion words of a free description said of the character, not negated, not doubted, not of others."""
        text = text.lower().replace("’", "'").replace("n't", " not")
        found: list[str] = []
        for clause in _CLAUSE_SPLIT.split(text):
            if not clause or not clause.strip():
                continue
            if _DOUBT.search(clause) or _NO_EMOTION.search(clause) or _OTHERS_SUBJECT.search(clause):
                continue
            others = _OTHERS_FEEL.search(clause)
            cutoff = others.start() if others else len(clause)
            tokens = [(m.group(0), m.start()) for m in _TOKEN.finditer(clause)]
            words = [t for t, _ in tokens]
            i = 0
            while i < len(words):
                match = None
                for n in range(min(self._max_words, len(words) - i), 0, -1):
                    candidate = " ".join(words[i : i + n])
                    if candidate in self._vocab:
                        match = (candidate, n)
                        break
                if match is None:
                    i += 1
                    continue
                form, n = match
                if tokens[i][1] < cutoff and not self._negated(words, i) and not _other_use(words, i, form):
                    found.append(form)
                i += n
        return _dedupe(found)

    @staticmethod
    def _negated(words: list[str], i: int) -> bool:
        window = words[max(0, i - _NEGATION_WINDOW) : i]
        if "only" in window and "not" in window:  # "not only angry but also ..."
            return False
        return any(w in _NEGATORS for w in window)

    # step 2 -----------------------------------------------------------------------------------------------------------
    def polarity(self, label: str) -> int:
        """+1 / -1 / 0 for one label: the vote of every wheel sector reachable from it (all 5 wheels, every wheel
        word its synonyms reach), which avoids the alphabetical tie-break's odd single choices ("fear" -> happy)."""
        label = str(label).lower().strip()
        if label not in self._polarity:
            score = 0
            for raw in self.wheels.format2raws.get(label, ()):
                for word in self.wheels.raw2wheel.get(raw, ()):
                    for words in self.wheels.wheel_words:
                        sector = words.get(word)
                        score += (sector in POSITIVE_SECTORS) - (sector in NEGATIVE_SECTORS)
            self._polarity[label] = (score > 0) - (score < 0)
        return self._polarity[label]

    def extract_sentiment(self, labels: Sequence[Sequence[str] | str]) -> list[str]:
        """positive / negative / neutral per label list: the sign of the summed label polarities (empty: neutral)."""
        out = []
        for item in labels:
            items = parse_label_string(item) if isinstance(item, str) else list(item)
            total = sum(self.polarity(x) for x in items)
            out.append("positive" if total > 0 else "negative" if total < 0 else "neutral")
        return out


def _other_use(words: list[str], i: int, form: str) -> bool:
    """A non-emotional use visible from the next word ("interesting to note that")."""
    end = i + len(form.split())
    return form == "interesting" and end < len(words) and words[end] in ("to", "that")


def _dedupe(items) -> list[str]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out


def get_extractor(judge: str | LabelExtractor | None = None, **kwargs: Any) -> LabelExtractor:
    """The extractor for a ``--judge`` value: None -> LexiconExtractor; a model id or folder -> an LLMJudge."""
    if judge is None:
        return LexiconExtractor(kwargs.get("wheels"))
    if isinstance(judge, str):
        return LLMJudge.from_pretrained(judge, sampling=kwargs.get("sampling", "greedy"))
    return judge
