"""Upstream AffectGPT's prompt, questions, answer formats and answer parsing: the single source of these bytes.

Upstream builds a Vicuna-style ``###Human: ... ###Assistant: `` prompt (not the Qwen chat template) in
``base_dataset.get_prompt_for_multimodal``; each input mode names which modality sentences it contains.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

# Placeholder tokens, in the order of their ids (tokenizer.added_token_id gives them).
IMAGE_TOKEN = "<ImageHere>"
AUDIO_TOKEN = "<AudioHere>"
FRAME_TOKEN = "<FrameHere>"
FACE_TOKEN = "<FaceHere>"
MULTI_TOKEN = "<MultiHere>"
PLACEHOLDER_TOKENS = (IMAGE_TOKEN, AUDIO_TOKEN, FRAME_TOKEN, FACE_TOKEN, MULTI_TOKEN)

HUMAN = "###Human: "
ASSISTANT = " ###Assistant: "
ANSWER_STOP = "###"

QUESTIONS = {
    "ov_labels": "Please recognize all possible emotional states of the character.",
    "description": "Please infer the person's emotional state and provide your reasoning process.",
}
OV_ANSWER_PREFIX = "The character's emotional state is "

# Sentences of the prompt, verbatim from upstream.
_MULTI = "The audio and video merged info is: <Multi><MultiHere></Multi>. "
_AUDIO = "The audio content is as follows: <Audio><AudioHere></Audio>. "
_FACE_AFTER_AUDIO = (
    "Meanwhile, we uniformly sample raw frames from the video and extract faces from these frames: "
    "<Video><FaceHere></Video>. "
)
_FRAME_AFTER_AUDIO = "Meanwhile, we uniformly sample raw frames from the video: <Video><FrameHere></Video>. "
_FACE_ADDITIONALLY = (
    "Additionally, we uniformly sample raw frames from the video and extract faces from these frames: "
    "<Video><FaceHere></Video>. "
)
_FACE_FIRST = (
    "We uniformly sample raw frames from the video and extract faces from these frames: <Video><FaceHere></Video>. "
)
_FRAME_FIRST = "We uniformly sample raw frames from the video: <Video><FrameHere></Video>. "
_FRAME_FIRST_LOWER = "we uniformly sample raw frames from the video: <Video><FrameHere></Video>. "
_IMAGE = "The image content is as follows: <Image><ImageHere></Image>. "
_SUBTITLE = "The subtitle of this video is: <Subtitle>{subtitle}</Subtitle>. "
_CLOSING = "Now, please answer my question based on all the provided information. {question}" + ASSISTANT

# input mode -> (starts with "###Human: ", sentences). The three ablation modes of upstream have no "###Human: ".
INPUT_MODES: dict[str, tuple[bool, tuple[str, ...]]] = {
    "multiface_audio_face_text": (True, (_MULTI, _AUDIO, _FACE_AFTER_AUDIO, _SUBTITLE)),
    "multiframe_audio_frame_text": (True, (_MULTI, _AUDIO, _FRAME_AFTER_AUDIO, _SUBTITLE)),
    "multiface_audio_face_frame_text": (True, (_MULTI, _AUDIO, _FACE_AFTER_AUDIO, _FRAME_AFTER_AUDIO, _SUBTITLE)),
    "multiface_text": (True, (_MULTI, _SUBTITLE)),
    "faceframe": (True, (_AUDIO, _FRAME_AFTER_AUDIO, _FACE_ADDITIONALLY, _SUBTITLE)),
    "face": (True, (_AUDIO, _FACE_AFTER_AUDIO, _SUBTITLE)),
    "frame": (True, (_AUDIO, _FRAME_AFTER_AUDIO, _SUBTITLE)),
    "audioonly": (True, (_AUDIO,)),
    "textonly": (True, (_SUBTITLE,)),
    "faceonly": (True, (_FACE_FIRST,)),
    "frameonly": (True, (_FRAME_FIRST,)),
    "image": (True, (_IMAGE,)),
    "audio_text": (False, (_AUDIO, _SUBTITLE)),
    "face_text": (False, (_FACE_FIRST, _SUBTITLE)),
    "frame_text": (False, (_FRAME_FIRST_LOWER, _SUBTITLE)),
}


def modalities_of(input_mode: str) -> frozenset[str]:
    """The placeholder tokens an input mode's prompt contains (which towers and heads it needs)."""
    template = render_prompt(input_mode, subtitle="", question="")
    return frozenset(token for token in PLACEHOLDER_TOKENS if token in template)


