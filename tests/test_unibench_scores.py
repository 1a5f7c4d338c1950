"""MER-UniBench scores and wheel resources against golden numbers from upstream AffectGPT's own scoring code.

Golden values: tests/golden/unibench_upstream.json, made by tests/golden/unibench/make.py (upstream at commit
fffca794c6792023234565370e3f69f0488aede9 in its pinned venv; tests/golden/README.md says how to rerun it):
ovmer -> my_affectgpt/evaluation/ew_metric.py wheel_metric_calculation(name2gt, name2pred) and wheel.py
calculate_openset_overlap_rate(metric="case3_wheel{k}_level1"); basic -> ew_metric.py hitrate_metric_calculation;
sentiment -> evaluation.py calculate_dimension_zeroshot on an -openset-sentiment.npz. Each case records its
inputs and provenance beside the numbers; the emotion-wheel files are ../shared/emotion_wheel (SHA256SUMS).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from utils import WHEEL_DIR

GOLDEN = json.loads((Path(__file__).parent / "golden" / "unibench_upstream.json").read_text())
TOL = 1e-9


@pytest.fixture(autouse=True, scope="module")
def _wheel_env(tmp_path_factory):
    old = {k: os.environ.get(k) for k in ("MER_UNIBENCH_WHEEL_DIR", "AFFECTGPT_HF_CACHE")}
    os.environ["MER_UNIBENCH_WHEEL_DIR"] = str(WHEEL_DIR)
    os.environ["AFFECTGPT_HF_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


from affectgpt_hf.unibench import (  # noqa: E402
    DATASETS,
    PAPER_TABLE2,
    best_epoch,
    hit_rate,
    load_wheels,
    map_to_sectors,
    ovmer_scores,
    resources,  # noqa: E402
    sentiment_scores,
    unibench_mean,
)


def _close(ours: float, golden: float | None) -> bool:
    return abs(ours - golden) <= TOL


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(GOLDEN["cases"]["ovmer"]))
def test_ovmer_matches_upstream(case):
    c = GOLDEN["cases"]["ovmer"][case]
    ours = ovmer_scores(c["predictions"], c["references"])
    for k, (p, r) in enumerate(c["upstream"]["per_wheel_precision_recall"], 1):
        assert _close(ours[f"precision_wheel{k}"], p) and _close(ours[f"recall_wheel{k}"], r)
        assert _close(ours[f"fscore_wheel{k}"], 2 * p * r / (p + r) if p + r else 0.0)
        assert 0 < ours[f"samples_wheel{k}"] <= len(c["references"])
    assert _close(ours["precision"], c["upstream"]["precision"])
    assert _close(ours["recall"], c["upstream"]["recall"])
    if c["upstream"]["fscore"] is None:  # upstream: 0/0 -> NaN; our documented deviation: 0
        assert case == "all_miss" and ours["fscore"] == 0.0
    else:
        assert _close(ours["fscore"], c["upstream"]["fscore"])
    if "upstream_npz" in c:  # same inputs through upstream's -openset.npz reading path (np.str_ items)
        assert _close(ours["fscore"], c["upstream_npz"]["fscore"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(GOLDEN["cases"]["basic"]))
def test_hit_rate_matches_upstream(case):
    c = GOLDEN["cases"]["basic"][case]
    ours = hit_rate(c["predictions"], c["references"])
    assert _close(ours["hit_rate"], c["upstream"]["hit_rate"])
    assert _close(sum(ours[f"hit_rate_wheel{k}"] for k in range(1, 6)) / 5, ours["hit_rate"])
    assert all(0 < ours[f"samples_wheel{k}"] <= len(c["references"]) for k in range(1, 6))
    assert _close(ours["mscore"], c["upstream"]["mscore"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(GOLDEN["cases"]["sentiment"]))
def test_sentiment_matches_upstream(case):
    c = GOLDEN["cases"]["sentiment"][case]
    ours = sentiment_scores(c["predictions"], c["references"])
    assert _close(ours["weighted_f1"], c["upstream"]["weighted_f1"])
    assert _close(ours["accuracy"], c["upstream"]["accuracy"])


@pytest.mark.timeout(30)
def test_wheel_mapping_rules():
    wheels = load_wheels()
    assert len(wheels.vocabulary) == 7386
    assert [len(s) for s in wheels.wheel_sectors] == [6, 7, 6, 6, 6]
    # alphabetical tie-break quirks and dropped labels, as upstream (my_affectgpt/evaluation/wheel.py)
    assert wheels.sector("fear", 2) == "happy" and wheels.sector("excited", 1) == "surprised"
    assert all(wheels.sector("neutral", k) is None for k in range(1, 6))
    assert wheels.sector("disgust", 3) is None and wheels.sector("disgust", 5) is None
    assert wheels.sector("  HAPPY ", 4) == "joy"
    # a label list -> its set of sectors (what the Space shows), the dropped ones left out
    labels = ["  HAPPY ", "Sad", "neutral", "angry", "disgust", "fear", "calm"]
    assert map_to_sectors(labels, wheels, 1) == {"happy", "sad", "mad", "disgusted", "scared"}
    assert map_to_sectors(labels, wheels, 3) == {"joyful", "sad", "mad", "peaceful"}  # disgust dropped, fear joyful
    assert map_to_sectors(["neutral", "not an emotion"], wheels, 1) == set()


@pytest.mark.timeout(30)
def test_neutral_only_references_give_nan_with_warning():
    with pytest.warns(UserWarning, match="no reference maps"):
        out = ovmer_scores([["happy"]], [["neutral"]])
    assert math.isnan(out["fscore"])


@pytest.mark.timeout(30)
def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="predictions has 1 items but references has 2"):
        ovmer_scores([["a"]], [["a"], ["b"]])
    with pytest.raises(ValueError, match=r"references\[0\]"):
        ovmer_scores([["a"]], [3.5])
    with pytest.raises(ValueError, match="basic expects one"):
        hit_rate(["happy"], ["happy, sad"])
    with pytest.raises(ValueError, match="valence"):
        sentiment_scores(["positive"], ["x"])
    with pytest.raises(ValueError, match="valence 0"):
        sentiment_scores(["positive"], [0.0])


@pytest.mark.timeout(30)
def test_unibench_mean_and_best_epoch():
    row = PAPER_TABLE2["AffectGPT (A,V,T)"]
    assert abs(unibench_mean({d: row[d] for d in DATASETS}) - 74.77) < 0.005  # paper Table 2 mean
    with pytest.raises(ValueError, match="missing"):
        unibench_mean({"MER2023": 0.5})
    epochs = {"checkpoint_000035": {"hit_rate": 0.7}, "checkpoint_000030": {"hit_rate": 0.7}}
    assert best_epoch(epochs, "hit_rate")[0] == "checkpoint_000030"  # numpy argmax: first of the ties


@pytest.mark.timeout(60)
def test_resources_download_verify_and_disk_cache(tmp_path, monkeypatch):
    # the pinned download, served from the shared copy through a file:// URL
    target = resources.download_wheel_files(tmp_path / "dl", url=WHEEL_DIR.as_uri() + "/{name}")
    assert sorted(p.name for p in target.iterdir()) == sorted(resources.SHA256)
    # a tampered file is refused, naming the file and the expected checksum
    bad = tmp_path / "bad"
    shutil.copytree(WHEEL_DIR, bad)
    (bad / "wheel3.xlsx").write_bytes(b"not a wheel")
    with pytest.raises(ValueError, match="wheel3.xlsx has SHA-256"):
        resources.load_wheels(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resources.load_wheels(tmp_path / "nowhere")
    # the parse is cached on disk: a second process-level load reads JSON, not xlsx
    cache = tmp_path / "cache"
    first = resources.load_wheels(target, cache_dir=cache)
    assert list((cache / "unibench").glob("wheels-*.json"))
    resources._MEMORY.clear()
    monkeypatch.setattr(resources, "parse_wheel_dir", lambda *a, **k: pytest.fail("xlsx re-read"))
    second = resources.load_wheels(target, cache_dir=cache)
    assert second.sectors == first.sectors and second.format2raws == first.format2raws
    resources._MEMORY.clear()


@pytest.mark.timeout(30)
def test_default_is_download_when_no_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("MER_UNIBENCH_WHEEL_DIR")
    calls = []
    monkeypatch.setattr(resources, "download_wheel_files", lambda *a, **k: calls.append(1) or WHEEL_DIR)
    assert resources.resolve_wheel_dir() == WHEEL_DIR and calls


def test_numeric_sentiment_predictions_are_positive_above_zero():
    """A number predicts positive when above 0 (0 and below: not positive); booleans and None are refused."""
    ours = sentiment_scores([0.5, 0, -1.0, 2], [1.0, 2.0, -0.5, 0.8])
    assert ours["accuracy"] == pytest.approx(0.75) and ours["samples"] == 4
    for bad in (True, None):
        with pytest.raises(ValueError, match=r"predictions\[0\]"):
            sentiment_scores([bad], [1.0])
