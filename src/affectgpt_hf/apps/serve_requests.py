"""What an `affectgpt serve` chat request may ask: one user message holding one clip (a `video_url` part), at most one
separate audio track (`audio_url` or `input_audio`), text parts that are the subtitle, and the task or a free question
in `chat_template_kwargs`. :func:`admit` checks a request against that and against the limits, reads its media under
the fetch rules (media_fetch.py) and checks that they open; a :class:`Refusal` names the first problem."""

from __future__ import annotations

from dataclasses import dataclass

from ..prompt import QUESTIONS, reserved_placeholders
from .arguments import Limits
from .media_fetch import MediaRules, Refusal

TEMPLATE_OPTIONS = ("task", "question")  # the chat_template_kwargs a request may set
SHAPE = (
    "expected one user message whose content holds one video_url part, at most one audio_url or input_audio part, "
    "and text parts with the subtitle"
)


@dataclass(frozen=True)
class Admitted:
    """What an admitted request asks: upstream's ``task`` question, or a free ``question``."""

    task: str = "ov_labels"
    question: str | None = None


def admit(body: dict, rules: MediaRules, limits: Limits, max_new_tokens: int | None = None) -> Admitted:
    """Check an OpenAI chat-completion body against what AffectGPT reads; replace each media part's URL in ``body`` by
    what was read (bytes, or the real path of a file under the media folder: the processor opens it with
    media.open_media), an `input_audio` part by an `audio_url` part. ``max_new_tokens``: the most tokens a request may
    ask for (`max_tokens`). Blocking (it may download): run it in a thread."""
    _check_generation(body, max_new_tokens)
    content = _content(body.get("messages"))
    parts = {"text": [], "video_url": [], "audio": []}
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("text", "video_url", "audio_url", "input_audio"):
            raise Refusal("unsupported_part", f"a content part of type {kind!r} is not read; {SHAPE}")
        parts["audio" if kind in ("audio_url", "input_audio") else kind].append(part)
    if not parts["video_url"]:
        raise Refusal("no_video", f"the message has no video_url part: AffectGPT describes a clip; {SHAPE}")
    if len(parts["video_url"]) > 1:
        raise Refusal("too_many_videos", f"the message has {len(parts['video_url'])} video_url parts; {SHAPE}")
    if len(parts["audio"]) > 1:
        raise Refusal("too_many_audio_tracks", f"the message has {len(parts['audio'])} audio parts; {SHAPE}")
    _check_text(parts["text"], limits)
    admitted = _options(body, limits)
    if body.get("tools"):
        raise Refusal("unsupported_option", "tools are not supported: AffectGPT answers in text only")
    video = parts["video_url"][0]
    video["video_url"] = {"url": _checked(rules.read(_url(video, "video_url"), "video_url"), "video_url", limits)}
    if parts["audio"]:
        audio, kind = parts["audio"][0], parts["audio"][0]["type"]
        if kind == "input_audio":
            data = audio.get("input_audio")
            read = rules.decode_base64(data.get("data") if isinstance(data, dict) else data, kind)
        else:
            read = rules.read(_url(audio, kind), kind)
        audio.clear()  # transformers' handler makes an input_audio part a data: URI string, so it becomes an audio_url
        audio.update(type="audio_url", audio_url={"url": _checked(read, kind, limits)})
    return admitted


def _check_generation(body: dict, max_new_tokens: int | None) -> None:
    """The answer's length within the server's bound; no `generation_config` (transformers' extension, which would let
    a request set any generation argument: beams, lengths)."""
    if body.get("generation_config") is not None:
        raise Refusal("unsupported_option", "generation_config is not accepted; use max_tokens, temperature and top_p")
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise Refusal("bad_option", f"{key} = {value!r}; expected a positive number of tokens")
        if max_new_tokens is not None and value > max_new_tokens:
            raise Refusal("max_tokens_too_large", f"{key} = {value}; this server answers with at most {max_new_tokens}")


