"""AffectGPTForConditionalGeneration on the tiny config: math, loss, generation, features, saving, Auto classes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from utils import TINY, tiny_config, tiny_model

from affectgpt_hf import AffectGPTConfig, AffectGPTForConditionalGeneration, AffectGPTModel
from affectgpt_hf.modeling_affectgpt import AffectGPTAttentionFusion, AffectGPTAttentionPooling

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def batch(tiny_processor, clips):
    return tiny_processor(
        videos=[str(c) for c in clips[:2]], subtitles=["I told you already.", "Fine."], task="ov_labels"
    )


def test_forward_backward_trains_heads_only(batch):
    model = tiny_model().train()
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    out = model(**batch, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(name.startswith("model.video_projector") for name in grads)
    assert any(name.startswith("model.av_fusion") for name in grads)
    assert not any(".vision_tower." in name or ".audio_tower." in name for name in grads)
    assert not model.model.vision_tower.training and not model.model.audio_tower.training


def test_loss_counts_only_supervised_tokens(batch):
    model = tiny_model()
    answer = torch.tensor([[641, 279, 1467, 14374], [641, 279, 1467, 14374]])
    input_ids = torch.cat([batch["input_ids"], answer], dim=1)
    mask = torch.cat([batch["attention_mask"], torch.ones_like(answer)], dim=1)
    labels = torch.full_like(input_ids, -100)
    labels[:, -4:] = answer
    out = model(
        input_ids=input_ids,
        attention_mask=mask,
        pixel_values_videos=batch["pixel_values_videos"],
        input_values=batch["input_values"],
        labels=labels,
    )
    logits = out.logits[:, -5:-1].reshape(-1, out.logits.shape[-1]).float()
    expected = torch.nn.functional.cross_entropy(logits, answer.reshape(-1))
    torch.testing.assert_close(out.loss, expected)
    # Supervising the prompt's text tokens too adds exactly their terms: the -100 above is what kept them out.
    labels_text = input_ids.masked_fill((input_ids >= model.config.image_token_id) | (mask == 0), -100)
    out_text = model(
        input_ids=input_ids,
        attention_mask=mask,
        pixel_values_videos=batch["pixel_values_videos"],
        input_values=batch["input_values"],
        labels=labels_text,
    )
    targets = labels_text[:, 1:].reshape(-1)
    all_logits = out_text.logits[:, :-1].reshape(-1, out.logits.shape[-1]).float()
    expected_text = torch.nn.functional.cross_entropy(all_logits, targets, ignore_index=-100)
    torch.testing.assert_close(out_text.loss, expected_text)
    assert (targets != -100).sum() > 8 and not torch.allclose(out_text.loss, out.loss)


def test_attention_pooling_and_fusion_use_raw_scores():
    """Upstream quirk (my_affectgpt/models/affectgpt.py, `encode_*_attention`): token = W (sum_t (w.v_t + b) v_t) + c,
    no softmax; fusion weights raw too."""
    pool = AffectGPTAttentionPooling(4, softmax=False)
    feats = torch.randn(2, 8, 4)
    scores = feats @ pool.score.weight.T + pool.score.bias  # [2, 8, 1]
    torch.testing.assert_close(pool(feats), (scores * feats).sum(dim=1))
    assert not torch.allclose(AffectGPTAttentionPooling(4, softmax=True)(feats), pool(feats))

    config = tiny_config()
    fusion = AffectGPTAttentionFusion(config)
    video, audio = (
        torch.randn(2, 8, config.vision_config.projection_dim),
        torch.randn(2, 8, config.audio_config.hidden_size),
    )
    v, a = fusion.video_in(video.mean(1)), fusion.audio_in(audio.mean(1))
    w = fusion.weights(fusion.hidden(torch.cat([v, a], -1)))
    torch.testing.assert_close(fusion(video, audio)[:, 0], w[:, :1] * v + w[:, 1:] * a)


def test_modality_tokens_land_in_placeholder_slots(batch):
    model = tiny_model()
    config = model.config
    captured = {}
    model.model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: captured.update(embeds=kwargs["inputs_embeds"]), with_kwargs=True
    )
    with torch.no_grad():
        model(**batch)
        video = model.get_video_features(batch["pixel_values_videos"])
        audio = model.get_audio_features(batch["input_values"])
        expected_frame = model.model.video_projector(model.model.video_pooler(video))
        expected_audio = model.model.audio_projector(model.model.audio_pooler(audio))
        expected_multi = model.model.fusion_projector(model.model.av_fusion(video, audio))[:, 0]
    ids = batch["input_ids"]
    for token_id, expected in (
        (config.frame_token_id, expected_frame),
        (config.audio_token_id, expected_audio),
        (config.multi_token_id, expected_multi),
    ):
        torch.testing.assert_close(captured["embeds"][ids == token_id], expected)
    assert video.shape == (2, 8, 48) and audio.shape == (2, 8, 32)


def test_precomputed_features_equal_raw_inputs(batch):
    model = tiny_model()
    with torch.no_grad():
        raw = model(**batch).logits
        video = model.get_video_features(batch["pixel_values_videos"])
        audio = model.get_audio_features(batch["input_values"])
        cached = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            video_features=video,
            audio_features=audio,
        ).logits
    torch.testing.assert_close(cached, raw, atol=1e-5, rtol=1e-5)
    kwargs = dict(max_new_tokens=5, do_sample=False)
    from_pixels = model.generate(**batch, **kwargs)
    from_features = model.generate(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        video_features=video,
        audio_features=audio,
        **kwargs,
    )
    assert torch.equal(from_pixels, from_features)


def test_beam_search_and_multiple_returns_expand_inputs(batch, tiny_processor, clips):
    """Beams and returned sequences: features mode = pixels mode = each clip searched alone."""
    model = tiny_model(seed=3, sensitive=True)

    def features_of(inputs):
        with torch.no_grad():
            return dict(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                video_features=model.get_video_features(inputs["pixel_values_videos"]),
                audio_features=model.get_audio_features(inputs["input_values"]),
            )

    kwargs = dict(max_new_tokens=4, min_new_tokens=4, num_beams=3, num_return_sequences=2, do_sample=False)
    width = batch["input_ids"].shape[1]
    from_pixels = model.generate(**batch, **kwargs)[:, width:]
    assert from_pixels.shape == (4, 4)
    assert from_pixels[0].tolist() != from_pixels[2].tolist()  # the two clips' best beams differ
    assert torch.equal(model.generate(**features_of(batch), **kwargs)[:, width:], from_pixels)
    assert torch.equal(model.generate(**batch, **{**kwargs, "num_return_sequences": 1})[:, width:], from_pixels[::2])
    subtitles = ["I told you already.", "Fine."]  # the batch fixture's
    for i in range(2):
        alone = tiny_processor(videos=[str(clips[i])], subtitles=[subtitles[i]], task="ov_labels")
        single = model.generate(**features_of(alone), **kwargs)[:, alone["input_ids"].shape[1] :]
        assert torch.equal(single, from_pixels[2 * i : 2 * i + 2])


def test_batched_generation_equals_one_clip_at_a_time(tiny_processor, clips):
    model = tiny_model(seed=3, sensitive=True)
    subtitles = ["I told you already, and I will not say it again.", "Fine."]
    videos = [str(c) for c in clips[:2]]
    kwargs = dict(max_new_tokens=8, do_sample=False, min_new_tokens=8)
    together = tiny_processor(videos=videos, subtitles=subtitles)
    width = together["input_ids"].shape[1]
    out = model.generate(**together, **kwargs)[:, width:]
    swapped = tiny_processor(videos=videos[::-1], subtitles=subtitles)  # same prompts, the media of the other row
    out_swapped = model.generate(**swapped, **kwargs)[:, width:]
    assert out[0].tolist() != out[1].tolist()  # the clips' answers differ ...
    assert out[0].tolist() != out_swapped[0].tolist() and out[1].tolist() != out_swapped[1].tolist()  # ... by media
    with torch.no_grad():
        batched_logits = model(**together).logits[:, -1]
    for i in range(2):
        alone = tiny_processor(videos=[videos[i]], subtitles=[subtitles[i]])
        single = model.generate(**alone, **kwargs)
        assert single[0, alone["input_ids"].shape[1] :].tolist() == out[i].tolist()
        with torch.no_grad():
            torch.testing.assert_close(model(**alone).logits[0, -1], batched_logits[i], atol=1e-4, rtol=1e-4)


def test_upstream_two_token_stop_ends_generation():
    from affectgpt_hf.modeling_affectgpt import StopOnTokenSequences

    stop = StopOnTokenSequences([(565, 2), (2, 565)])
    done = stop(torch.tensor([[7, 565, 2], [7, 2, 565], [7, 8, 2]]), None)
    assert done.tolist() == [True, True, False]


def test_placeholder_count_mismatch_is_a_clear_error(batch):
    model = tiny_model()
    ids = batch["input_ids"].clone()
    ids[0, ids[0] == model.config.audio_token_id] = 11
    with pytest.raises(ValueError, match=r"<AudioHere> tokens per sample"):
        model(
            input_ids=ids,
            attention_mask=batch["attention_mask"],
            pixel_values_videos=batch["pixel_values_videos"],
            input_values=batch["input_values"],
        )
    with pytest.raises(ValueError, match="neither input_values nor audio_features"):
        model(input_ids=batch["input_ids"], pixel_values_videos=batch["pixel_values_videos"])


@pytest.mark.parametrize(
    "settings",
    [
        {"fusion": "qformer", "num_multi_query_tokens": 2},
        {"num_multi_query_tokens": 2},  # attention fusion's one token repeated into both slots
        {"video_pooling": "qformer", "audio_pooling": "mean", "num_video_query_tokens": 3},
        {"softmax_attention_weights": True},
        {"input_mode": "multiface_audio_face_text"},
        {"input_mode": "audio_text", "fusion": "none"},
        {"input_mode": "multiface_text"},  # <MultiHere> alone still runs both towers
    ],
)
def test_variants_run_forward_and_generate(settings, clips, tmp_path):
    from affectgpt_hf import AffectGPTProcessor

    model = tiny_model(**settings)
    processor = AffectGPTProcessor.from_pretrained(
        TINY,
        input_mode=model.config.input_mode,
        num_video_query_tokens=model.config.num_video_query_tokens,
        num_multi_query_tokens=model.config.num_multi_query_tokens,
    )
    import numpy as np

    faces = tmp_path / "faces.npy"
    np.save(faces, np.random.default_rng(0).integers(0, 255, (13, 112, 112, 3), dtype=np.uint8))
    kwargs = {"faces": [str(faces)]} if "face" in model.config.input_mode else {}
    inputs = processor(videos=[str(clips[0])], subtitles=["Hello."], **kwargs)
    out = model(**inputs, labels=inputs["input_ids"])
    assert torch.isfinite(out.loss)
    assert model.generate(**inputs, max_new_tokens=3, do_sample=False).shape[1] <= inputs["input_ids"].shape[1] + 3


def test_qformer_equals_transformers_blip2_qformer_with_the_same_weights():
    """Upstream's Q-Former is BERT with cross-attention in every layer (affectgpt.py: cross_attention_freq = 1) and
    the query branch's feed-forward: transformers' Blip2QFormerModel is that network, so with our weights copied
    in it must give our output (queries normed, encoder states = features + learned positions)."""
    from transformers import Blip2QFormerConfig, Blip2QFormerModel

    from affectgpt_hf.modeling_affectgpt import AffectGPTQFormer

    config = tiny_config()
    torch.manual_seed(0)
    ours = AffectGPTQFormer(config, encoder_dim=24, num_positions=10, num_queries=3).eval()
    with torch.no_grad():  # no parameter left at a neutral init (LayerNorms 1/0, queries near 0)
        for name, param in ours.named_parameters():
            if "norm" in name or name == "query_tokens":
                param.copy_(torch.randn_like(param) * 0.5 + (1.0 if name.endswith("norm.weight") else 0.0))
    reference = Blip2QFormerModel(
        Blip2QFormerConfig(
            hidden_size=config.qformer_hidden_size,
            num_hidden_layers=config.qformer_num_layers,
            num_attention_heads=config.qformer_num_heads,
            intermediate_size=config.qformer_intermediate_size,
            layer_norm_eps=config.qformer_layer_norm_eps,
            cross_attention_frequency=1,
            encoder_hidden_size=24,
        )
    ).eval()
    names = {"layernorm": "embed_norm"}
    for i in range(config.qformer_num_layers):
        for theirs, mine in (("attention", "self_attention"), ("crossattention", "cross_attention")):
            for part in ("query", "key", "value"):
                names[f"encoder.layer.{i}.{theirs}.attention.{part}"] = f"layers.{i}.{mine}.{part}"
            names[f"encoder.layer.{i}.{theirs}.output.dense"] = f"layers.{i}.{mine}.dense"
            names[f"encoder.layer.{i}.{theirs}.output.LayerNorm"] = f"layers.{i}.{mine}.norm"
        names[f"encoder.layer.{i}.intermediate_query.dense"] = f"layers.{i}.intermediate"
        names[f"encoder.layer.{i}.output_query.dense"] = f"layers.{i}.output"
        names[f"encoder.layer.{i}.output_query.LayerNorm"] = f"layers.{i}.output_norm"
    mine = ours.state_dict()
    state = {f"{k}.{leaf}": mine[f"{v}.{leaf}"] for k, v in names.items() for leaf in ("weight", "bias")}
    reference.load_state_dict(state, strict=True)
    features = torch.randn(2, 7, 24)
    with torch.no_grad():
        expected = reference(
            query_embeds=ours.query_tokens.expand(2, -1, -1),
            encoder_hidden_states=features + ours.position_embedding.weight[:7],
        ).last_hidden_state
        torch.testing.assert_close(ours(features), expected, atol=1e-5, rtol=1e-5)


def test_qformer_fusion_key_layout():
    model = tiny_model(fusion="qformer")
    names = {name for name, _ in model.model.av_fusion.named_parameters()}
    assert "qformer.query_tokens" in names and "qformer.position_embedding.weight" in names
    assert model.model.av_fusion.qformer.position_embedding.num_embeddings == 264
    assert "qformer.layers.1.cross_attention.key.weight" in names
    assert model.model.av_fusion.qformer.layers[0].cross_attention.key.in_features == model.config.fusion_hidden_size


def test_save_and_load_with_auto_classes(batch, tmp_path):
    from transformers import AutoConfig, AutoModel, AutoModelForMultimodalLM

    model = tiny_model()
    model.save_pretrained(tmp_path)
    with torch.no_grad():
        expected = model(**batch).logits
        for loader in (AffectGPTForConditionalGeneration.from_pretrained, AutoModelForMultimodalLM.from_pretrained):
            loaded = loader(tmp_path).eval()
            torch.testing.assert_close(loaded(**batch).logits, expected, rtol=0, atol=0)
        backbone = AutoModel.from_pretrained(tmp_path).eval()
        assert isinstance(backbone, AffectGPTModel)
        hidden = backbone(**batch).last_hidden_state
        torch.testing.assert_close(model.lm_head(hidden), expected)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "affectgpt"


def test_saved_folder_loads_with_trust_remote_code_without_the_package(batch, tiny_processor, tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    tiny_processor.save_pretrained(tmp_path)
    torch.save({k: v for k, v in batch.items()}, tmp_path / "batch.pt")
    with torch.no_grad():
        torch.save(model(**batch).logits, tmp_path / "expected.pt")
    script = textwrap.dedent(
        f"""
        import sys, torch
        sys.modules["affectgpt_hf"] = None  # any import of the package would fail
        from transformers import AutoModelForMultimodalLM, AutoProcessor
        model = AutoModelForMultimodalLM.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        processor = AutoProcessor.from_pretrained({str(tmp_path)!r}, trust_remote_code=True)
        batch = torch.load({str(tmp_path / "batch.pt")!r})
        with torch.no_grad():
            logits = model(**batch).logits
        torch.testing.assert_close(logits, torch.load({str(tmp_path / "expected.pt")!r}), rtol=0, atol=0)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        assert type(processor).__name__ == "AffectGPTProcessor"
        assert len(processor.tokenizer) == {len(tiny_processor.tokenizer)}
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HF_HOME": str(tmp_path / "hf")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_from_components_assembles_pretrained_parts(tmp_path):
    from transformers import CLIPConfig, CLIPModel, HubertConfig, HubertModel, Qwen2Config, Qwen2ForCausalLM

    base = tiny_config()
    torch.manual_seed(0)
    Qwen2ForCausalLM(Qwen2Config(**base.text_config.to_dict())).save_pretrained(tmp_path / "llm")
    CLIPModel(
        CLIPConfig(
            vision_config=base.vision_config.to_dict(),
            projection_dim=48,
            text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2},
        )
    ).save_pretrained(tmp_path / "clip")
    HubertModel(HubertConfig(**base.audio_config.to_dict())).save_pretrained(tmp_path / "hubert")
    model = AffectGPTForConditionalGeneration.from_components(
        llm=tmp_path / "llm",
        vision=tmp_path / "clip",
        audio=tmp_path / "hubert",
        input_mode="multiframe_audio_frame_text",
        frame_token_id=base.frame_token_id,
        audio_token_id=base.audio_token_id,
        multi_token_id=base.multi_token_id,
        face_token_id=base.face_token_id,
        image_token_id=base.image_token_id,
    )
    llm = Qwen2ForCausalLM.from_pretrained(tmp_path / "llm")
    torch.testing.assert_close(model.lm_head.weight, llm.lm_head.weight)
    clip = CLIPModel.from_pretrained(tmp_path / "clip")
    torch.testing.assert_close(model.model.vision_tower.visual_projection.weight, clip.visual_projection.weight)
    assert not any(p.is_meta for p in model.parameters())
    assert not any(p.requires_grad for p in model.model.vision_tower.parameters())
    assert model.config.vision_config.projection_dim == 48
    pixels = torch.randn(1, 8, 3, 224, 224)
    torch.testing.assert_close(model.get_video_features(pixels)[0], clip.get_image_features(pixels[0]).pooler_output)
    model.save_pretrained(tmp_path / "assembled")
    assert AffectGPTForConditionalGeneration.from_pretrained(tmp_path / "assembled").config.input_mode == (
        "multiframe_audio_frame_text"
    )