def visual_token_of(input_mode: str) -> str | None:
    """`<FaceHere>` or `<FrameHere>`: the visual stream a mode reads (its token, or the multi token's source)."""
    tokens = modalities_of(input_mode)
    if FACE_TOKEN in tokens or input_mode.startswith("multiface"):
        return FACE_TOKEN
    if FRAME_TOKEN in tokens or input_mode.startswith("multiframe"):
        return FRAME_TOKEN
    return None


def uses_audio_of(input_mode: str) -> bool:
    """Whether a mode needs the audio track (for its audio token or the fused token)."""
    tokens = modalities_of(input_mode)
    return AUDIO_TOKEN in tokens or MULTI_TOKEN in tokens


def query_token_counts(video: int = 1, audio: int = 1, multi: int = 1) -> dict[str, int]:
    """Placeholder token -> how many times the prompt repeats it (one embedding per query token)."""
    return {FACE_TOKEN: video, FRAME_TOKEN: video, AUDIO_TOKEN: audio, MULTI_TOKEN: multi}


def render_prompt(
    input_mode: str,
    subtitle: str | None,
    question: str,
    query_tokens: dict[str, int] | None = None,
) -> str:
    """The exact upstream prompt for one sample; each placeholder repeated by its query-token count (default 1)."""
    if input_mode not in INPUT_MODES:
        raise ValueError(f"input_mode {input_mode!r} is unknown; expected one of {sorted(INPUT_MODES)}")
    with_human, sentences = INPUT_MODES[input_mode]
    body = "".join(sentences).replace("{subtitle}", "" if subtitle is None else _text(subtitle, "subtitle"))
    prompt = (HUMAN if with_human else "") + body + _CLOSING.replace("{question}", _text(question, "question"))
    for token, count in (query_tokens or {}).items():
        prompt = prompt.replace(token, token * count)
    return prompt


def question_for(task: str | None = None, question: str | None = None) -> str:
    """The question text: a free ``question`` wins, else the upstream question of ``task``."""
    if question is not None:
        return _text(question, "question")
    if task not in QUESTIONS:
        raise ValueError(f"task {task!r} is unknown; expected one of {sorted(QUESTIONS)} or a free question=")
    return QUESTIONS[task]


def format_ov_answer(labels: Sequence[str]) -> str:
    """Upstream's OV-label target: labels joined by ", "; an empty list becomes "neutral"."""
    labels = [label for label in labels if label]
    return f"{OV_ANSWER_PREFIX}{', '.join(labels) if labels else 'neutral'}."


def format_training_target(answer: str) -> str:
    """The supervised text after the prompt: the answer followed by upstream's ``###`` stop."""
    return answer + ANSWER_STOP


def extract_answer(decoded: str, eos_token: str | None = None) -> str:
    """Answer part of a decoded sequence: text after the prompt's last ``###Assistant:``, up to eos, cut before the
    last ``###``. An answer without ``###`` (truncated by max_new_tokens) survives whole, as upstream decoded only new
    tokens.
    """
    marker = ASSISTANT.strip()
    if marker in decoded:
        decoded = decoded.rsplit(marker, 1)[1]
    if eos_token and eos_token in decoded:
        decoded = decoded.split(eos_token, 1)[0]
    if ANSWER_STOP in decoded:
        decoded = decoded.rsplit(ANSWER_STOP, 1)[0]
    return decoded.strip()


class AnswerStream:
    """:func:`extract_answer` for text that arrives in pieces (a streamed answer): `feed` returns the newly certain
    part, `finish` the rest, and together they make ``extract_answer(everything fed, eos_token)``.

    Text is released up to the first ``###`` (where the answer may end), without leading whitespace and without a
    trailing run of whitespace or ``#`` (a later piece decides about it); `finish` releases what the whole text adds.
    The one case it cannot honour: an answer that writes the prompt's own ``###Assistant:`` after released text
    (`extract_answer` keeps only what follows the marker); `finish` then releases nothing more and sets `diverged`.
    """

    def __init__(self, eos_token: str | None = None):
        self.eos_token, self.text, self.released, self.diverged = eos_token, "", "", False

    def feed(self, piece: str) -> str:
        """Take the next piece of decoded text; return the part of the answer it makes certain (often "")."""
        self.text += piece
        head = self.text.split(ANSWER_STOP, 1)[0]
        if self.eos_token:
            head = head.split(self.eos_token, 1)[0]
        certain = head.lstrip().rstrip("# \t\n\r\f\v")
        return self._release(certain) if len(certain) > len(self.released) else ""

    def finish(self) -> str:
        """The rest of the answer once no text follows."""
        answer = extract_answer(self.text, self.eos_token)
        if not answer.startswith(self.released):
            self.diverged = True
            return ""
        return self._release(answer)

    def _release(self, certain: str) -> str:
        new = certain[len(self.released) :]
        self.released = certain
        return new


