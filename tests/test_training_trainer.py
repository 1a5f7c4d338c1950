"""training/trainer.py and training/arguments.py on the tiny config (CPU, offline): upstream's scheduler, LoRA
targets and trainable heads, the loss falling through the CLI, resume, the model's logits (supervised positions only)
= TRL's fused head, the merged LoRA folder, and a 2-process run equal to one process."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch
from utils import REPO, TINY

TINY_YAML = TINY / "train.yaml"


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


# ----------------------------------------------------------------------------------------------------------- training
@pytest.mark.timeout(180)
@pytest.mark.timeout(120)
def test_a_feature_cache_of_another_model_is_refused_or_warned_about(feature_cache, tmp_path, capsys, caplog):
    """Another input mode: refused before training, naming both; other towers of the same mode: a warning."""
    from affectgpt_hf.cli import main
    from affectgpt_hf.training.features import FEATURES_INFO

    cache = tmp_path / "cache"
    shutil.copytree(feature_cache, cache)
    info = json.loads((cache / FEATURES_INFO).read_text())
    argv = ["train", "--config", str(TINY_YAML), "--dataset_dir", str(cache), "--output_dir", str(tmp_path / "run"),
            "--disable_tqdm", "true", "--max_steps", "1", "--save_strategy", "no"]  # fmt: skip
    (cache / FEATURES_INFO).write_text(json.dumps({**info, "input_mode": "multiframe_audio_face_text"}))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "made for input_mode 'multiframe_audio_face_text'" in err and f"is {info['input_mode']!r}" in err
    (cache / FEATURES_INFO).write_text(json.dumps({**info, "towers_checksum": info["towers_checksum"] + 1}))
    with caplog.at_level(logging.WARNING, logger="affectgpt_hf.training.trainer"):
        assert main(argv) == 0
    assert "trains on features of other towers" in caplog.text


@pytest.mark.timeout(60)
def test_a_wrong_model_folder_sample_count_or_table_is_named(feature_cache, release, tmp_path, capsys):
    from affectgpt_hf.cli import main

    argv = ["train", "--config", str(TINY_YAML), "--dataset_dir", str(feature_cache), "--output_dir", str(tmp_path)]
    assert main([*argv, "--model_name_or_path", str(tmp_path / "none")]) == 2
    assert f"affectgpt train: error: model {tmp_path / 'none'} (no folder" in capsys.readouterr().err
    assert main([*argv, "--max_train_samples", "0"]) == 2
    assert "max_train_samples=0; expected a positive number of rows" in capsys.readouterr().err
    recipe = tmp_path / "recipe.yaml"  # a misspelt field, in the file or on the command line
    recipe.write_text(TINY_YAML.read_text() + "learnig_rate: 0.001\n")
    assert main(["train", "--config", str(recipe), "--dataset_dir", str(feature_cache)]) == 2
    assert "unknown field(s) --learnig_rate (in the --config file or on the command line)" in capsys.readouterr().err
    assert main([*argv, "--learnig-rate", "1"]) == 2
    assert "unknown field(s) --learnig-rate" in capsys.readouterr().err
    table = tmp_path / "table"  # a Hub folder built without media: refused before any model loads
    assert main(["dataset", "build", "--data-dir", str(release), "--out", str(table)]) == 0
    argv[argv.index("--dataset_dir") + 1] = str(table)
    assert main(argv) == 2
    assert f"{table} holds no media (video, audio, face) and no cached features" in capsys.readouterr().err


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


@pytest.mark.timeout(150)
def test_resume_with_the_other_lora_setting_or_no_checkpoint_is_refused_before_the_model(
    feature_cache, tmp_path, capsys, monkeypatch
):
    """A LoRA checkpoint resumed without --use_lora (and a full one with it), a missing folder and `last` with no
    checkpoint are named, with what to do, before any model is built."""
    from affectgpt_hf.cli import main
    from affectgpt_hf.training import model as model_module

    argv = ["train", "--config", str(TINY_YAML), "--dataset_dir", str(feature_cache), "--disable_tqdm", "true"]
    lora = [
        *argv,
        "--output_dir",
        str(tmp_path / "lora"),
        "--use_lora",
        "true",
        "--max_steps",
        "1",
        "--save_steps",
        "1",
    ]
    full = [*argv, "--output_dir", str(tmp_path / "full"), "--max_steps", "1", "--save_steps", "1"]
    assert main(lora) == 0 and main(full) == 0
    built = []
    monkeypatch.setattr(model_module, "build_model", lambda *a, **k: built.append(a))
    resume = "--resume_from_checkpoint"
    assert main([*full[:-4], resume, str(tmp_path / "lora" / "checkpoint-1")]) == 2
    err = capsys.readouterr().err
    assert "holds a LoRA adapter (adapter_config.json), but use_lora is False; resume it with --use_lora true" in err
    assert main([*lora, resume, str(tmp_path / "full" / "checkpoint-1"), "--use_lora", "true"]) == 2
    assert "holds the full model's weights, no LoRA adapter, but use_lora is True" in capsys.readouterr().err
    assert main([*full, resume, str(tmp_path / "nowhere")]) == 2
    assert f"resume_from_checkpoint {tmp_path / 'nowhere'} is not a folder" in capsys.readouterr().err
    assert main([*argv, "--output_dir", str(tmp_path / "empty"), resume, "last"]) == 2
    assert "holds no checkpoint-N folder to resume" in capsys.readouterr().err
    assert not built


def test_logits_only_where_a_label_follows():
    """The CPU loss path's logits: the positions followed by a label, row by row, with the labels they predict."""
    from affectgpt_hf.training.trainer import supervised_logits

    labels = torch.tensor([[-100, -100, 5, 6, -100, -100], [-100, -100, -100, 7, 8, -100]])
    kept = supervised_logits(labels)
    assert kept["logits_to_keep"].tolist() == [[0, 1, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0]]
    assert kept["shift_labels"].tolist() == [5, 6, 7, 8]
    assert supervised_logits(torch.full((2, 4), -100)) == {}


