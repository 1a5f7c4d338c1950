"""`affectgpt evaluate` on generated files (JSONL, upstream npz layouts, label npz, ovlabel.csv, built folders) and
the `evaluate` module metrics/mer_unibench."""

from __future__ import annotations

import json

import numpy as np
import pytest
from utils import REPO, WHEEL_DIR

from affectgpt_hf.cli import main
from affectgpt_hf.unibench import hit_rate, ovmer_scores, sentiment_scores

OV_GOLD = {"s0": "[happy, excited]", "s1": "[sad]", "s2": "", "s3": "[angry, annoyed]"}
OV_TEXT = {
    "s0": "The character's emotional state is joyful, excited.",
    "s1": "The character's emotional state is sad, worried.",
    "s2": "The character's emotional state is calm.",
    "s3": "He is not happy; he seems angry.",
}


def _run(tmp_path, *args):
    out = tmp_path / "report"
    code = main(["evaluate", *args, "--output-dir", str(out)])
    return code, out


def _report(out, name):
    report = json.loads((out / f"{name}.json").read_text())
    assert (out / f"{name}.md").read_text().count("paper AffectGPT") == 3
    assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    return report


@pytest.mark.timeout(60)
def test_jsonl_text_against_ovlabel_csv(tmp_path):
    import pandas as pd

    pd.DataFrame({"name": list(OV_GOLD), "openset": list(OV_GOLD.values())}).to_csv(tmp_path / "ovlabel.csv")
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"name": n, "text": t}) + "\n" for n, t in OV_TEXT.items()))
    code, out = _run(
        tmp_path, "--predictions", str(preds), "--dataset", "OVMERDPlus", "--references", str(tmp_path / "ovlabel.csv")
    )
    assert code == 0
    report = _report(out, "OVMERDPlus")
    expected = ovmer_scores([["joyful", "excited"], ["sad", "worried"], ["calm"], ["angry"]], list(OV_GOLD.values()))
    assert report["scores"]["fscore"] == pytest.approx(expected["fscore"], abs=1e-12)
    assert report["extraction_mode"] == "offline-lexicon" and report["protocol"] == "single checkpoint"
    assert report["paper"]["AffectGPT (A,V,T)"] == {"fscore": 62.52, "precision": 62.21, "recall": 63.0}


@pytest.mark.timeout(60)
def test_upstream_results_folder_best_epoch_and_label_npz(tmp_path):
    names = ["Ses05F_a", "Ses05M_b", "Ses01F_c", "Ses05F_d"]  # IEMOCAP: Session 5 only is the test split
    corpus = {n: {"emo": e} for n, e in zip(names, [0, 1, 3, 3], strict=True)}  # happy, sad, anger, anger
    np.savez_compressed(tmp_path / "label_4way.npz", whole_corpus=corpus)
    run = tmp_path / "results-iemocapfour" / "model"
    run.mkdir(parents=True)
    test = [n for n in names if n[4] == "5"]
    for epoch, items in (("000030", ["[happy]", "[sad]", "[calm]"]), ("000035", ["[joy]", "[sad]", "[angry]"])):
        stem = f"checkpoint_{epoch}_loss_0.6"
        reasons = {n: f"The character's emotional state is {i[1:-1]}." for n, i in zip(test, items, strict=True)}
        np.savez_compressed(run / f"{stem}.npz", name2reason=reasons)
        np.savez_compressed(run / f"{stem}-openset.npz", filenames=test, fileitems=items)
    code, out = _run(tmp_path, "--predictions", str(run), "--dataset", "iemocapfour", "--references", str(tmp_path))
    assert code == 0
    report = _report(out, "IEMOCAPFour")
    assert report["best_epoch"] == "checkpoint_000035_loss_0.6" and report["protocol"].startswith("upstream best")
    assert report["scores"]["hit_rate"] == pytest.approx(1.0)
    assert report["extraction_mode"] == "upstream-openset" and report["n_references"] == 3
    assert set(report["per_epoch"]) == {"checkpoint_000030_loss_0.6", "checkpoint_000035_loss_0.6"}
    # one checkpoint's name2reason file: re-extracted offline
    code, out = _run(
        tmp_path,
        "--predictions",
        str(run / "checkpoint_000030_loss_0.6.npz"),
        "--dataset",
        "IEMOCAPFour",
        "--references",
        str(tmp_path / "label_4way.npz"),
    )
    report = _report(out, "IEMOCAPFour")
    assert report["scores"]["hit_rate"] == pytest.approx(
        hit_rate(["happy", "sad", "calm"], ["happy", "sad", "anger"])["hit_rate"]
    )
    assert report["extraction_mode"] == "offline-lexicon"


