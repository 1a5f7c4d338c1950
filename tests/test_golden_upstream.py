"""Our converted model against golden values from upstream AffectGPT (fffca79) run on its own pinned stack.

tests/golden/upstream_golden.{json,npz} were written by tests/golden/upstream/make.sh (transformers 4.49, peft 0.13.2;
provenance inside the json, regeneration in tests/golden/README.md). Here the same tiny components and inputs are
rebuilt from tests/golden/upstream/recipe.py, upstream's checkpoint is rebuilt bit for bit (its digest is checked),
converted by `affectgpt convert --merge-lora` and loaded with `from_pretrained`, the way users take. Equal: prompt ids,
training ids and labels, greedy ids; within 1e-4 (fp32): CLIP and HuBERT features, the three modality tokens, the
training loss and the teacher-forced logits of both questions.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch
from utils import REPO

sys.path.insert(0, str(REPO / "tests" / "golden" / "upstream"))
import recipe  # noqa: E402

GOLDEN = REPO / "tests" / "golden"
ATOL = 1e-4
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def golden():
    meta = json.loads((GOLDEN / "upstream_golden.json").read_text())
    with np.load(GOLDEN / "upstream_golden.npz") as data:
        arrays = {key: data[key] for key in data.files}
    return meta, arrays


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The tiny components as upstream's harness built them (recipe.fill_module), saved by our stack, and the media."""
    from transformers import CLIPConfig, CLIPModel, HubertConfig, HubertModel, Qwen2Config, Qwen2ForCausalLM

    root = tmp_path_factory.mktemp("golden")
    for folder, model, prefix in (
        ("llm", Qwen2ForCausalLM(Qwen2Config(**recipe.QWEN2_CONFIG)), "llm"),
        ("clip", CLIPModel(CLIPConfig(**recipe.CLIP_CONFIG)), "clip"),
        ("hubert", HubertModel(HubertConfig(**recipe.HUBERT_CONFIG)), "hubert"),
    ):
        recipe.fill_module(model, prefix)
        model.save_pretrained(root / folder)
    recipe.write_wav(root / "clip.wav", recipe.wav_samples())
    np.save(root / "faces.npy", recipe.face_crops())
    return root


_CONVERTED: dict[str, tuple] = {}
_PROCESSORS: dict[str, tuple] = {}
PROCESSOR_FILES = ("processor_config.json", "tokenizer_config.json", "tokenizer.json", "chat_template.jinja")


def converted(variant: str, golden, workdir):
    """Upstream's checkpoint of `variant` rebuilt from the recipe, converted by the CLI, loaded by from_pretrained."""
    if variant in _CONVERTED:
        return _CONVERTED[variant]
    from affectgpt_hf import AffectGPTForConditionalGeneration, AffectGPTProcessor
    from affectgpt_hf.cli import main

    meta, arrays = golden
    spec, entry = recipe.VARIANTS[variant], meta["variants"][variant]["checkpoint"]
    state = {
        key: recipe.fill_value(f"ckpt.{variant}.{key}", tuple(shape)) for key, shape in entry["parameters"].items()
    }
    state.update({key: torch.from_numpy(arrays[f"{variant}/buffer/{key}"]) for key in entry["buffers"]})
    assert recipe.state_digest(state) == entry["sha256_state"], f"{variant}: the rebuilt checkpoint is not upstream's"
    checkpoint = workdir / variant / entry["file"]
    checkpoint.parent.mkdir()
    torch.save({"model": state, "epoch": 0}, checkpoint)

    base = workdir / variant / "base"
    shutil.copytree(REPO / "hub_configs" / spec["base"], base)
    config = json.loads((base / "config.json").read_text())
    config.update(spec["ours"])
    (base / "config.json").write_text(json.dumps(config, indent=2))
    out = workdir / variant / "model"
    args = ["convert", "--checkpoint", str(checkpoint), "--base", str(base), "--llm", str(workdir / "llm")]
    args += ["--vision", str(workdir / "clip"), "--audio", str(workdir / "hubert"), "--merge-lora"]
    assert main([*args, "--dtype", "float32", "--output-dir", str(out)]) == 0
    model = AffectGPTForConditionalGeneration.from_pretrained(out).eval()
    # The processor is the folder's; folders of one base share it byte for byte, so it is loaded once per base.
    files = {name: (out / name).read_bytes() for name in PROCESSOR_FILES}
    if spec["base"] not in _PROCESSORS or _PROCESSORS[spec["base"]][0] != files:
        _PROCESSORS[spec["base"]] = (files, AffectGPTProcessor.from_pretrained(out))
    processor = _PROCESSORS[spec["base"]][1]
    _CONVERTED[variant] = (model, processor)
    return model, processor