def parse_label_string(value: object) -> list[str]:
    """Upstream's ``string_to_list``: "[a, b]", "['a', 'b']", bare "a, b", NaN or "" -> list of labels."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays; np.str_ is parsed as a string
        value = value.tolist()
        if isinstance(value, list):
            return [str(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return []
    if not isinstance(value, str):
        raise ValueError(f"label string {value!r} is not a string or a list of labels")
    text = value
    if text == "":
        return []
    if text[0] == "[":
        text = text[1:]
    if text and text[-1] == "]":
        text = text[:-1]
    return [item.strip() for item in re.split("['\",]", text) if item.strip() not in ("", ",")]


def parse_ov_answer(answer: str) -> list[str]:
    """Labels of an OV answer ("The character's emotional state is a, b.") -> ["a", "b"], in order, no duplicates.

    Answers that do not follow the trained format return []: free text needs the label extractor in unibench.
    """
    text = answer.strip()
    start = text.lower().find(OV_ANSWER_PREFIX.lower())
    if start < 0:
        return []
    text = text[start + len(OV_ANSWER_PREFIX) :]
    text = text.split("\n", 1)[0].split(ANSWER_STOP, 1)[0].strip()
    if text.endswith("."):
        text = text[:-1]
    labels: list[str] = []
    for item in parse_label_string(text):
        item = re.sub(r"^(and|or)\s+", "", item.strip().strip(".").strip(), flags=re.IGNORECASE).lower()
        if item and item not in labels:
            labels.append(item)
    return labels


def reserved_placeholders(text: str) -> list[str]:
    """The placeholder tokens that ``text`` holds: in a subtitle or question, each would become one more slot for
    media features than the clip gives."""
    return [token for token in PLACEHOLDER_TOKENS if token in text]


def _text(value: object, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""  # upstream: a NaN subtitle in the CSV becomes ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}: {value!r}")
    reserved = reserved_placeholders(value)
    if reserved:
        raise ValueError(
            f"the {name} {value[:80]!r} holds {', '.join(reserved)}: the prompt reserves that text for the model's "
            f"media features; remove it from the {name}"
        )
    return value


def build_chat_template(input_mode: str, query_tokens: dict[str, int] | None = None) -> str:
    """A Jinja chat template that renders exactly `render_prompt(input_mode, subtitle, question)`.

    Message layout: one user message whose content holds a video block, an optional audio block and a text block (the
    subtitle; several text blocks are joined). The question comes from the template variables: `question=` (free text)
    or `task=` ("ov_labels" default, or "description").
    """
    subtitle_mark, question_mark = "\x00SUBTITLE\x00", "\x00QUESTION\x00"
    rendered = render_prompt(input_mode, subtitle_mark, question_mark, query_tokens)
    has_subtitle = subtitle_mark in rendered
    pieces = re.split(f"({subtitle_mark}|{question_mark})", rendered)

    def raw(text: str) -> str:
        return "{% raw %}" + text + "{% endraw %}" if text else ""

    body = "".join(
        "{{ ns.subtitle }}" if piece == subtitle_mark else "{{ ns.question }}" if piece == question_mark else raw(piece)
        for piece in pieces
    )
    task_cases = "".join(
        f"{{%- elif task is defined and task == {json.dumps(task)} -%}}{{%- set ns.question = {json.dumps(text)} -%}}"
        for task, text in QUESTIONS.items()
    )
    return (
        "{%- set ns = namespace(subtitle='', question="
        + json.dumps(QUESTIONS["ov_labels"])
        + ") -%}"
        + (
            "{%- for message in messages -%}{%- if message['role'] == 'user' -%}"
            "{%- if message['content'] is string -%}{%- set ns.subtitle = ns.subtitle + message['content'] -%}"
            "{%- else -%}{%- for block in message['content'] -%}{%- if block['type'] == 'text' -%}"
            "{%- set ns.subtitle = ns.subtitle + block['text'] -%}{%- endif -%}{%- endfor -%}{%- endif -%}"
            "{%- endif -%}{%- endfor -%}"
            if has_subtitle
            else ""
        )
        + "{%- if question is defined and question -%}{%- set ns.question = question -%}"
        + task_cases
        + "{%- elif task is defined and task -%}{{ raise_exception('unknown task: ' + task) }}{%- endif -%}"
        + body
    )