@pytest.mark.parametrize("rank, lora", [(16, 40_370_176), (8, 20_185_088)])
def test_paper_model_parameter_counts_on_meta_device(rank, lora):
    """Table 8 LoRA counts; heads = upstream's 16,798,468 less the unused 2,756,096 image projector."""
    from peft import LoraConfig, get_peft_model

    from affectgpt_hf.training.arguments import LANGUAGE_MODEL_LORA_TARGETS

    config = AffectGPTConfig.from_pretrained(TINY.parent / "affectgpt-qwen2.5-7b")
    with torch.device("meta"):
        model = AffectGPTForConditionalGeneration(config)
    heads = sum(
        p.numel()
        for n, p in model.named_parameters()
        if n.startswith("model.")
        and not n.startswith(("model.language_model", "model.vision_tower", "model.audio_tower"))
    )
    assert heads == 14_042_372
    target = LANGUAGE_MODEL_LORA_TARGETS  # the recipe's default (training/arguments.py)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=32, lora_dropout=0.05, target_modules=target))
    trainable = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    assert trainable == lora


def test_dtype_device_map_and_sdpa_load(batch, tmp_path):
    tiny_model().save_pretrained(tmp_path)
    model = AffectGPTForConditionalGeneration.from_pretrained(
        tmp_path, dtype=torch.bfloat16, device_map="auto", attn_implementation="sdpa"
    ).eval()
    assert model.dtype == torch.bfloat16 and model.model.vision_tower.dtype == torch.bfloat16
    assert model.config.text_config._attn_implementation == "sdpa"
    assert model.config.vision_config._attn_implementation == "sdpa"
    out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape[0] == 2


