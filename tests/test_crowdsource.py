"""The crowdsourcing pipeline end to end on generated clips: tiny Qwen2 merge LLM in process, 2 CPU ranks; tiny random
transformers media LLMs (Qwen2-Audio for audio clues, LLaVA given frames as images for visual clues) built offline
from the project's Qwen2.5 tokenizer, through resolve_model and run.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from utils import REPO

sys.path.insert(0, str(REPO / "dataset_scripts"))

from crowdsource import dummy  # noqa: E402
from crowdsource.models import AUTO_CLASSES, HFMediaLLM, HFTextLLM, MediaModelError, resolve_model  # noqa: E402
from crowdsource.pipeline import (  # noqa: E402
    ClipFailure,
    Models,
    ResultCache,
    find_clips,
    merge_results,
    run_clips,
)
from crowdsource.prompts import AUDIO_CLUE_PROMPT, VISUAL_CLUE_PROMPT  # noqa: E402

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


# ------------------------------------------------------------------------------- tiny transformers media LLMs
# Chat templates of our own in the layouts of Qwen2-Audio-7B-Instruct (an audio block is one with an `audio` key, as its
# template tests `'audio' in content`) and of LLaVA-Interleave (every image first, one `<image>` line each, then text).
QWEN2_AUDIO_TEMPLATE = (
    "{%- set count = namespace(audio=0) -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message.role != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif -%}"
    "<|im_start|>{{ message.role }}\n"
    "{%- if message.content is string %}{{ message.content }}{% else %}{% for part in message.content %}"
    "{%- if 'audio' in part or 'audio_url' in part %}{% set count.audio = count.audio + 1 -%}"
    "Audio {{ count.audio }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{%- elif 'text' in part %}{{ part.text }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif -%}"
)
LLAVA_INTERLEAVE_TEMPLATE = (
    "{%- for message in messages -%}<|im_start|>{{ message.role }}\n"
    "{%- if message.content is string %}{{ message.content }}{% else %}"
    "{%- for part in message.content if part.type == 'image' %}<image>\n{% endfor %}"
    "{%- for part in message.content if part.type == 'text' %}{{ part.text }}{% endfor %}{% endif %}<|im_end|>\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif -%}"
)


def _tokenizer(*extra: str):
    """The project's Qwen2.5 tokenizer on its 1,000 lowest BPE ranks, with a media LLM's own special tokens added."""
    from affectgpt_hf.tokenizer import build_qwen25_tokenizer

    tokenizer = build_qwen25_tokenizer(vocab_size=1000, with_placeholders=False)
    tokenizer.add_special_tokens({"additional_special_tokens": list(extra)})
    return tokenizer


def _text_config(tokenizer):
    """A tiny Qwen2 drawn wide (initializer_range 0.3): at the default 0.02 a random model answers alike for all."""
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, initializer_range=0.3, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip


def _save_tiny_qwen2_audio(folder: Path) -> Path:
    """A random Qwen2AudioForConditionalGeneration with its Qwen2AudioProcessor (WhisperFeatureExtractor, 80 mels)."""
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    tokenizer = _tokenizer("<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>")
    processor = Qwen2AudioProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=80),
        tokenizer=tokenizer,
        chat_template=QWEN2_AUDIO_TEMPLATE,
    )
    encoder = Qwen2AudioEncoderConfig(
        num_mel_bins=80, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, d_model=16,
        initializer_range=0.3,
    )  # fmt: skip
    config = Qwen2AudioConfig(
        audio_config=encoder,
        text_config=_text_config(tokenizer),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(0)
    Qwen2AudioForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _save_tiny_llava(folder: Path) -> Path:
    """A random LlavaForConditionalGeneration (SigLIP tower, Qwen2) as LLaVA-Interleave, with a LlavaProcessor whose
    image processor is SigLIP's PIL one: no video processor, so it takes a clip as frames given as images."""
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, SiglipVisionConfig
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = _tokenizer("<image>")
    processor = LlavaProcessor(
        image_processor=SiglipImageProcessorPil(size={"height": 28, "width": 28}),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_INTERLEAVE_TEMPLATE,
    )
    vision = SiglipVisionConfig(
        image_size=28, patch_size=14, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=_text_config(tokenizer),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def media_llms(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media_llms")
    return {"audio": _save_tiny_qwen2_audio(root / "qwen2-audio"), "video": _save_tiny_llava(root / "llava")}


def _without_audio(root: Path, name: str, track: bool = True) -> None:
    """Remove the clip's wav; with ``track``, also rewrite its mp4 without an audio stream (same frames)."""
    from affectgpt_hf import media
    from affectgpt_hf.data import writers

    (root / "audio" / f"{name}.wav").unlink()
    if track:
        video = root / "video" / f"{name}.mp4"
        frames = media.sample_video_frames(video, num_frames=8, size=None)
        writers.write_video(video, frames, fps=8)


@pytest.mark.timeout(120)
def test_audio_llm_folder_loads_as_a_multimodal_lm_batches_and_follows_the_audio(media_llms, tmp_path):
    from transformers import AutoModelForMultimodalLM

    from affectgpt_hf import media

    root = _release(tmp_path, 4)
    _without_audio(root, "sample_00000002", track=False)  # its audio comes from the mp4's track
    _without_audio(root, "sample_00000003")  # no audio at all
    clips = find_clips(root)
    llm = resolve_model(str(media_llms["audio"]), "audio", max_new_tokens=8, device="cpu")
    assert isinstance(llm, HFMediaLLM) and llm.auto_class is AutoModelForMultimodalLM and llm.input_mode == "audio"
    assert type(llm.model).__name__ == "Qwen2AudioForConditionalGeneration"
    (wav,) = llm.media_blocks(clips[0])  # the wav, decoded by media.py as every media file of the package
    assert wav["type"] == "audio" and np.array_equal(wav["audio"], media.load_audio(clips[0].audio))
    from_track = llm.media_blocks(clips[2])[0]["audio"]
    assert from_track.dtype.name == "float32" and abs(len(from_track) - 16000) < 2048  # 1 s at 16 kHz, from the aac
    answers = llm(clips, AUDIO_CLUE_PROMPT)
    assert isinstance(answers[3], ClipFailure)
    assert "sample_00000003.mp4 has no audio stream" in answers[3].reason
    texts = answers[:3]
    assert all(isinstance(text, str) and text for text in texts)
    assert len(set(texts)) == 3, texts  # the clue follows the clip's audio (the prompt is the same)
    assert [llm([clip], AUDIO_CLUE_PROMPT)[0] for clip in clips[:3]] == texts  # the batch equals one by one


@pytest.mark.timeout(120)
def test_video_llm_without_video_processor_takes_frames_as_images_and_follows_the_video(media_llms, tmp_path):
    from transformers import AutoModelForImageTextToText

    root = _release(tmp_path, 3)
    clips = find_clips(root)
    llm = resolve_model(str(media_llms["video"]), "video", max_new_tokens=8, device="cpu")
    assert isinstance(llm, HFMediaLLM) and llm.auto_class is AutoModelForImageTextToText
    assert type(llm.model).__name__ == "LlavaForConditionalGeneration" and llm.input_mode == "frames"
    # the folder names SiglipImageProcessor, as the Hub's does; without torchvision transformers takes its PIL backend
    assert type(llm.processor.image_processor).__name__ == "SiglipImageProcessorPil"
    blocks = llm.media_blocks(clips[0])
    assert len(blocks) == 8 and all(block["type"] == "image" for block in blocks)
    answers = llm(clips, VISUAL_CLUE_PROMPT)
    assert all(isinstance(text, str) and text for text in answers)
    assert len(set(answers)) == 3, answers  # the clue follows the clip's frames
    assert [llm([clip], VISUAL_CLUE_PROMPT)[0] for clip in clips] == answers
    assert llm(clips, VISUAL_CLUE_PROMPT) == answers  # greedy: the same clips give the same clues


@pytest.mark.timeout(120)
def test_models_of_the_wrong_kind_are_named(media_llms, tmp_path):
    from transformers import Qwen2Config

    Qwen2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path / "qwen2")
    for kind in ("audio", "video"):
        with pytest.raises(MediaModelError) as caught:
            resolve_model(str(tmp_path / "qwen2"), kind, device="cpu")
        message = str(caught.value)
        assert f"{kind} model {str(tmp_path / 'qwen2')!r} is not a media LLM" in message
        assert "Qwen2Config (model_type 'qwen2')" in message and ", ".join(AUTO_CLASSES[kind]) in message
        assert set(AUTO_CLASSES[kind]) == {"AutoModelForMultimodalLM", "AutoModelForImageTextToText"}
    with pytest.raises(MediaModelError, match=r"LlavaProcessor \(parts: image_processor, tokenizer\) takes no audio"):
        resolve_model(str(media_llms["video"]), "audio", device="cpu")
    with pytest.raises(
        MediaModelError, match=r"Qwen2AudioProcessor \(parts: feature_extractor, tokenizer\) takes no video"
    ):
        resolve_model(str(media_llms["audio"]), "video", device="cpu")


@pytest.mark.timeout(60)
def test_a_video_processor_that_needs_torchvision_is_named(tmp_path):
    """Qwen2-VL's processor holds a video processor, and transformers' video processors need torchvision."""
    import importlib.util
    import json

    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed here: the video processor builds")
    from transformers import Qwen2VLConfig

    folder = tmp_path / "qwen2-vl"
    Qwen2VLConfig().save_pretrained(folder)
    _tokenizer().save_pretrained(folder)
    common = {"processor_class": "Qwen2VLProcessor", "merge_size": 2, "patch_size": 14, "temporal_patch_size": 2}
    (folder / "preprocessor_config.json").write_text(
        json.dumps({"image_processor_type": "Qwen2VLImageProcessor", **common})
    )
    (folder / "video_preprocessor_config.json").write_text(
        json.dumps({"video_processor_type": "Qwen2VLVideoProcessor", **common})
    )
    with pytest.raises(MediaModelError) as caught:
        resolve_model(str(folder), "video", device="cpu")
    message = str(caught.value)
    assert (
        "its processor cannot be built here" in message and "Qwen2VLVideoProcessor requires the Torchvision" in message
    )
    assert "llava-hf/llava-interleave-qwen-0.5b-hf" in message


def _run_py(root: Path, audio: str, video: str, nproc: int = 1) -> subprocess.CompletedProcess:
    launcher = ["-m", "torch.distributed.run", "--nproc_per_node", str(nproc)] if nproc > 1 else []
    command = [
        sys.executable, *launcher, str(REPO / "dataset_scripts" / "crowdsource" / "run.py"),
        "--data-dir", str(root), "--out", str(root), "--audio-model", audio, "--video-model", video,
        "--merge-model", "crowdsource.dummy:merge", "--max-new-tokens", "8", "--batch-size", "2",
        "--length-quantiles", "0", "1", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "dataset_scripts"), "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=170)


@pytest.mark.timeout(240)
def test_run_py_with_transformers_media_llm_folders_feeds_dataset_build(media_llms, tmp_path):
    import datasets

    from affectgpt_hf.cli import main

    root = _release(tmp_path, 4)
    _without_audio(root, "sample_00000003")
    result = _run_py(root, str(media_llms["audio"]), str(media_llms["video"]))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "{'clips': 4, 'kept': 3, 'dropped': 1, 'failed': 1}" in result.stdout
    cache = ResultCache(root / "crowdsource_cache")
    kept = ["sample_00000000", "sample_00000001", "sample_00000002"]
    for stage in ("audio_clues", "visual_clues"):
        clues = [cache.get(name, stage) for name in kept]
        assert all(clues) and len(set(clues)) == 3, (stage, clues)  # each clue follows its clip's media
    report = pd.read_csv(root / "filter_report.csv").set_index("name")
    reason = report.loc["sample_00000003", "reason"]
    assert reason.startswith("failed at audio_clues: no audio") and "has no audio stream" in reason
    track3 = pd.read_csv(root / "track3_train_mercaptionplus.csv")
    assert list(track3["name"]) == kept
    first_lines = [cache.get(name, "audio_clues").split("\n")[0].strip() for name in kept]  # what dummy.merge quotes
    assert all(line in text for line, text in zip(first_lines, track3["reason"], strict=True))
    hub = tmp_path / "hub"
    assert main(["dataset", "build", "--data-dir", str(root), "--out", str(hub), "--config", "mer_caption_plus"]) == 0
    ds = datasets.load_dataset(str(hub), "mer_caption_plus", split="train", cache_dir=str(tmp_path / "hf"))
    assert ds["name"] == kept and ds["description"] == list(track3["reason"])


@pytest.mark.timeout(240)
def test_two_cpu_processes_under_torchrun_with_an_audio_llm_folder(media_llms, tmp_path):
    root = _release(tmp_path, 4)
    result = _run_py(root, str(media_llms["audio"]), "crowdsource.dummy:video", nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]
    parts = sorted(p.name for p in (root / "crowdsource_cache").glob("part-*.jsonl"))
    assert parts == ["part-00000.jsonl", "part-00001.jsonl"]  # each rank wrote its share
    assert "'kept': 4" in result.stdout
    cache = ResultCache(root / "crowdsource_cache")
    clues = [cache.get(f"sample_0000000{index}", "audio_clues") for index in range(4)]
    assert all(clues) and len(set(clues)) == 4, clues
    ds = load_mer_caption(root, cache_dir=tmp_path / "hf")
    first_lines = [clue.split("\n")[0].strip() for clue in clues]  # what dummy.merge quotes
    assert len(ds) == 4 and all(line in text for line, text in zip(first_lines, ds["description"], strict=True))
