"""The SFT recipe on the tiny config (CPU, offline): collation as upstream, scheduler, LoRA targets, feature cache,
loss, resume, saving, the CLI and a 2-process run."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch

from affectgpt_hf.data.mini_release import write_mini_release
from affectgpt_hf.data.sft import pick_pair
from affectgpt_hf.prompt import format_training_target, render_prompt

REPO = Path(__file__).resolve().parents[1]
TINY_YAML = REPO / "hub_configs" / "tiny" / "train.yaml"
ROWS = 6


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Path:
    return write_mini_release(tmp_path_factory.mktemp("release"), "mer_caption_plus", count=ROWS)


@pytest.fixture(scope="session")
def feature_cache(release, tmp_path_factory) -> Path:
    """`affectgpt cache-features` over the mini release with the tiny model's seeded towers (seed 42 = train.yaml)."""
    from affectgpt_hf.cli import main

    out = tmp_path_factory.mktemp("features") / "tiny-features"
    assert main(["cache-features", "--model", str(REPO / "hub_configs" / "tiny"), "--dataset", str(release),
                 "--output", str(out), "--batch-size", "3"]) == 0  # fmt: skip
    return out


@pytest.fixture(scope="session")
def rows(release):
    from affectgpt_hf.data import load_mer_caption

    return load_mer_caption(release)


def tiny_args(feature_cache: Path, output_dir: Path, *extra: str):
    from affectgpt_hf.training import parse_train_args

    return parse_train_args(
        [
            "--config",
            str(TINY_YAML),
            "--dataset_dir",
            str(feature_cache),
            "--output_dir",
            str(output_dir),
            "--disable_tqdm",
            "true",
            "--save_strategy",
            "no",
            *extra,
        ]  # fmt: skip
    )


def record_losses(trainer) -> list[float]:
    """Per-step training losses at full precision (the logs round them)."""
    losses: list[float] = []
    original = trainer.compute_loss

    def compute_loss(*args, **kwargs):
        out = original(*args, **kwargs)
        losses.append(float((out[0] if isinstance(out, tuple) else out).detach()))
        return out

    trainer.compute_loss = compute_loss
    return losses


# ---------------------------------------------------------------------------------------------------------- collation
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


# ---------------------------------------------------------------------------------------------- model and schedule
@pytest.mark.timeout(60)
def test_upstream_lr_schedule():
    """linear_warmup_cosine_lr: 1e-6 -> 1e-5 over the warm-up, then constant when min_lr == lr (upstream's setting)."""
    from affectgpt_hf.training import upstream_lr_factor

    def lr(step, min_lr=1e-5):
        return 1e-5 * upstream_lr_factor(step, lr=1e-5, start_lr=1e-6, min_lr=min_lr, warmup=5000, total=300000)

    assert math.isclose(lr(0), 1e-6) and math.isclose(lr(2500), 5.5e-6) and math.isclose(lr(5000), 1e-5)
    assert math.isclose(lr(299999), 1e-5)
    assert math.isclose(lr(300000, min_lr=1e-6), 1e-6) and math.isclose(lr(152500, min_lr=1e-6), 5.5e-6)


@pytest.mark.timeout(60)
def test_lora_on_language_model_only_heads_trainable():
    """LoRA hits only the Qwen2 projections (not CLIP's or HuBERT's); heads fully trainable; towers frozen."""
    from affectgpt_hf.training import ModelArguments, build_model, head_module_names, prepare_trainable

    model = build_model(ModelArguments(model_name_or_path=str(REPO / "hub_configs" / "tiny")))
    heads = head_module_names(model)
    assert heads == [f"model.{name}" for name in ("video_pooler", "video_projector", "audio_pooler",
                                                    "audio_projector", "av_fusion", "fusion_projector")]  # fmt: skip
    peft_model = prepare_trainable(model, ModelArguments(model_name_or_path="unused"))
    lora = {name.split(".lora_A")[0] for name, _ in peft_model.named_parameters() if ".lora_A" in name}
    assert len(lora) == 2 * 7  # 2 layers x q, k, v, o, gate, up, down
    assert all(".language_model.layers." in name for name in lora)
    trainable = [name for name, param in peft_model.named_parameters() if param.requires_grad]
    assert not any("vision_tower" in name or "audio_tower" in name for name in trainable)
    for head in heads:
        assert any(f"{head}.modules_to_save." in name for name in trainable), head
    assert not any("embed_tokens" in name or "lm_head" in name for name in trainable)


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


