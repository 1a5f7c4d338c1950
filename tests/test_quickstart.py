"""The reduced quickstart end to end: toy data -> builder -> SFT -> from_pretrained -> describe -> MER-UniBench scores.

The full run's target (hit rate >= 0.9, each blanked modality lower, < 10 min on 2 cores) is a benchmark
(perf/bench_quickstart.py); this checks the same path on a smaller set, in fewer and larger steps, with bars as
strict in kind: a high hit rate and OV F-score, and each blanked modality clearly lower.
"""

from __future__ import annotations

import json

import pytest

from affectgpt_hf.apps.quickstart import CONDITIONS, QuickstartSettings, hit_rate_by_cues, markdown_table, score
from affectgpt_hf.cli import main
from affectgpt_hf.data.toy import EMOTIONS

# The reduced run's bars (QuickstartSettings.reduced(); the figures of its runs: perf/README.md, "Quickstart").
# Draws of the toy set under seeds 0-2 each learnt all three cues (whole input 0.96-1.00, each blanked one at least
# four held-out clips lower), so here each blanked modality must lose more than two clips.
MIN_HIT_RATE = 0.8
MIN_OV_FSCORE = 0.8  # an answer naming all four emotions scores hit rate 1.0 but F-score 0.40 (asserted below)
MAX_LABELS = 3.0  # mean labels per answer: the OV answers name two; all four emotions would be 4
MIN_CLIPS_LOST = 2  # by each blanked input, beyond


def assert_learned(report: dict, answers: list[dict]) -> None:
    """What the reduced run must show: upstream's OV sentences naming few labels, a hit rate and OV F-score far above
    what chance or naming every emotion gets, and each blanked input losing more than ``MIN_CLIPS_LOST`` clips."""
    by_condition = {c: [a for a in answers if a["condition"] == c] for c in CONDITIONS}
    held_out = by_condition["all"]
    assert len(held_out) == report["clips"]["held_out"]
    formatted = [a for a in held_out if a["text"].startswith("The character's emotional state is") and a["labels"]]
    assert len(formatted) >= 0.8 * len(held_out), held_out
    assert sum(len(a["labels"]) for a in held_out) / len(held_out) <= MAX_LABELS, held_out
    emotions = [a["emotion"] for a in held_out]
    every_emotion = score([list(EMOTIONS)] * len(emotions), emotions)
    assert every_emotion["hit_rate"] == 1.0 and every_emotion["ov_fscore"] < MIN_OV_FSCORE  # what the bar excludes
    scores = report["conditions"]
    assert scores["all"]["hit_rate"] >= MIN_HIT_RATE, scores
    assert scores["all"]["ov_fscore"] >= MIN_OV_FSCORE, scores
    both = {c: scores[c]["hit_rate"] + scores[c]["ov_fscore"] for c in CONDITIONS}
    one_clip = 2 / len(held_out)  # one clip moves each of the two scores by at most 1 / len(held_out)
    for condition in CONDITIONS[1:]:
        assert both["all"] > both[condition] + MIN_CLIPS_LOST * one_clip, (condition, both)


def test_score_uses_unibench_hit_rate_and_ov_fscore():
    perfect = score([["happy", "joyful"], ["sad"], ["angry"], ["surprised"]], ["happy", "sad", "angry", "surprised"])
    assert perfect["hit_rate"] == pytest.approx(1.0) and perfect["exact_label_rate"] == 1.0
    wrong = score([["sad"], ["happy"], ["surprised"], ["angry"]], ["happy", "sad", "angry", "surprised"])
    assert wrong["hit_rate"] == pytest.approx(0.0) and wrong["ov_fscore"] == pytest.approx(0.0)


@pytest.mark.timeout(900)
def test_reduced_quickstart(tmp_path, capsys):
    """`affectgpt quickstart --reduced` (the command line's own entry point, in process): the model folder, the report
    files, and bars a broken model fails."""
    out = tmp_path / "qs"
    assert main(["quickstart", "--reduced", "--output-dir", str(out)]) == 0
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert (out / "processor_config.json").is_file() or (out / "tokenizer.json").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["settings"] == QuickstartSettings.reduced().__dict__
    assert report["clips"] == {"total": 192, "train": 144, "held_out": 48}
    assert set(report["conditions"]) == set(CONDITIONS)
    assert (out / "report.md").read_text() == markdown_table(report) + "\n"
    assert (out / "report.png").stat().st_size > 5_000
    assert "| all modalities |" in capsys.readouterr().out
    answers = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert_learned(report, answers)

    from affectgpt_hf.inference.batch import Clip, describe, load_model

    model, processor = load_model(out)  # the folder the Space and `affectgpt describe` default to
    clip = next((out / "work" / "toy" / "mer2025-dataset" / "video").glob("*.mp4"))
    (result,) = describe(model, processor, [Clip("one", video=str(clip), subtitle="Wow!")], max_new_tokens=24)
    assert result.error is None and result.text.startswith("The character's emotional state is")


def test_hit_rate_by_cues_groups_clips_and_leaves_undefined_groups_empty():
    """One hit rate per group of clips sharing cues; a group of only "surprised" clips (no wheel-5 sector) is None."""
    labels = [["happy"], ["sad"], ["surprised"], ["angry"], ["happy"]]
    emotions = ["happy", "happy", "surprised", "angry", "sad"]
    by_cues = hit_rate_by_cues(labels, emotions, ["face", "face", "voice", "text", "text"])
    assert by_cues == {"face": pytest.approx(0.5), "text": pytest.approx(0.5), "voice": None}
