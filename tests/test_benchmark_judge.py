"""`affectgpt benchmark --judge FOLDER`: a rigged chat model (tests/rigged_chat.py) saved as a transformers folder
extracts every clip's labels (step 1) and the sentiment sets' polarity (step 2) through the real judge path."""

from __future__ import annotations

import json

import pytest

from affectgpt_hf.cli import main
from affectgpt_hf.data.mini_release import write_mini_release
from affectgpt_hf.unibench import hit_rate, ovmer_scores, sentiment_scores

SETS = {"MER2023": "mer2023", "OVMERDPlus": "ov_merd_plus", "CMUMOSI": "cmu_mosi"}
# step 1 answers "[worried]" whatever the description; step 2 answers "negative" for the list [worried]
RULES = [("[worried];", "negative")]


@pytest.mark.timeout(240)
def test_benchmark_judge_extracts_labels_and_sentiment(tmp_path, tiny_model_dir):
    from rigged_chat import rigged_chat_model

    judge_dir = tmp_path / "judge"
    judge, tokenizer = rigged_chat_model(RULES, default="[worried]")
    judge.save_pretrained(judge_dir)
    tokenizer.save_pretrained(judge_dir)
    model = tiny_model_dir(seed=3)
    data_root = tmp_path / "data"
    for config in SETS.values():
        write_mini_release(data_root, config, count=2)

    out = tmp_path / "out"
    args = ["benchmark", "--model", str(model), "--data-root", str(data_root), "--datasets", *SETS]
    args += ["--judge", str(judge_dir), "--output-dir", str(out), "--max-new-tokens", "3", "--no-progress"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    report = json.loads((out / "benchmark.json").read_text())
    assert report["extraction_mode"] == f"llm-judge:{judge_dir}:greedy"

    samples = {
        name: [json.loads(x) for x in (out / "samples" / f"{name}.jsonl").read_text().splitlines()] for name in SETS
    }
    for name, rows in samples.items():
        assert rows and all(row["labels"] == ["worried"] for row in rows), (name, rows)
        assert all(isinstance(row["text"], str) for row in rows)
    assert [row["sentiment"] for row in samples["CMUMOSI"]] == ["negative"] * len(samples["CMUMOSI"])

    # the reported scores are those of the judge's labels
    mer = samples["MER2023"]
    assert report["datasets"]["MER2023"]["scores"]["hit_rate"] == pytest.approx(
        hit_rate([r["labels"] for r in mer], [r["gold"] for r in mer])["hit_rate"], nan_ok=True
    )
    ov = samples["OVMERDPlus"]
    assert report["datasets"]["OVMERDPlus"]["scores"]["fscore"] == pytest.approx(
        ovmer_scores([r["labels"] for r in ov], [r["gold"] for r in ov])["fscore"], nan_ok=True
    )
    mosi = samples["CMUMOSI"]
    expected = sentiment_scores([r["sentiment"] for r in mosi], [r["gold"] for r in mosi])
    assert report["datasets"]["CMUMOSI"]["scores"] == pytest.approx(
        {k: expected[k] for k in ("weighted_f1", "accuracy")}
    )