def processor_inputs(variant: str, processor, workdir, task: str):
    media = {"audio": [str(workdir / "clip.wav")]}
    if recipe.VARIANTS[variant]["base"].endswith("-frame"):
        media["videos"] = [recipe.video_frames()]  # upstream got these frames in place of decord's decode
    else:
        media["faces"] = [str(workdir / "faces.npy")]
    return processor(subtitles=[recipe.SUBTITLE], task=task, return_tensors="pt", **media)


def close(ours, theirs, what: str, atol: float = ATOL) -> None:
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs upstream's {theirs.shape}"
    worst = float(np.abs(ours - theirs).max())
    assert worst <= atol, f"{what}: max |ours - upstream| = {worst:.3g} > {atol}"


def greedy(model, inputs) -> tuple[list[int], torch.Tensor]:
    """New greedy ids, and the prefill's inputs_embeds as the language model received them."""
    merged = []

    def keep(module, args, kwargs):
        merged.append(kwargs["inputs_embeds"])

    hook = model.model.language_model.register_forward_pre_hook(keep, with_kwargs=True)
    try:
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=recipe.MAX_NEW_TOKENS, do_sample=False)
    finally:
        hook.remove()
    return out[0, inputs["input_ids"].shape[1] :].tolist(), merged[0][0]


@pytest.mark.parametrize("variant", list(recipe.VARIANTS))
def test_inputs_features_tokens_and_greedy_ids_equal_upstream(variant, golden, workdir):
    meta, arrays = golden
    model, processor = converted(variant, golden, workdir)
    g = {key.split("/", 1)[1]: value for key, value in arrays.items() if key.startswith(f"{variant}/")}
    config = model.config
    from affectgpt_hf.media import load_faces, sample_video_frames

    if recipe.VARIANTS[variant]["base"].endswith("-frame"):
        visual = sample_video_frames(recipe.video_frames())
    else:
        visual = load_faces(workdir / "faces.npy")  # upstream: np.load, cv2.resize to 224, uniform pick
    assert recipe.sha256_array(visual) == meta["variants"][variant]["raw_visual_sha256"], f"{variant}: frames differ"
    for task in recipe.TASKS:
        inputs = processor_inputs(variant, processor, workdir, task)
        expected = meta["variants"][variant]["tasks"][task]
        ids = inputs["input_ids"][0]
        assert ids.tolist() == expected["prompt_ids"], f"{variant}/{task}: prompt ids differ"
        pixels, waves = inputs["pixel_values_videos"], inputs["input_values"]
        close(pixels[0].double().sum(dim=(1, 2, 3)), g["pixel_values_sum"], f"{variant}: CLIP pixel sums", 1e-2)
        close(pixels[0, :, :, 100:116, 100:116], g["pixel_values_patch"], f"{variant}: CLIP pixels", 1e-5)
        close(waves[0, :, :256], g["input_values_head"], f"{variant}: HuBERT input_values", 1e-5)
        stats = [waves.double().mean(), waves.double().std()]
        close(stats, g["input_values_stats"], f"{variant}: input_values mean/std", 1e-6)
        if task == recipe.TASKS[0]:
            with torch.no_grad():
                close(model.get_video_features(pixels)[0], g["clip_features"], f"{variant}: CLIP features")
                close(model.get_audio_features(waves)[0], g["hubert_features"], f"{variant}: HuBERT features")
        new, embeds = greedy(model, inputs)
        for name, token_id in (
            ("token_video", config.visual_token_id),
            ("token_audio", config.audio_token_id),
            ("token_multi", config.multi_token_id),
        ):
            close(embeds[ids == token_id], g[name], f"{variant}/{task}: {name}")
        want = expected["greedy_ids"]
        assert new == want, f"{variant}/{task}: greedy ids {new} vs upstream's {want}"