# ----------------------------------------------------------------------------------------------------------- training
@pytest.mark.timeout(180)
def test_cli_trains_tiny_config_loss_falls(feature_cache, tmp_path):
    """`affectgpt train --config hub_configs/tiny/train.yaml` for 30 steps: the loss falls, the folder loads."""
    from affectgpt_hf import AffectGPTForConditionalGeneration, AffectGPTProcessor
    from affectgpt_hf.cli import main

    out = tmp_path / "run"
    argv = ["train", "--config", str(TINY_YAML), "--dataset_dir", str(feature_cache), "--output_dir", str(out),
            "--disable_tqdm", "true", "--max_steps", "30", "--save_steps", "30", "--learning_rate", "3e-3",
            "--min_lr", "3e-3", "--warmup_start_lr", "3e-4"]  # fmt: skip
    assert main(argv) == 0
    history = json.loads((out / "checkpoint-30" / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    rates = [entry["learning_rate"] for entry in history if "learning_rate" in entry]
    assert math.isclose(rates[0], 3e-4, rel_tol=1e-6) and math.isclose(rates[-1], 3e-3, rel_tol=1e-6)
    model = AffectGPTForConditionalGeneration.from_pretrained(out)
    processor = AffectGPTProcessor.from_pretrained(out)
    cached = datasets.load_from_disk(str(feature_cache))
    from affectgpt_hf.training import AffectGPTSFTCollator

    batch = AffectGPTSFTCollator(processor, seed=42)([cached[0]])
    with torch.no_grad():
        assert model(**batch).loss.item() < losses[0]


@pytest.mark.timeout(150)
def test_resume_matches_uninterrupted_run(feature_cache, tmp_path):
    """5 steps straight == 2 steps + resume + 3 steps (mid-epoch resume, then a new epoch): same per-step losses."""
    from affectgpt_hf.training import build_trainer

    common = ("--max_steps", "5", "--per_device_train_batch_size", "2", "--save_strategy", "steps", "--save_steps", "2")
    straight = build_trainer(*tiny_args(feature_cache, tmp_path / "a", *common))
    straight_losses = record_losses(straight)
    straight.train()
    resumed = build_trainer(*tiny_args(feature_cache, tmp_path / "b", *common))
    resumed_losses = record_losses(resumed)
    resumed.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2"))
    assert len(straight_losses) == 5 and len(resumed_losses) == 3
    assert straight_losses[2:] == pytest.approx(resumed_losses, abs=1e-6)
    for (name, a), b in zip(straight.model.named_parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)


@pytest.mark.timeout(120)
def test_full_logits_loss_equals_fused_lm_head(feature_cache, tmp_path):
    """`fused_lm_head: false` (the CPU default) trains as TRL's fused LM head does: same per-step losses, same weights,
    with gradient accumulation; token accuracy is logged either way."""
    from affectgpt_hf.training import build_trainer

    common = ("--max_steps", "3", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2",
              "--logging_steps", "1")  # fmt: skip
    runs = {}
    for fused in ("true", "false"):
        trainer = build_trainer(*tiny_args(feature_cache, tmp_path / fused, *common, "--fused_lm_head", fused))
        assert trainer.uses_fused_lm_head is (fused == "true")
        losses = record_losses(trainer)
        trainer.train()
        history = trainer.state.log_history
        assert all("mean_token_accuracy" in entry for entry in history if "loss" in entry)
        runs[fused] = (losses, trainer.model)
    assert len(runs["true"][0]) == len(runs["false"][0]) >= 5  # 3 steps of 2 micro-batches (one ends an epoch)
    assert runs["true"][0] == pytest.approx(runs["false"][0], abs=2e-5)
    for (name, a), b in zip(runs["true"][1].named_parameters(), runs["false"][1].parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=name)
    default = build_trainer(*tiny_args(feature_cache, tmp_path / "default"))
    assert default.args.fused_lm_head is None and default.uses_fused_lm_head is False  # CPU


@pytest.mark.timeout(120)
def test_lora_run_saves_merged_model_and_adapter(feature_cache, tmp_path):
    """With LoRA the output folder holds the merged model (from_pretrained) and the PEFT adapter in adapter/."""
    from peft import PeftModel

    from affectgpt_hf import AffectGPTForConditionalGeneration, AffectGPTProcessor
    from affectgpt_hf.training import AffectGPTSFTCollator, ModelArguments, build_model, build_trainer, save_trained

    model_args, data_args, training_args = tiny_args(
        feature_cache,
        tmp_path / "lora",
        "--use_lora",
        "true",
        "--max_steps",
        "2",
        "--learning_rate",
        "1e-2",
        "--min_lr",
        "1e-2",  # fmt: skip
    )
    trainer = build_trainer(model_args, data_args, training_args)
    trainer.train()
    decay, no_decay = sorted(trainer.optimizer.param_groups, key=lambda group: -group["weight_decay"])
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(param.ndim >= 2 for param in decay["params"]) and all(param.ndim < 2 for param in no_decay["params"])
    out = save_trained(trainer, training_args.output_dir, model_args, trainer.processing_class)
    assert (out / "adapter" / "adapter_config.json").exists() and (out / "model.safetensors").exists()
    merged = AffectGPTForConditionalGeneration.from_pretrained(out).eval()
    processor = AffectGPTProcessor.from_pretrained(out)
    torch.manual_seed(42)
    base = build_model(ModelArguments(model_name_or_path=str(REPO / "hub_configs" / "tiny"))).eval()
    batch = AffectGPTSFTCollator(processor, seed=42)([datasets.load_from_disk(str(feature_cache))[0]])
    with torch.no_grad():
        untrained = base(**batch).logits
        adapted = PeftModel.from_pretrained(base, out / "adapter").eval()  # the same random init + the adapter
        torch.testing.assert_close(merged(**batch).logits, adapted(**batch).logits, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(merged(**batch).logits, untrained, atol=1e-4)


DDP_SCRIPT = """
import json, sys, torch
from affectgpt_hf.training import build_trainer, parse_train_args
trainer = build_trainer(*parse_train_args(sys.argv[1:]))
trainer.train()
model = trainer.accelerator.unwrap_model(trainer.model)
checksum = sum(float(p.detach().double().sum()) for p in model.parameters())
rank = trainer.accelerator.process_index
out = {"rank": rank, "world": trainer.accelerator.num_processes, "checksum": checksum}
open(f"{trainer.args.output_dir}/rank{rank}.json", "w").write(json.dumps(out))
if rank == 0:
    trainable = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    torch.save(trainable, f"{trainer.args.output_dir}/trained.pt")
trainer.accelerator.wait_for_everyone()  # no rank leaves while the other still works (gloo aborts a lone exit)
trainer.accelerator.end_training()
"""


@pytest.mark.timeout(240)
def test_two_processes_agree_and_equal_one_process_of_the_global_batch(feature_cache, tmp_path):
    """`accelerate launch --num_processes 2` (hub_configs/accelerate/ddp.yaml, CPU, gloo), 1 sample per process: both
    ranks end with the same parameters, and those of one process with batches of 2 (the same global batches: the
    ranks take alternate per-device batches of the one shuffled order; the loss is normalised over both ranks'
    tokens)."""
    from affectgpt_hf.training import build_trainer

    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "ddp"
    steps = ("--max_steps", "3", "--learning_rate", "1e-2", "--min_lr", "1e-2", "--warmup_start_lr", "1e-2")
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [str(accelerate), "launch", "--config_file", str(REPO / "hub_configs" / "accelerate" / "ddp.yaml"),
               "--num_processes", "2", "--main_process_port", str(port), str(script),
               "--config", str(TINY_YAML), "--dataset_dir", str(feature_cache), "--output_dir", str(out),
               "--disable_tqdm", "true", "--save_strategy", "no", *steps, "--use_cpu", "true",
               "--per_device_train_batch_size", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=170, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], abs=1e-9)

    single = build_trainer(*tiny_args(feature_cache, tmp_path / "one", *steps, "--per_device_train_batch_size", "2"))
    start = {name: p.detach().clone() for name, p in single.model.named_parameters() if p.requires_grad}
    single.train()
    trained = torch.load(out / "trained.pt")
    ours = {name: p.detach() for name, p in single.model.named_parameters() if p.requires_grad}
    assert set(trained) == set(ours) and ours
    moved = [name for name in ours if not torch.equal(ours[name], start[name])]
    assert len(moved) > len(ours) // 2  # the steps changed the weights, so equal weights mean equal steps
    for name, value in ours.items():  # measured: at most 3.2e-5 apart after moves of 0.03 (AdamW, lr 1e-2)
        torch.testing.assert_close(trained[name], value, atol=1e-4, rtol=0, msg=name)


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