def _content(messages: object) -> list:
    if not isinstance(messages, list) or len(messages) != 1 or not isinstance(messages[0], dict):
        count = len(messages) if isinstance(messages, list) else 0
        raise Refusal("bad_messages", f"got {count} messages; AffectGPT's prompt has one turn: {SHAPE}")
    message = messages[0]
    if message.get("role") != "user":
        raise Refusal("bad_messages", f"the message's role is {message.get('role')!r}; {SHAPE}")
    if isinstance(message.get("content"), str):  # a plain string is a subtitle without a clip
        message["content"] = [{"type": "text", "text": message["content"]}]
    if not isinstance(message.get("content"), list):
        raise Refusal("bad_messages", f"the message has no content parts; {SHAPE}")
    return message["content"]


def _check_text(parts: list[dict], limits: Limits) -> None:
    if any(not isinstance(part.get("text"), str) for part in parts):
        raise Refusal("bad_text", "a text part's text is not a string; text parts hold the clip's subtitle")
    subtitle = "".join(part["text"] for part in parts)
    if len(subtitle) > limits.max_text_chars:
        raise Refusal(
            "subtitle_too_long",
            f"the subtitle (the text parts together) has {len(subtitle)} characters; the limit is "
            f"{limits.max_text_chars:g}",
        )
    _check_placeholders(subtitle, "the subtitle")


def _check_placeholders(text: str, what: str) -> None:
    """Text must not hold the prompt's placeholder tokens: the model fills exactly one slot per modality token."""
    found = reserved_placeholders(text)
    if found:
        raise Refusal("reserved_token", f"{what} holds {', '.join(found)}, which only the prompt's media slots may use")


def _options(body: dict, limits: Limits) -> Admitted:
    """The task or free question from ``chat_template_kwargs``; other keys are refused (they would reach the
    processor)."""
    options = body.get("chat_template_kwargs") or {}
    if not isinstance(options, dict):
        raise Refusal("bad_option", f"chat_template_kwargs must be an object with {' or '.join(TEMPLATE_OPTIONS)}")
    unknown = sorted(set(options) - set(TEMPLATE_OPTIONS))
    if unknown:
        expected = " and/or ".join(TEMPLATE_OPTIONS)
        raise Refusal("unknown_option", f"chat_template_kwargs {unknown} are not read; expected {expected}")
    task, question = options.get("task", "ov_labels"), options.get("question")
    if task not in QUESTIONS:
        raise Refusal("unknown_task", f"task {task!r} is unknown; expected one of {sorted(QUESTIONS)} or a question")
    if question is not None and not isinstance(question, str):
        raise Refusal("bad_option", f"question must be a string, got {type(question).__name__}")
    if question is not None and len(question) > limits.max_text_chars:
        raise Refusal(
            "question_too_long", f"the question has {len(question)} characters; the limit is {limits.max_text_chars:g}"
        )
    if question:
        _check_placeholders(question, "the question")
    return Admitted(task=task, question=question or None)


def _url(part: dict, kind: str) -> object:
    value = part.get(kind)
    return value.get("url") if isinstance(value, dict) else value


def _checked(source: bytes | str, part: str, limits: Limits) -> bytes | str:
    """``source`` once media.py opens it as a real container whose length is within the limit (counted from its
    packets, as the Space counts uploads)."""
    from ..media import measure

    try:
        extent = measure(source, expected=f"a video or audio file for {part}", stop_after=limits.max_seconds)
    except ValueError as error:
        raise Refusal("unreadable_media", f"{part}: {error}") from None
    if extent.seconds > limits.max_seconds:
        raise Refusal(
            "media_too_long",
            f"{part}: the media lasts at least {extent.seconds:.1f} s; the limit is {limits.max_seconds:g} s per clip",
        )
    return source


__all__ = ["TEMPLATE_OPTIONS", "Admitted", "admit"]