@pytest.mark.parametrize("variant", list(recipe.VARIANTS))
def test_training_sequence_loss_and_teacher_forced_logits_equal_upstream(variant, golden, workdir):
    from affectgpt_hf.training.collator import AffectGPTSFTCollator

    meta, arrays = golden
    model, processor = converted(variant, golden, workdir)
    inputs = processor_inputs(variant, processor, workdir, "ov_labels")
    with torch.no_grad():
        video = model.get_video_features(inputs["pixel_values_videos"])[0].numpy()
        audio = model.get_audio_features(inputs["input_values"])[0].numpy()
    collator = AffectGPTSFTCollator(processor)
    rows = {
        "ov_labels": {"ov_labels": recipe.OV_LABELS.split(", ")},
        "description": {"description": recipe.DESCRIPTION},
    }
    for task, row in rows.items():
        expected = meta["variants"][variant]["tasks"][task]
        row = {"name": "golden_clip", "subtitle": recipe.SUBTITLE, **row}
        batch = collator([{**row, "video_features": video, "audio_features": audio}])
        assert batch["input_ids"][0].tolist() == expected["input_ids"], f"{variant}/{task}: training ids differ"
        assert batch["labels"][0].tolist() == expected["labels"], f"{variant}/{task}: labels differ"
        assert batch["attention_mask"][0].tolist() == expected["attention_mask"], f"{variant}/{task}: mask differs"
        with torch.no_grad():
            out = model(**batch)
        loss, want = float(out.loss), expected["loss"]
        assert abs(loss - want) <= ATOL, f"{variant}/{task}: loss {loss} vs upstream's {want}"
        logits = out.logits[0]
        g = {key: arrays[f"{variant}/{task}/{key}"] for key in ("logsumexp", "row_sum", "top_ids", "top_values")}
        g["rows"], picks = arrays[f"{variant}/{task}/rows"], arrays[f"{variant}/{task}/row_positions"]
        vocab = logits.shape[-1]
        close(logits.logsumexp(-1), g["logsumexp"], f"{variant}/{task}: logsumexp per position")
        close(logits.double().sum(-1) / vocab, g["row_sum"] / vocab, f"{variant}/{task}: mean logit per position")
        # Upstream's top-k entries, read from our logits at upstream's ids (ties cannot reorder this check).
        close(logits.gather(1, torch.from_numpy(g["top_ids"]).long()), g["top_values"], f"{variant}/{task}: top-k")
        assert (logits.argmax(-1).numpy() == g["top_ids"][:, 0]).all(), f"{variant}/{task}: argmax differs"
        subset = torch.from_numpy(recipe.row_subset_ids(vocab)).long()
        close(logits[torch.from_numpy(picks).long()][:, subset], g["rows"], f"{variant}/{task}: logit rows")


def test_audio_features_are_upstream_hubert_states_not_transformers5_raw(golden, workdir):
    """transformers 5's raw `hidden_states[-1]` of a stable-layer-norm HuBERT lacks the final LayerNorm that 4.49 (and
    so upstream's training) had: averaging it gives features far from upstream's. get_audio_features must not."""
    meta, arrays = golden
    model, processor = converted("face", golden, workdir)
    waves = processor_inputs("face", processor, workdir, "ov_labels")["input_values"]
    with torch.no_grad():
        ours = model.get_audio_features(waves)[0]
        raw = model.model.audio_tower(waves[0], output_hidden_states=True).hidden_states
    raw_mean = torch.stack(raw[-4:]).mean(0).mean(1)
    expected = arrays["face/hubert_features"]
    assert model.model.audio_tower.config.do_stable_layer_norm
    assert float(np.abs(raw_mean.numpy() - expected).max()) > 0.1, "the golden audio features cannot tell the two apart"
    close(ours, expected, "get_audio_features vs upstream (4.49) HuBERT features")


def test_answers_stop_where_upstream_stops(golden):
    """Upstream ends an answer on Chat's stop sequences (eos, "###", "##"+"#", "#"+"##") or on the eos ids of Qwen's
    generation config; ours on the eos ids of the generation config that `affectgpt convert` copies from the base
    folder, and the two-token stops of `generate`."""
    from transformers import GenerationConfig

    from affectgpt_hf.modeling_affectgpt import UPSTREAM_STOP_SEQUENCES

    meta, _ = golden
    for variant, entry in meta["variants"].items():
        ours = GenerationConfig.from_pretrained(REPO / "hub_configs" / recipe.VARIANTS[variant]["base"])
        stops = entry["stops"]
        sequences = [tuple(stop) for stop in stops["chat_stop_sequences"]]
        single = {stop[0] for stop in sequences if len(stop) == 1} | set(stops["generation_config_eos"])
        assert set(ours.eos_token_id) == single, f"{variant}: single-token stops {ours.eos_token_id} vs {single}"
        two = {stop for stop in sequences if len(stop) > 1}
        assert set(UPSTREAM_STOP_SEQUENCES) == two, f"{variant}: two-token stops {UPSTREAM_STOP_SEQUENCES} vs {two}"
