"""affectgpt convert: upstream key layout -> our modules, checked module by module, plus errors and the CLI end to end.

The upstream state dicts (utils.upstream_state_dict) are built from upstream's own module definitions (fffca79
`my_affectgpt/models/affectgpt.py`, `my_affectgpt/models/Qformer.py`; `my_affectgpt/runners/runner_base.py`
`_save_checkpoint` keeps trainable tensors plus buffers, peft names the LoRA
`llama_model.base_model.model.model.layers.N.<module>.lora_A.default.weight`), with tiny sizes and random values.
"""

from __future__ import annotations

import json
import logging
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from utils import LORA_MODULES, RANK, TINY, tiny_config, upstream_state_dict

from affectgpt_hf.convert_affectgpt_checkpoint import (
    convert_state_dict,
    load_heads,
    merge_lora_weights,
    rename_upstream_key,
)

QFORMER = {"qformer_hidden_size": 64, "qformer_num_heads": 4, "qformer_intermediate_size": 96}


def converted_model(config, state):
    model = AffectGPTForConditionalGenerationWithSeed(config)
    base = {name: p.detach().clone() for name, p in model.named_parameters()}
    converted = convert_state_dict(state, config)
    load_heads(model, converted)
    merge_lora_weights(model, converted)
    return model, base, converted


def AffectGPTForConditionalGenerationWithSeed(config):  # noqa: N802
    from affectgpt_hf import AffectGPTForConditionalGeneration

    torch.manual_seed(0)
    return AffectGPTForConditionalGeneration(config).eval()


def check_linear(module, state, name):
    x = torch.randn(3, module.in_features)
    torch.testing.assert_close(module(x), x @ state[f"{name}.weight"].T + state[f"{name}.bias"], rtol=1e-5, atol=1e-5)


def check_norm(module, state, name):
    x = torch.randn(3, module.normalized_shape[0])
    expected = F.layer_norm(x, module.normalized_shape, state[f"{name}.weight"], state[f"{name}.bias"], module.eps)
    torch.testing.assert_close(module(x), expected)


@pytest.mark.timeout(60)
def test_face_model_heads_pooling_fusion_and_lora_follow_the_upstream_tensors():
    config = tiny_config(input_mode="multiface_audio_face_text")
    state = upstream_state_dict(config)
    model, base, _ = converted_model(config, state)
    m = model.model
    check_linear(m.video_projector, state, "affectgpt_proj")
    check_linear(m.audio_projector, state, "audio_llama_proj")
    check_linear(m.fusion_projector, state, "multi_llama_proj")

    # Attention pooling: token = sum_t (w . v_t + b) v_t with w, b = video_attention_mlp / audio_attention_mlp.
    for pooler, name, dim in (
        (m.video_pooler, "video_attention_mlp", config.vision_config.projection_dim),
        (m.audio_pooler, "audio_attention_mlp", config.audio_config.hidden_size),
    ):
        feats = torch.randn(2, 8, dim)
        scores = feats @ state[f"{name}.weight"].T + state[f"{name}.bias"]
        torch.testing.assert_close(pooler(feats), (scores * feats).sum(dim=1), rtol=1e-5, atol=1e-5)

    # Fusion: v = multi_video_embs(mean V), a = multi_audio_embs(mean A), [wv, wa] = fc_att(attention_mlp([v; a])).
    video = torch.randn(2, 8, config.vision_config.projection_dim)
    audio = torch.randn(2, 8, config.audio_config.hidden_size)

    def lin(x, name):
        return x @ state[f"{name}.weight"].T + state[f"{name}.bias"]

    v, a = lin(video.mean(1), "multi_video_embs"), lin(audio.mean(1), "multi_audio_embs")
    w = lin(lin(torch.cat([v, a], -1), "attention_mlp"), "fc_att")
    torch.testing.assert_close(m.av_fusion(video, audio)[:, 0], w[:, :1] * v + w[:, 1:] * a, rtol=1e-5, atol=1e-5)

    # LoRA: merged W = W_base + (B @ A) * 32 / r, for every module of every layer.
    for n in range(config.text_config.num_hidden_layers):
        for module in LORA_MODULES:
            ours = f"model.language_model.layers.{n}.{module}.weight"
            prefix = f"llama_model.base_model.model.model.layers.{n}.{module}"
            delta = state[f"{prefix}.lora_B.default.weight"] @ state[f"{prefix}.lora_A.default.weight"] * 32 / RANK
            torch.testing.assert_close(model.get_parameter(ours), base[ours] + delta)
    # Nothing else of the language model or the towers moved.
    for name, tensor in model.named_parameters():
        if ".language_model." in name and not any(f".{mod}." in name for mod in LORA_MODULES) or "_tower." in name:
            assert torch.equal(tensor, base[name]), name