@pytest.mark.timeout(120)
def test_full_logits_loss_equals_fused_lm_head(feature_cache, tmp_path):
    """`fused_lm_head: false` (the CPU default) trains as TRL's fused LM head does: same per-step losses, same weights,
    with gradient accumulation; token accuracy is logged either way; evaluation gets every position's logits."""
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
    default = build_trainer(*tiny_args(feature_cache, tmp_path / "default", "--per_device_train_batch_size", "2"))
    assert default.args.fused_lm_head is None and default.uses_fused_lm_head is False  # CPU
    # prediction_step asks compute_loss for the outputs: every position's logits (for compute_metrics), and the
    # training step's loss from the supervised positions is the same number
    batch = default._prepare_inputs(next(iter(default.get_train_dataloader())))
    with torch.no_grad():
        loss, outputs = default.compute_loss(default.model, dict(batch), return_outputs=True)
        training_loss = default.compute_loss(default.model, dict(batch))
    assert outputs.logits.shape[:2] == batch["input_ids"].shape
    torch.testing.assert_close(training_loss, loss)


@pytest.mark.timeout(120)
def test_lora_run_saves_merged_model_and_adapter(feature_cache, tmp_path):
    """With LoRA the output folder holds the merged model (from_pretrained) and the PEFT adapter in adapter/."""
    from peft import PeftModel

    from affectgpt_hf import AffectGPTForConditionalGeneration, AffectGPTProcessor
    from affectgpt_hf.training import AffectGPTSFTCollator, ModelArguments, build_model, build_trainer, save_trained

    data_args, training_args, model_args = tiny_args(
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
    trainer = build_trainer(data_args, training_args, model_args)
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
    for name, value in ours.items():  # the measured gap: perf/README.md, "Training"
        torch.testing.assert_close(trained[name], value, atol=1e-4, rtol=0, msg=name)
