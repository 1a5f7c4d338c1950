"""hub_configs/: the committed folders equal what the package writes, and load offline with the Auto classes."""

from __future__ import annotations

import filecmp
import runpy

import pytest
from transformers import AutoConfig, AutoProcessor, GenerationConfig
from utils import REPO

from affectgpt_hf.hub.variants import VARIANTS

pytestmark = pytest.mark.timeout(120)
HUB = REPO / "hub_configs"


def test_committed_folders_equal_generated(tmp_path):
    runpy.run_path(str(HUB / "generate.py"))["main"](tmp_path)
    for name in VARIANTS:
        names = sorted(p.name for p in (tmp_path / name).iterdir())
        match, mismatch, errors = filecmp.cmpfiles(tmp_path / name, HUB / name, names, shallow=False)
        assert not mismatch and not errors, (name, mismatch, errors)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_folders_load_offline(name):
    config = AutoConfig.from_pretrained(HUB / name)
    processor = AutoProcessor.from_pretrained(HUB / name)
    generation = GenerationConfig.from_pretrained(HUB / name)
    assert processor.input_mode == config.input_mode
    tokenizer = processor.tokenizer
    assert tokenizer.convert_tokens_to_ids("<MultiHere>") == config.multi_token_id
    assert generation.do_sample is False and generation.top_k is None
    assert generation.eos_token_id == [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>"), 14374]
    assert tokenizer.convert_tokens_to_ids("###") == 14374
    assert not any(p.suffix in (".safetensors", ".bin") or p.stat().st_size > 100_000 for p in (HUB / name).iterdir())


def test_paper_variant_defaults():
    config = AutoConfig.from_pretrained(HUB / "affectgpt-qwen2.5-7b")
    assert (config.text_config.hidden_size, config.vision_config.projection_dim, config.audio_config.hidden_size) == (
        3584,
        768,
        1024,
    )
    assert (config.video_pooling, config.fusion, config.softmax_attention_weights) == ("attention", "attention", False)
    assert config.input_mode == "multiface_audio_face_text"
    frame = AutoConfig.from_pretrained(HUB / "affectgpt-qwen2.5-7b-frame")
    assert frame.input_mode == "multiframe_audio_frame_text"