@pytest.mark.timeout(300)
def test_quantization_leaves_towers_and_heads_in_the_model_dtype(batch, tmp_path):
    """`from_pretrained(quantization=...)` (bitsandbytes, here on the CPU): the language model's decoder linears become
    8- or 4-bit modules, nothing else; a config passed instead gets the same modules skipped unless it names its own."""
    bnb = pytest.importorskip("bitsandbytes", reason="the quantization extra (bitsandbytes) is not installed")
    from transformers import BitsAndBytesConfig

    from affectgpt_hf.modeling_affectgpt import NOT_QUANTIZED, llm_only_quantization_config

    tiny_model().save_pretrained(tmp_path)
    decoder = [n for n, m in tiny_model().named_modules() if isinstance(m, torch.nn.Linear)]
    decoder = {n for n in decoder if n.startswith("model.language_model.")}
    for name, kind in (("bnb-8bit", bnb.nn.Linear8bitLt), ("bnb-4bit", bnb.nn.Linear4bit)):
        model = AffectGPTForConditionalGeneration.from_pretrained(tmp_path, quantization=name, device_map="cpu")
        linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
        assert {n for n, m in linears.items() if isinstance(m, kind)} == decoder, name
        kept = {n: m for n, m in linears.items() if not isinstance(m, kind)}
        assert kept and all(n.startswith(NOT_QUANTIZED) for n in kept)
        assert all(m.weight.dtype == torch.float32 for m in kept.values())
        assert (
            "model.video_projector" in kept
            and "lm_head" in kept
            and "model.audio_tower.feature_projection.projection" in kept
        )
        out = model.generate(**batch, max_new_tokens=3, do_sample=False)
        assert out.shape == (2, batch["input_ids"].shape[1] + 3)
    given = BitsAndBytesConfig(load_in_4bit=True)
    assert llm_only_quantization_config(given).llm_int8_skip_modules == list(NOT_QUANTIZED)
    assert given.llm_int8_skip_modules is None  # the caller's config is left as it was
    own = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=["lm_head"])
    assert llm_only_quantization_config(own).llm_int8_skip_modules == ["lm_head"]
    with pytest.raises(ValueError, match="bnb-3bit.*bnb-8bit, bnb-4bit"):
        llm_only_quantization_config("bnb-3bit")
    with pytest.raises(ValueError, match="not both"):
        AffectGPTForConditionalGeneration.from_pretrained(tmp_path, quantization="bnb-8bit", quantization_config=given)


def test_quantization_names_agree_with_the_light_options():
    from affectgpt_hf.inference.arguments import QUANTIZATIONS
    from affectgpt_hf.modeling_affectgpt import QUANTIZATIONS as MODEL_QUANTIZATIONS

    assert QUANTIZATIONS == MODEL_QUANTIZATIONS
