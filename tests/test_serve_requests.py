"""apps/serve_requests.py: which chat requests `affectgpt serve` admits. One user message with one clip, at most one
audio part, the subtitle in text parts within the Space's cap, a known task or a free question, no placeholder tokens;
media read under the fetch rules and opened by media.py (a playlist, noise, a truncated file or an over-long clip is
refused); what is read replaces each URL in the body, as transformers' handler then passes it to the processor."""

from __future__ import annotations

import base64
import copy

import numpy as np
import pytest
from utils import make_clip, playlist

from affectgpt_hf.apps.arguments import Limits
from affectgpt_hf.apps.media_fetch import MediaRules, Refusal
from affectgpt_hf.apps.serve_requests import Admitted, admit
from affectgpt_hf.data.writers import write_audio


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    make_clip(folder / "clip.mp4", seconds=2.0, seed=3)
    make_clip(folder / "long.mp4", seconds=6.0, seed=4)
    write_audio(folder / "voice.wav", (0.2 * np.sin(np.arange(32000) / 9)).astype(np.float32), 16000)
    (folder / "list.m3u8").write_text(playlist("clip.mp4"))
    clip = (folder / "clip.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(clip[: len(clip) // 2])
    (folder / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return folder


def request(*parts, **options) -> dict:
    body = {"model": "m", "messages": [{"role": "user", "content": list(parts)}]}
    if options:
        body["chat_template_kwargs"] = options
    return body


def video(url: str) -> dict:
    return {"type": "video_url", "video_url": {"url": url}}


def text(value: str) -> dict:
    return {"type": "text", "text": value}


def data_uri(path) -> str:
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()


RULES_LIMITS = {"max_seconds": 5.0, "max_text_chars": 40.0}


def check(body: dict, media) -> Admitted:
    return admit(body, MediaRules(media_dir=str(media), max_bytes=2_000_000), Limits(**RULES_LIMITS), 100)


def refusal(body: dict, media) -> Refusal:
    with pytest.raises(Refusal) as info:
        check(body, media)
    return info.value


def test_admitted_requests_carry_what_was_read(media):
    body = dict(request(video("clip.mp4"), text("I told you "), text("already."), task="description"), max_tokens=100)
    assert check(body, media) == Admitted(task="description", question=None)
    assert body["messages"][0]["content"][0] == video(str((media / "clip.mp4").resolve()))
    assert body["messages"][0]["content"][1:] == [text("I told you "), text("already.")]  # the template joins them
    clip_uri = data_uri(media / "clip.mp4")
    wav = base64.b64encode((media / "voice.wav").read_bytes()).decode()
    body = request(text("hi"), video(clip_uri), {"type": "input_audio", "input_audio": {"data": wav, "format": "wav"}})
    assert check(body, media) == Admitted(task="ov_labels", question=None)
    parts = body["messages"][0]["content"]
    assert parts[1] == {"type": "video_url", "video_url": {"url": (media / "clip.mp4").read_bytes()}}
    assert parts[2] == {"type": "audio_url", "audio_url": {"url": (media / "voice.wav").read_bytes()}}
    body = request(video("clip.mp4"), {"type": "audio_url", "audio_url": {"url": "voice.wav"}}, question="Why?")
    assert check(body, media) == Admitted(task="ov_labels", question="Why?")
    assert body["messages"][0]["content"][1]["audio_url"]["url"] == str((media / "voice.wav").resolve())
    string_content = {"model": "m", "messages": [{"role": "user", "content": "only words"}]}
    assert refusal(string_content, media).code == "no_video"  # a string is a subtitle without a clip


# body -> (code, status, words the message holds)
BAD = {
    "no video": (request(text("hello")), "no_video", 400, "no video_url part"),
    "two videos": (request(video("clip.mp4"), video("clip.mp4")), "too_many_videos", 400, "2 video_url parts"),
    "two audio tracks": (
        request(video("clip.mp4"), *[{"type": "audio_url", "audio_url": {"url": "voice.wav"}}] * 2),
        "too_many_audio_tracks",
        400,
        "2 audio parts",
    ),
    "an image": (
        request(video("clip.mp4"), {"type": "image_url", "image_url": {"url": "x.png"}}),
        "unsupported_part",
        400,
        "'image_url'",
    ),
    "a long subtitle": (request(video("clip.mp4"), text("x" * 41)), "subtitle_too_long", 400, "41 characters"),
    "a placeholder": (request(video("clip.mp4"), text("<AudioHere>")), "reserved_token", 400, "<AudioHere>"),
    "an unknown task": (request(video("clip.mp4"), task="poetry"), "unknown_task", 400, "'poetry'"),
    "an unknown option": (request(video("clip.mp4"), faces="auto"), "unknown_option", 400, "['faces']"),
    "a long question": (request(video("clip.mp4"), question="y" * 41), "question_too_long", 400, "41 characters"),
    "two turns": (
        {"messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": [video("clip.mp4")]}]},
        "bad_messages",
        400,
        "2 messages",
    ),
    "an assistant turn": (
        {"messages": [{"role": "assistant", "content": [video("clip.mp4")]}]},
        "bad_messages",
        400,
        "'assistant'",
    ),
    "tools": (dict(request(video("clip.mp4")), tools=[{"type": "function"}]), "unsupported_option", 400, "tools"),
    "too many tokens": (dict(request(video("clip.mp4")), max_tokens=101), "max_tokens_too_large", 400, "at most 100"),
    "no tokens": (dict(request(video("clip.mp4")), max_completion_tokens=0), "bad_option", 400, "completion_tokens"),
    "a generation config": (
        dict(request(video("clip.mp4")), generation_config='{"num_beams": 64}'),
        "unsupported_option",
        400,
        "generation_config",
    ),
    "a playlist": (request(video("list.m3u8")), "unreadable_media", 400, "'hls'"),
    "noise": (request(video("noise.mp4")), "unreadable_media", 400, "not a readable media file"),
    "a truncated clip": (request(video("truncated.mp4")), "unreadable_media", 400, "truncated.mp4"),
    "a long clip": (request(video("long.mp4")), "media_too_long", 400, "limit is 5 s"),
    "a path outside": (request(video("../elsewhere.mp4")), "outside_media_dir", 403, "--media-dir"),
    "a remote clip": (request(video("https://example.com/clip.mp4")), "remote_media_disabled", 403, "remote"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_are_refused_with_a_named_reason(case, media):
    body, code, status, words = BAD[case]
    found = refusal(copy.deepcopy(body), media)
    assert (found.code, found.status) == (code, status), str(found)
    assert words in str(found)


def test_the_audio_part_is_checked_like_the_video(media):
    audio = {"type": "audio_url", "audio_url": {"url": "list.m3u8"}}
    found = refusal(request(video("clip.mp4"), audio), media)
    assert found.code == "unreadable_media" and str(found).startswith("audio_url: ")
    noise = base64.b64encode((media / "noise.mp4").read_bytes()).decode()
    found = refusal(request(video("clip.mp4"), {"type": "input_audio", "input_audio": {"data": noise}}), media)
    assert found.code == "unreadable_media" and str(found).startswith("input_audio: ")