@pytest.mark.timeout(60)
@pytest.mark.parametrize("video_pooling", ["attention", "qformer"])
def test_qformer_variant_maps_every_bert_tensor(video_pooling, caplog):
    config = tiny_config(
        input_mode="multiface_audio_face_text", fusion="qformer", video_pooling=video_pooling, **QFORMER
    )
    state = upstream_state_dict(config)
    with caplog.at_level(logging.INFO, logger="affectgpt_hf.convert_affectgpt_checkpoint"):
        model, _, converted = converted_model(config, state)
    assert "skipping upstream key multi_Qformer.bert.embeddings.position_ids" in caplog.text
    assert set(converted.ignored) == {"image_llama_proj.weight", "image_llama_proj.bias"} | (
        {"multi_Qformer.bert.embeddings.position_ids"}
    )
    qformers = [(model.model.av_fusion.qformer, "multi_Qformer", "multi_query_tokens", "multi_position_embedding")]
    if video_pooling == "qformer":
        qformers.append(
            (model.model.video_pooler, "video_Qformer", "video_query_tokens", "video_frame_position_embedding")
        )
    check_linear(model.model.av_fusion.video_in, state, "multi_video_embs")
    check_linear(model.model.av_fusion.audio_in, state, "multi_audio_embs")
    check_linear(model.model.fusion_projector, state, "multi_llama_proj")
    for qformer, prefix, tokens, positions in qformers:
        assert torch.equal(qformer.query_tokens, state[tokens])
        assert torch.equal(qformer.position_embedding.weight, state[f"{positions}.weight"])
        check_norm(qformer.embed_norm, state, f"{prefix}.bert.embeddings.LayerNorm")
        for n, layer in enumerate(qformer.layers):
            up = f"{prefix}.bert.encoder.layer.{n}"
            for ours, block in ((layer.self_attention, "attention"), (layer.cross_attention, "crossattention")):
                check_linear(ours.query, state, f"{up}.{block}.self.query")
                check_linear(ours.key, state, f"{up}.{block}.self.key")
                check_linear(ours.value, state, f"{up}.{block}.self.value")
                check_linear(ours.dense, state, f"{up}.{block}.output.dense")
                check_norm(ours.norm, state, f"{up}.{block}.output.LayerNorm")
            check_linear(layer.intermediate, state, f"{up}.intermediate_query.dense")
            check_linear(layer.output, state, f"{up}.output_query.dense")
            check_norm(layer.output_norm, state, f"{up}.output_query.LayerNorm")


@pytest.mark.timeout(30)
def test_errors_name_the_key():
    config = tiny_config(input_mode="multiface_audio_face_text")
    state = upstream_state_dict(config)
    with pytest.raises(ValueError, match="video_qformer_proj.weight"):
        convert_state_dict({**state, "video_qformer_proj.weight": torch.zeros(2, 2)}, config)
    missing = dict(state)
    del missing["fc_att.bias"]
    with pytest.raises(ValueError, match=r"fc_att\.bias"):
        convert_state_dict(missing, config)
    missing = dict(state)
    del missing["llama_model.base_model.model.model.layers.1.mlp.up_proj.lora_A.default.weight"]
    with pytest.raises(ValueError, match=r"layers\.1\.mlp\.up_proj\.lora_A"):
        convert_state_dict(missing, config)
    with pytest.raises(ValueError, match="affectgpt_proj.weight.*shape"):
        convert_state_dict({**state, "affectgpt_proj.weight": torch.zeros(5, 5)}, config)
    # A Q-Former checkpoint against the attention-fusion base: its keys have no place there.
    qstate = upstream_state_dict(tiny_config(input_mode="multiface_audio_face_text", fusion="qformer", **QFORMER))
    with pytest.raises(ValueError, match="multi_Qformer|multi_query_tokens|multi_position_embedding"):
        convert_state_dict(qstate, config)
    with pytest.raises(ValueError, match="llama_model.base_model.model.model.embed_tokens.weight"):
        rename_upstream_key("llama_model.base_model.model.model.embed_tokens.weight")