@pytest.mark.timeout(60)
def test_sentiment_npz_and_built_folder(tmp_path):
    import pandas as pd

    names = ["a", "b", "c", "d"]
    valence = [1.2, -0.4, 0.0, 2.0]
    np.savez_compressed(
        tmp_path / "label.npz", test_corpus={n: {"val": v} for n, v in zip(names, valence, strict=True)}
    )
    sentiments = ["positive", "negative", "neutral", "negative"]
    sent = tmp_path / "checkpoint_000030_loss_0.5-openset-sentiment.npz"
    np.savez_compressed(sent, filenames=names, fileitems=sentiments)
    code, out = _run(
        tmp_path, "--predictions", str(sent), "--dataset", "CMUMOSI", "--references", str(tmp_path / "label.npz")
    )
    assert code == 0
    report = _report(out, "CMUMOSI")
    expected = sentiment_scores(sentiments, valence)
    assert report["scores"] == {"weighted_f1": pytest.approx(expected["weighted_f1"]), "accuracy": pytest.approx(2 / 3)}
    assert report["extraction_mode"] == "upstream-openset-sentiment"
    # a built data set folder (Parquet, columns name, ov_labels, emotion, valence) and JSONL label predictions
    built = tmp_path / "built" / "cmumosi"
    built.mkdir(parents=True)
    pd.DataFrame({"name": names, "ov_labels": [[]] * 4, "emotion": [""] * 4, "valence": valence}).to_parquet(
        built / "test-00000.parquet"
    )
    preds = tmp_path / "labels.jsonl"
    labels = [["happy"], ["angry"], [], ["sad"]]
    preds.write_text("".join(json.dumps({"name": n, "labels": x}) + "\n" for n, x in zip(names, labels, strict=True)))
    code, out = _run(
        tmp_path, "--predictions", str(preds), "--dataset", "CMUMOSI", "--references", str(tmp_path / "built")
    )
    report = _report(out, "CMUMOSI")
    assert report["scores"]["accuracy"] == pytest.approx(2 / 3)  # happy +, angry -, sad - (gold +)
    assert report["extraction_mode"] == "labels-given -> offline-lexicon"


@pytest.mark.timeout(60)
def test_cli_errors(tmp_path, capsys):
    np.savez_compressed(tmp_path / "label.npz", test_corpus={"a": {"emo": 0}, "b": {"emo": 1}})
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"name": "a", "labels": ["anger"]}) + "\n")
    code, _ = _run(
        tmp_path, "--predictions", str(preds), "--dataset", "MELD", "--references", str(tmp_path / "label.npz")
    )
    assert code == 2 and "1 of 2 reference samples have no prediction" in capsys.readouterr().err
    code, _ = _run(tmp_path, "--predictions", str(preds), "--dataset", "MER2099", "--references", str(tmp_path))
    assert code == 2 and "dataset 'MER2099' is unknown" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_evaluate_module():
    import evaluate

    ovmer = evaluate.load(str(REPO / "metrics" / "mer_unibench"), "ovmer", wheel_dir=str(WHEEL_DIR))
    predictions, references = [["happy", "excited"], ["sad"]], [["joyful"], ["sad", "angry"]]
    got = ovmer.compute(predictions=predictions, references=references)
    want = ovmer_scores(predictions, references)
    assert got["fscore"] == pytest.approx(want["fscore"], abs=1e-12) and set(got) >= {"fscore", "precision", "recall"}
    assert all(0 <= v <= 1 for v in got.values())
    # upstream label strings (one input type per call)
    got = ovmer.compute(predictions=["[happy, excited]", "sad"], references=["['joyful']", "sad, angry"])
    assert got["fscore"] == pytest.approx(want["fscore"], abs=1e-12)
    basic = evaluate.load(str(REPO / "metrics" / "mer_unibench"), "basic")
    assert basic.compute(predictions=[["happy"], ["sad"]], references=["joy", "anger"])["hit_rate"] == pytest.approx(
        0.5
    )
    sentiment = evaluate.load(str(REPO / "metrics" / "mer_unibench"), "sentiment")
    got = sentiment.compute(predictions=["positive", "negative", "neutral"], references=[1.0, -2.0, 0.5])
    assert got == {"weighted_f1": pytest.approx(2 / 3), "accuracy": pytest.approx(2 / 3)}
    with pytest.raises(ValueError, match="Mismatch in the number"):
        ovmer.compute(predictions=[["a"]], references=[["a"], ["b"]])
    for metric in (ovmer, basic, sentiment):  # nothing to score: said (was an IndexError, NaNs, or "valence 0")
        with pytest.raises(ValueError, match="predictions is empty; expected one entry per sample"):
            metric.compute(predictions=[], references=[])
    with pytest.raises(ValueError, match="config_name"):
        evaluate.load(str(REPO / "metrics" / "mer_unibench"))
