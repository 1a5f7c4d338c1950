"""The crowdsourcing pipeline end to end on generated clips: tiny Qwen2 merge LLM in process, 2 CPU ranks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from utils import REPO

sys.path.insert(0, str(REPO / "dataset_scripts"))

from crowdsource import dummy  # noqa: E402
from crowdsource.models import HFTextLLM  # noqa: E402
from crowdsource.pipeline import (  # noqa: E402
    ClipFailure,
    Models,
    ResultCache,
    find_clips,
    merge_results,
    run_clips,
)

from affectgpt_hf.data import load_mer_caption  # noqa: E402
from affectgpt_hf.data.mini_release import write_mini_release  # noqa: E402


def _release(tmp_path: Path, count: int) -> Path:
    root = write_mini_release(tmp_path, "mer_caption_plus", count=count)
    for table in ("track2_train_mercaptionplus.csv", "track3_train_mercaptionplus.csv"):
        (root / table).unlink()  # the pipeline writes these
    return root


def _tiny_llm() -> HFTextLLM:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {char: index for index, char in enumerate(alphabet)} | {"<eos>": len(alphabet)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", pad_token="<eos>")
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=2048, eos_token_id=len(alphabet), pad_token_id=len(alphabet),
    )  # fmt: skip
    return HFTextLLM(Qwen2ForCausalLM(config), tokenizer, max_new_tokens=6, device="cpu")


@pytest.mark.timeout(90)
def test_pipeline_tiny_llm_resumes_and_feeds_the_builder(tmp_path):
    root = _release(tmp_path, 3)
    clips = find_clips(root)
    assert [c.subtitle for c in clips] == ["I told you already.", "That is wonderful news!", ""]
    llm = _tiny_llm()
    models = Models(audio=dummy.audio, video=dummy.video, merge=llm, classifiers=[])
    cache = tmp_path / "cache"
    assert run_clips(clips[:1], models, cache, batch_size=2, progress=False) == 7  # 7 stages x 1 clip
    assert run_clips(clips, models, cache, batch_size=2, progress=False) == 14  # only the two new clips
    assert run_clips(clips, models, cache, batch_size=2, progress=False) == 0  # all cached
    assert isinstance(ResultCache(cache).get(clips[0].name, "description"), str)
    counts = merge_results(clips, cache, root, length_quantiles=(0.0, 1.0))
    assert counts == {"clips": 3, "kept": 3, "dropped": 0, "failed": 0}
    ds = load_mer_caption(root, cache_dir=tmp_path / "hf")
    assert ds["name"] == [c.name for c in clips]


@pytest.mark.timeout(60)
def test_filters_name_what_they_drop(tmp_path):
    root = _release(tmp_path, 5)
    clips = find_clips(root)
    models = Models(
        audio=dummy.audio,
        video=dummy.video,
        merge=dummy.merge,
        classifiers=[dummy.classifier, dummy.disagreeing_classifier, dummy.classifier],
        speaker=lambda batch: [clip.name != "sample_00000001" for clip in batch],
    )
    run_clips(clips, models, tmp_path / "cache", progress=False)
    counts = merge_results(clips, tmp_path / "cache", root, length_quantiles=(0.0, 1.0))
    report = pd.read_csv(root / "filter_report.csv").set_index("name")
    assert report.loc["sample_00000001", "reason"].startswith("low-level: the visible person is not the speaker")
    assert counts["dropped"] == 1 and counts["kept"] == 4
    # a majority that disagrees with the description is dropped by the high-level filter
    models.classifiers = [dummy.disagreeing_classifier]
    run_clips(clips, models, tmp_path / "cache2", progress=False)
    merge_results(clips, tmp_path / "cache2", tmp_path / "out2", length_quantiles=(0.0, 1.0))
    report = pd.read_csv(tmp_path / "out2" / "filter_report.csv")
    dropped = report[~report["kept"]]
    assert len(dropped) >= 1 and all(r.startswith("high-level") for r in dropped["reason"] if "speaker" not in r)
    # length tails: the shortest / longest descriptions go
    merge_results(clips, tmp_path / "cache", tmp_path / "out3", length_quantiles=(0.3, 0.7), length_unit="chars")
    reasons = pd.read_csv(tmp_path / "out3" / "filter_report.csv")["reason"].dropna()
    assert any("description length" in r for r in reasons)


@pytest.mark.timeout(120)
def test_two_cpu_processes_under_torchrun(tmp_path):
    root = _release(tmp_path, 4)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        str(REPO / "dataset_scripts" / "crowdsource" / "run.py"),
        "--data-dir", str(root), "--out", str(root), "--audio-model", "crowdsource.dummy:audio",
        "--video-model", "crowdsource.dummy:video", "--merge-model", "crowdsource.dummy:merge",
        "--classifier", "crowdsource.dummy:classifier", "--length-quantiles", "0", "1", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "dataset_scripts"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=110)
    assert result.returncode == 0, result.stderr[-3000:]
    parts = sorted(p.name for p in (root / "crowdsource_cache").glob("part-*.jsonl"))
    assert parts == ["part-00000.jsonl", "part-00001.jsonl"]  # each rank wrote its share
    assert "'kept': 4" in result.stdout
    ds = load_mer_caption(root, cache_dir=tmp_path / "hf")
    assert len(ds) == 4 and all(labels for labels in ds["ov_labels"])


@pytest.mark.timeout(60)
def test_clips_a_model_cannot_take_or_answers_empty_fail_and_the_rest_go_on(tmp_path):
    root = _release(tmp_path, 5)
    clips = find_clips(root)

    def audio(batch, prompt):  # sample 0: no audio; sample 1: an empty answer; the rest as the stand-in
        answers = dummy.audio(batch, prompt)
        return [
            ClipFailure("no audio track") if c.name.endswith("0") else "  " if c.name.endswith("1") else a
            for c, a in zip(batch, answers, strict=True)
        ]

    def merge(prompts):  # an empty description for sample 2
        return ["" if "sample_00000002" in p else text for p, text in zip(prompts, dummy.merge(prompts), strict=True)]

    models = Models(audio=audio, video=dummy.video, merge=merge, classifiers=[dummy.classifier])
    done = run_clips(clips, models, tmp_path / "cache", batch_size=2, progress=False)
    assert done == 5 + 3 + 3 + 4 * 2  # 5 clips ask for audio clues, 3 go on to visual clues and description, 2 on
    assert run_clips(clips, models, tmp_path / "cache", batch_size=2, progress=False) == 0  # failures are cached too
    counts = merge_results(clips, tmp_path / "cache", root, length_quantiles=(0.0, 1.0))
    assert counts == {"clips": 5, "kept": 2, "dropped": 3, "failed": 3}
    report = pd.read_csv(root / "filter_report.csv").set_index("name")
    assert list(report.index) == [c.name for c in clips]
    assert report.loc["sample_00000000", "reason"] == "failed at audio_clues: no audio track"
    assert report.loc["sample_00000001", "reason"] == "failed at audio_clues: the audio model's answer is empty"
    assert report.loc["sample_00000002", "reason"] == "failed at description: the merge model's answer is empty"
    for table in ("mer_caption.csv", "track2_train_mercaptionplus.csv", "track3_train_mercaptionplus.csv"):
        assert list(pd.read_csv(root / table)["name"]) == ["sample_00000003", "sample_00000004"], table
    ds = load_mer_caption(root, cache_dir=tmp_path / "hf")
    assert ds["name"] == ["sample_00000003", "sample_00000004"] and all(ds["description"])
