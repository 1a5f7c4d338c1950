"""A rebuilt input never brings back results made from the earlier one: a Hub folder rebuilt in place (or another
folder of the same name) loads its own rows, through `datasets.load_dataset` as the README says and through our
loaders; a feature cache of changed rows is refused until it is made again; the benchmark's cached answers and labels
are keyed by the checkpoint's files, the test set's release and the answer text; the emotion-wheel parse and the
tokenizer JSON by the code that makes them."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import datasets
import pandas as pd
import pytest
from utils import TINY

from affectgpt_hf.data.hub import hub_folder_files, load_hub_folder, write_hub_folder
from affectgpt_hf.data.mini_release import write_mini_release
from affectgpt_hf.training.arguments import DataArguments
from affectgpt_hf.training.data import load_training_dataset

CONFIG = "mer_caption_plus"
TINY_YAML = TINY / "train.yaml"


def release_of(folder: Path, count: int, seed: int = 0) -> Path:
    return write_mini_release(folder, CONFIG, count=count, seed=seed)


def trainer_rows(folder: Path) -> datasets.Dataset:
    return load_training_dataset(DataArguments(dataset_dir=str(folder), dataset_config=CONFIG, dataset_split="train"))


@pytest.mark.timeout(120)
def test_a_folder_rebuilt_in_place_loads_its_new_rows(tmp_path):
    hub = write_hub_folder(release_of(tmp_path / "release", 3), tmp_path / "a" / "hub", embed_media=True)
    assert len(datasets.load_dataset(str(hub), CONFIG, split="train")) == 3
    assert len(trainer_rows(hub)) == 3
    first = hub_folder_files(hub, CONFIG, "train")

    shutil.rmtree(tmp_path / "release")  # the release again, one clip fewer
    write_hub_folder(release_of(tmp_path / "release", 2), hub, embed_media=True)
    assert len(datasets.load_dataset(str(hub), CONFIG, split="train")) == 2
    assert len(trainer_rows(hub)) == 2
    assert not any(path.exists() for path in first)  # the earlier build's shards are gone
    (shard,) = hub_folder_files(hub, CONFIG, "train")
    assert shard.name.startswith("train-") and len(shard.name.split("-")[1]) == 16  # named by its content

    other = write_hub_folder(release_of(tmp_path / "other", 4, seed=1), tmp_path / "b" / "hub", embed_media=True)
    assert len(datasets.load_dataset(str(other), CONFIG, split="train")) == 4  # same folder name, own rows
    assert len(datasets.load_dataset(str(hub), CONFIG, split="train")) == 2


def test_a_file_replaced_under_its_name_is_read_again_by_our_loader(tmp_path):
    """A shard rewritten by hand under the same name (no rebuild): `load_hub_folder` passes the resolved files,
    which datasets keys by modification time."""
    hub = write_hub_folder(release_of(tmp_path / "release", 3), tmp_path / "hub")
    assert len(load_hub_folder(hub, CONFIG, "train")) == 3
    (shard,) = hub_folder_files(hub, CONFIG, "train")
    table = pd.read_parquet(shard)
    time.sleep(0.01)
    table.iloc[:1].to_parquet(shard)
    os.utime(shard, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert len(load_hub_folder(hub, CONFIG, "train")) == 1


def test_the_card_lists_exact_files_and_keeps_other_configs(tmp_path):
    from huggingface_hub import metadata_load

    release = release_of(tmp_path / "release", 3)
    hub = write_hub_folder(release, tmp_path / "hub")
    (entry,) = metadata_load(hub / "README.md")["configs"][0]["data_files"]
    assert entry["split"] == "train" and entry["path"] == [p.relative_to(hub).as_posix() for p in hub_folder_files(
        hub, CONFIG, "train")]  # fmt: skip
    with pytest.raises(ValueError, match=r"has no config 'meld'; its README lists \['mer_caption_plus'\]"):
        hub_folder_files(hub, "meld", "test")


@pytest.mark.timeout(240)
def test_a_feature_cache_of_changed_rows_is_refused_until_made_again(tmp_path, capsys):
    from affectgpt_hf.cli import main

    hub = write_hub_folder(release_of(tmp_path / "release", 3), tmp_path / "hub", embed_media=True)
    cache = tmp_path / "features"
    make_cache = ["cache-features", "--model", str(TINY), "--dataset", str(hub), "--output", str(cache)]
    assert main(make_cache) == 0
    train = ["train", "--config", str(TINY_YAML), "--dataset_dir", str(cache), "--output_dir", str(tmp_path / "run"),
             "--disable_tqdm", "true", "--max_steps", "1", "--save_strategy", "no"]  # fmt: skip

    shutil.rmtree(tmp_path / "release")
    write_hub_folder(release_of(tmp_path / "release", 2, seed=1), hub, embed_media=True)
    assert main(train) == 2
    err = capsys.readouterr().err
    assert f"the feature cache {cache} was made from {hub}" in err and "Run `affectgpt cache-features` again" in err

    assert main(make_cache) == 0  # the same output folder, made again
    cached = datasets.load_from_disk(str(cache))
    assert len(cached) == 2 and cached["name"] == list(load_hub_folder(hub, CONFIG, "train")["name"])
    assert main(train) == 0
    assert "2 rows" in (tmp_path / "run" / "README.md").read_text()


def test_benchmark_answers_are_keyed_by_the_checkpoint_files_and_the_release(tmp_path):
    from affectgpt_hf.benchmark.outputs import answer_digest, check_manifest, checkpoint_fingerprint

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"one")
    before = checkpoint_fingerprint(str(folder))
    (folder / "README.md").write_text("a card rewritten by `affectgpt card`")
    assert checkpoint_fingerprint(str(folder)) == before
    time.sleep(0.01)
    (folder / "model.safetensors").write_bytes(b"two")  # retrained in place
    assert checkpoint_fingerprint(str(folder)) != before
    assert checkpoint_fingerprint("org/a-hub-id") is None

    manifest = tmp_path / "run.json"
    check_manifest(manifest, {"files": before})
    check_manifest(manifest, {"files": before})
    with pytest.raises(ValueError, match="holds answers made from"):
        check_manifest(manifest, {"files": checkpoint_fingerprint(str(folder))})
    assert answer_digest("happy") != answer_digest("sad") and answer_digest(None) == answer_digest("")


@pytest.mark.timeout(180)
def test_benchmark_stops_when_a_set_release_changed(tmp_path, tiny_model_dir, capsys):
    """The benchmark's answers for a set are reused only while its release is unchanged: an edited subtitle table
    stops the run, naming the folder to clear."""
    from affectgpt_hf.cli import main

    root = tmp_path / "root"
    release = write_mini_release(root, "cmu_mosi", count=2)
    argv = ["benchmark", "--model", str(tiny_model_dir(seed=0)), "--data-root", str(root), "--datasets", "CMUMOSI",
            "--output-dir", str(tmp_path / "out"), "--max-new-tokens", "2", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert main(argv) == 0  # nothing changed: the answers are reused
    table = sorted(release.glob("*.csv"))[0]
    time.sleep(0.01)
    table.write_text(table.read_text() + "\n")
    assert main(argv) == 2
    assert "holds answers made from {'release'" in capsys.readouterr().err


def test_wheel_parse_and_tokenizer_json_are_keyed_by_their_code(tmp_path, monkeypatch):
    from affectgpt_hf import tokenizer
    from affectgpt_hf.cache import source_digest
    from affectgpt_hf.unibench import resources

    monkeypatch.setenv("AFFECTGPT_HF_CACHE", str(tmp_path))
    resources._MEMORY.clear()
    resources.load_wheels()
    (parse,) = (tmp_path / "unibench").glob("wheels-*.json")
    assert parse.name.startswith(f"wheels-{source_digest(resources.__file__)[:8]}-")
    tokenizer._backend_json.cache_clear()
    tokenizer.build_qwen25_tokenizer(vocab_size=512)
    (built,) = tmp_path.glob("qwen2.5-bpe-512-*.json")
    assert source_digest(tokenizer.__file__)[:8] in built.name
    resources._MEMORY.clear()
    tokenizer._backend_json.cache_clear()
    json.loads(built.read_text())
