"""prompt.py: upstream's prompt bytes, and the chat template (built from the same strings) rendering those bytes."""

from __future__ import annotations

import pytest
from utils import TINY, UPSTREAM_FACE_PROMPT

from affectgpt_hf import AffectGPTProcessor
from affectgpt_hf.configuration_affectgpt import SUPPORTED_INPUT_MODES
from affectgpt_hf.prompt import QUESTIONS, render_prompt

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
