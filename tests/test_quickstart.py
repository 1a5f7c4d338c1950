"""The reduced quickstart end to end: toy data -> builder -> SFT -> from_pretrained -> describe -> MER-UniBench scores.

The full run's target (hit rate >= 0.9, each blanked modality lower, < 10 min on 2 cores) is a benchmark
(benchmarks/bench_quickstart.py); this checks the same path on a small set with a lower bar.
"""

from __future__ import annotations

import json

import pytest

from affectgpt_hf.quickstart import CHANCE, CONDITIONS, QuickstartSettings, run_quickstart, score


def test_score_uses_unibench_hit_rate_and_ov_fscore():
    perfect = score([["happy", "joyful"], ["sad"], ["angry"], ["surprised"]], ["happy", "sad", "angry", "surprised"])
    assert perfect["hit_rate"] == pytest.approx(1.0) and perfect["exact_label_rate"] == 1.0
    wrong = score([["sad"], ["happy"], ["surprised"], ["angry"]], ["happy", "sad", "angry", "surprised"])
    assert wrong["hit_rate"] == pytest.approx(0.0) and wrong["ov_fscore"] == pytest.approx(0.0)


@pytest.mark.timeout(900)
def test_reduced_quickstart(tmp_path, capsys):
    report = run_quickstart(tmp_path / "qs", QuickstartSettings.reduced())
    out = tmp_path / "qs"
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert (out / "processor_config.json").is_file() or (out / "tokenizer.json").is_file()
    saved = json.loads((out / "report.json").read_text())
    assert saved["hit_rate"] == pytest.approx(report["hit_rate"])
    assert set(saved["conditions"]) == set(CONDITIONS)
    assert (out / "report.png").stat().st_size > 5_000
    assert "| all modalities |" in capsys.readouterr().out
    # the lower bar of the reduced run (260 steps on 51 clips, 13 held out; it scored 0.35 to 0.62 over runs, 0.59
    # with the cosine schedule, where the full run scores 1.000): the answers are upstream's OV sentences, and the hit
    # rate is at least chance
    answers = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    held_out = [a for a in answers if a["condition"] == "all"]
    assert len(held_out) == report["clips"]["held_out"]
    formatted = [a for a in held_out if a["text"].startswith("The character's emotional state is") and a["labels"]]
    assert len(formatted) >= 0.8 * len(held_out), held_out
    assert report["hit_rate"] >= CHANCE, report["conditions"]

    from affectgpt_hf.inference import Clip, describe, load_model

    model, processor = load_model(out)  # the folder the Space and `affectgpt describe` default to
    clip = next((out / "work" / "toy" / "mer2025-dataset" / "video").glob("*.mp4"))
    (result,) = describe(model, processor, [Clip("one", video=str(clip), subtitle="Wow!")], max_new_tokens=24)
    assert result.error is None and result.text.startswith("The character's emotional state is")
