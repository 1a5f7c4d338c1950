"""training/features.py: encoder features cached once (`affectgpt cache-features`) give the loss of the raw path;
the paper config's component folders assembled for training and for the feature cache (towers only); a clip that
cannot be read stops the cache, naming it, or is left out on request."""

from __future__ import annotations

import shutil
import warnings

import datasets
import numpy as np
import pytest
import torch
from utils import REPO, TINY

from affectgpt_hf.cli import main
from affectgpt_hf.training.collator import AUDIO_FEATURES, VIDEO_FEATURES


@pytest.mark.timeout(60)
def test_cached_features_give_the_raw_loss(feature_cache, rows, tiny_processor):
    """Training on cached tower features gives the loss of the raw path (fp32, tiny config)."""
    from transformers import set_seed

    from affectgpt_hf.training import AffectGPTSFTCollator, ModelArguments, build_model

    set_seed(42)  # the seed the cache was made with: the same random towers
    model = build_model(ModelArguments(model_name_or_path=str(REPO / "hub_configs" / "tiny"))).train()
    cached = datasets.load_from_disk(str(feature_cache))
    collator = AffectGPTSFTCollator(tiny_processor, seed=42)
    raw_batch = collator([rows[i] for i in range(3)])
    cached_batch = collator([cached[i] for i in range(3)])
    assert "pixel_values_videos" in raw_batch and "video_features" in cached_batch
    assert torch.equal(raw_batch["labels"], cached_batch["labels"])
    with torch.no_grad():
        raw = model(**raw_batch).loss
        fast = model(**cached_batch).loss
    assert abs(raw.item() - fast.item()) < 1e-5


@pytest.mark.timeout(90)
def test_components_path_for_training_and_feature_cache(tmp_path):
    """The paper config's path, on tiny components: `llm`/`vision`/`audio` folders assembled with the hub folder's
    settings (placeholder ids included), and cache-features loading only the towers (language model on meta)."""
    from transformers import Qwen2ForCausalLM

    from affectgpt_hf.training import ModelArguments, build_model
    from affectgpt_hf.training.features import load_towers

    tiny = REPO / "hub_configs" / "tiny"
    torch.manual_seed(0)
    reference = build_model(ModelArguments(model_name_or_path=str(tiny)))
    reference.model.vision_tower.save_pretrained(tmp_path / "clip")
    reference.model.audio_tower.save_pretrained(tmp_path / "hubert")
    Qwen2ForCausalLM(reference.config.text_config).save_pretrained(tmp_path / "qwen")
    model = build_model(
        ModelArguments(
            model_name_or_path=str(tiny),
            llm=str(tmp_path / "qwen"),
            vision=str(tmp_path / "clip"),
            audio=str(tmp_path / "hubert"),
        )  # fmt: skip
    )
    assert model.config.input_mode == reference.config.input_mode
    assert model.config.multi_token_id == reference.config.multi_token_id != 151669
    towers = load_towers(str(tiny), vision=str(tmp_path / "clip"), audio=str(tmp_path / "hubert"))
    assert towers.model.language_model.embed_tokens.weight.is_meta
    pixels, waves = torch.randn(1, 8, 3, 224, 224), torch.randn(1, 8, 32000)
    with torch.no_grad():
        torch.testing.assert_close(towers.get_video_features(pixels), reference.get_video_features(pixels))
        torch.testing.assert_close(towers.get_audio_features(waves), reference.get_audio_features(waves))


@pytest.mark.timeout(180)
def test_an_unreadable_clip_stops_the_cache_or_is_left_out(release, feature_cache, tmp_path, capsys):
    damaged = tmp_path / "release"
    shutil.copytree(release, damaged)
    video = sorted((damaged / "video").iterdir())[1]
    video.write_bytes(video.read_bytes()[:2000])  # the container check passes: only decoding finds it
    argv = ["cache-features", "--model", str(TINY), "--dataset", str(damaged), "--batch-size", "3"]
    assert main([*argv, "--output", str(tmp_path / "stopped")]) == 2
    err = capsys.readouterr().err
    assert f"cache-features: 1 bad row(s):\n  {video.stem}: " in err and "skip_missing" in err
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*argv, "--output", str(tmp_path / "out"), "--skip-missing", "--num-workers", "2"]) == 0
    assert any("skipping 1 row(s) of cache-features" in str(w.message) and video.stem in str(w.message) for w in caught)
    out, full = datasets.load_from_disk(str(tmp_path / "out")), datasets.load_from_disk(str(feature_cache))
    kept = [i for i, name in enumerate(full["name"]) if name != video.stem]
    assert out["name"] == [full["name"][i] for i in kept] and len(kept) == len(full) - 1
    for column in (VIDEO_FEATURES, AUDIO_FEATURES):  # the batch without the bad clip: floats as close as any batch's
        np.testing.assert_allclose(np.asarray(out[column]), np.asarray(full[column])[kept], rtol=1e-5, atol=1e-6)


@pytest.mark.timeout(180)
def test_a_hub_folder_with_embedded_media_caches_as_its_release(release, feature_cache, tmp_path):
    """`dataset build --embed-media` puts the files' bytes in the Parquet rows: the towers read them as the files."""
    hub = tmp_path / "hub"
    assert main(["dataset", "build", "--data-dir", str(release), "--out", str(hub), "--embed-media"]) == 0
    argv = ["cache-features", "--model", str(TINY), "--dataset", str(hub), "--batch-size", "3"]
    assert main([*argv, "--output", str(tmp_path / "out")]) == 0
    out, full = datasets.load_from_disk(str(tmp_path / "out")), datasets.load_from_disk(str(feature_cache))
    assert out["name"] == full["name"]
    for column in (VIDEO_FEATURES, AUDIO_FEATURES):
        np.testing.assert_array_equal(np.asarray(out[column]), np.asarray(full[column]))