@pytest.mark.timeout(120)
def test_cli_converts_loads_and_generates(tmp_path, clips, caplog):
    from transformers import CLIPConfig, CLIPModel, HubertModel, Qwen2ForCausalLM

    from affectgpt_hf import AffectGPTForConditionalGeneration, AffectGPTProcessor
    from affectgpt_hf.cli import main

    config = tiny_config()  # hub_configs/tiny: frames + audio + fused token, attention pooling and fusion
    torch.manual_seed(0)
    llm, vision, audio = tmp_path / "llm", tmp_path / "clip", tmp_path / "hubert"
    Qwen2ForCausalLM(config.text_config).save_pretrained(llm)
    vision_config = config.vision_config.to_dict()
    clip_config = CLIPConfig(
        vision_config=vision_config,
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2},
        projection_dim=vision_config["projection_dim"],
    )
    CLIPModel(clip_config).save_pretrained(vision)
    HubertModel(config.audio_config).save_pretrained(audio)
    state = upstream_state_dict(config)
    checkpoint = tmp_path / "checkpoint_000010_loss_0.612.pth"
    torch.save({"model": state, "optimizer": {}, "config": {}, "scaler": None, "epoch": 10}, checkpoint)

    common = ["convert", "--checkpoint", str(checkpoint), "--base", str(TINY), "--llm", str(llm)]
    common += ["--vision", str(vision), "--audio", str(audio)]
    with caplog.at_level(logging.INFO, logger="affectgpt_hf.convert_affectgpt_checkpoint"):
        assert main([*common, "--merge-lora", "--output-dir", str(tmp_path / "merged")]) == 0
    assert "image_llama_proj.weight" in caplog.text and "image_llama_proj is trainable" in caplog.text
    assert main([*common, "--output-dir", str(tmp_path / "adapter")]) == 0

    out = tmp_path / "merged"
    assert {"config.json", "generation_config.json", "README.md", "processor_config.json"} <= {
        p.name for p in out.iterdir()
    }
    assert "merged into the language model" in (out / "README.md").read_text()
    model = AffectGPTForConditionalGeneration.from_pretrained(out).eval()
    processor = AffectGPTProcessor.from_pretrained(out)
    assert (
        model.generation_config.eos_token_id
        == json.loads((TINY / "generation_config.json").read_text())["eos_token_id"]
    )
    # The converted heads and the merged LoRA are what the checkpoint defines; the towers are the component folders'.
    check_linear(model.model.video_projector, state, "affectgpt_proj")
    clip = CLIPModel.from_pretrained(vision)
    assert torch.equal(model.model.vision_tower.visual_projection.weight, clip.visual_projection.weight)
    base_q = Qwen2ForCausalLM.from_pretrained(llm).model.layers[0].self_attn.q_proj.weight
    prefix = "llama_model.base_model.model.model.layers.0.self_attn.q_proj"
    delta = state[f"{prefix}.lora_B.default.weight"] @ state[f"{prefix}.lora_A.default.weight"] * 32 / RANK
    torch.testing.assert_close(model.model.language_model.layers[0].self_attn.q_proj.weight, base_q + delta)

    inputs = processor(videos=[str(clips[0])], subtitles=["I told you already."], task="ov_labels")
    with torch.no_grad():
        logits = model(**inputs).logits
        ids = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert ids.shape[1] > inputs["input_ids"].shape[1]
    assert isinstance(processor.batch_decode(ids)[0], str)

    # Without --merge-lora: base weights + a PEFT adapter beside them compute the same logits.
    from peft import PeftModel

    adapter_dir = tmp_path / "adapter"
    plain = AffectGPTForConditionalGeneration.from_pretrained(adapter_dir).eval()
    assert torch.equal(plain.model.language_model.layers[0].self_attn.q_proj.weight, base_q)
    peft_model = PeftModel.from_pretrained(plain, adapter_dir / "adapter").eval()
    with torch.no_grad():
        torch.testing.assert_close(peft_model(**inputs).logits, logits, rtol=1e-4, atol=1e-4)

    # --dtype bfloat16: every tensor saved in bf16, the heads and towers the float32 conversion's, rounded
    from safetensors import safe_open

    assert main([*common, "--merge-lora", "--dtype", "bfloat16", "--output-dir", str(tmp_path / "bf16")]) == 0
    with safe_open(str(tmp_path / "bf16" / "model.safetensors"), framework="pt") as saved:
        assert {saved.get_slice(key).get_dtype() for key in saved.keys()} == {"BF16"}
    half = AffectGPTForConditionalGeneration.from_pretrained(tmp_path / "bf16").eval()
    assert half.dtype == torch.bfloat16
    for name in ("model.video_projector.weight", "model.vision_tower.visual_projection.weight"):
        assert torch.equal(half.get_parameter(name), model.get_parameter(name).to(torch.bfloat16)), name
    assert half.generate(**inputs, max_new_tokens=2, do_sample=False).shape[1] > inputs["input_ids"].shape[1]


@pytest.mark.timeout(30)
def test_cli_reports_a_bad_checkpoint(tmp_path, capsys):
    from affectgpt_hf.cli import main

    checkpoint = tmp_path / "bad.pth"
    torch.save({"model": {"not_an_affectgpt_key": torch.zeros(1)}}, checkpoint)
    code = main(["convert", "--checkpoint", str(checkpoint), "--base", str(TINY), "--output-dir", str(tmp_path / "o")])
    assert code == 2
    assert "not_an_affectgpt_key" in capsys.readouterr().err
    # not a checkpoint at all, or one with pickled objects that a weights-only load refuses: named, nothing unsafe
    (tmp_path / "garbage.pth").write_bytes(np.random.default_rng(0).bytes(3000))
    torch.save({"model": {}, "hook": Fraction(1, 3)}, tmp_path / "objects.pth")
    for name in ("garbage", "objects"):
        argv = ["convert", "--checkpoint", str(tmp_path / f"{name}.pth"), "--base", str(TINY), "--output-dir", "o"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"affectgpt convert: error: checkpoint {tmp_path / name}.pth does not load as tensors (" in err
        assert "weights_only` set to `False`" not in err and "Traceback" not in err
