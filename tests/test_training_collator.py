"""training/collator.py: upstream's training sequence built from MER-Caption rows, raw or with cached features; the
question drawn by (seed, epoch, name); over-long samples redrawn deterministically. Fixtures `release`, `rows` and
`feature_cache` (the mini MER-Caption+ release) are conftest's."""

from __future__ import annotations

import datasets
import pytest
from utils import ROWS

from affectgpt_hf.data.sft import pick_pair
from affectgpt_hf.prompt import format_training_target, render_prompt


@pytest.mark.timeout(60)
def test_collator_builds_upstream_sequence(rows, tiny_processor):
    """bos + prompt + answer + "###" + eos; prompt and target tokenized apart; labels -100 exactly over bos + prompt;
    the final eos supervised but masked in attention (pad == eos); right padding."""
    from affectgpt_hf.training import AffectGPTSFTCollator

    collator = AffectGPTSFTCollator(tiny_processor, seed=42)
    batch_rows = [rows[0], rows[1], rows[2]]
    batch = collator(batch_rows)
    tok = tiny_processor.tokenizer
    bos, eos = tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.pad_token_id == eos and tok.bos_token_id == bos
    lengths = []
    for i, row in enumerate(batch_rows):
        _, question, answer = pick_pair(row, 42, 0)
        prompt = render_prompt("multiframe_audio_frame_text", row["subtitle"], question)
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        target_ids = tok(format_training_target(answer), add_special_tokens=False)["input_ids"]
        expected = [bos, *prompt_ids, *target_ids, eos]
        lengths.append(len(expected))
        ids = batch["input_ids"][i].tolist()
        assert ids[: len(expected)] == expected
        assert all(t == eos for t in ids[len(expected) :])  # right padding with pad (= eos)
        labels = batch["labels"][i].tolist()
        assert labels[: 1 + len(prompt_ids)] == [-100] * (1 + len(prompt_ids))  # bos + prompt
        assert labels[1 + len(prompt_ids) : len(expected)] == [*target_ids, eos]  # answer, "###" and eos supervised
        assert all(t == -100 for t in labels[len(expected) :])
        mask = batch["attention_mask"][i].tolist()
        assert mask[: len(expected) - 1] == [1] * (len(expected) - 1)
        assert mask[len(expected) - 1] == 0  # quirk: the supervised final eos is masked in attention
        assert tok.decode(target_ids).endswith("###")
    assert batch["input_ids"].shape[1] == max(lengths)
    assert batch["pixel_values_videos"].shape == (3, 8, 3, 224, 224)
    assert batch["input_values"].shape == (3, 8, 32000)


@pytest.mark.timeout(60)
def test_question_follows_seed_epoch_and_name(feature_cache, tiny_processor):
    """The hybrid question of each sample is pick_pair(row, seed, epoch): the collator follows its epoch."""
    from affectgpt_hf.training import AffectGPTSFTCollator

    cached = datasets.load_from_disk(str(feature_cache))
    collator = AffectGPTSFTCollator(tiny_processor, seed=42)
    seen = set()
    for epoch in range(4):
        collator.epoch = epoch
        for row in cached:
            _, question, _ = pick_pair(row, 42, epoch)
            _, _, _, prompt = collator.encode_or_redraw(row)
            assert prompt.endswith(f"{question} ###Assistant: ")
            seen.add(question)
    assert len(seen) == 2  # both upstream tasks are drawn


@pytest.mark.timeout(60)
def test_overlong_samples_are_redrawn_deterministically(feature_cache, tiny_processor):
    """Upstream re-draws another sample when prompt + answer exceed max_length; here the replacement is fixed by
    (seed, epoch, name, attempt), and with no replacement that fits the error names the sample."""
    from affectgpt_hf.training import AffectGPTSFTCollator, redraw_index

    cached = datasets.load_from_disk(str(feature_cache))
    long_row = {**cached[0], "name": "too_long", "description": "word " * 400, "ov_labels": None}
    table = [long_row, *[cached[i] for i in range(1, ROWS)]]
    collator = AffectGPTSFTCollator(tiny_processor, seed=42, max_length=300, dataset=table)
    lengths = [sum(map(len, collator.encode(row)[:2])) for row in table]
    assert lengths[0] > 300 and max(lengths[1:]) <= 300
    first = next(k for k in range(10) if redraw_index(42, 0, "too_long", k, len(table)) != 0)
    replacement, *_ = collator.encode_or_redraw(long_row)
    assert replacement["name"] == table[redraw_index(42, 0, "too_long", first, len(table))]["name"]
    batch = collator([long_row, table[1]])
    assert batch["input_ids"].shape[0] == 2 and "video_features" in batch
    with pytest.raises(ValueError, match="too_long.*max_length=300"):
        AffectGPTSFTCollator(tiny_processor, max_length=300)([long_row])
