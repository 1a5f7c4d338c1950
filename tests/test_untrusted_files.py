"""Untrusted files: npz pickles cannot run code, upstream's npz formats still load, data-set spellings agree between
`evaluate` and `benchmark`, malformed predictions get named errors, and `dataset build --media` picks media kinds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from affectgpt_hf.cli import main
from affectgpt_hf.utils.npz import load_npz

GOLDEN = Path(__file__).parent / "golden" / "upstream_npz"  # numpy 1.23.5 (upstream's pin): make_upstream_npz.py


class _Payload:
    """Pickles as a call of ``os.system`` (what a crafted prediction file does)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_npz(path: Path, marker: Path, key: str = "name2reason") -> Path:
    cell = np.empty((), dtype=object)
    cell[()] = {"a": _Payload(marker)}
    np.savez_compressed(path, **{key: cell})
    return path


def test_crafted_pickle_is_refused_and_nothing_runs(tmp_path, capsys):
    from affectgpt_hf.data.releases import read_label_npz

    marker = tmp_path / "marker"
    evil = _evil_npz(tmp_path / "evil.npz", marker)
    with pytest.raises(ValueError, match=r"evil\.npz\['name2reason'\]: refused global (posix|os|nt)\.system"):
        load_npz(evil)
    assert not marker.exists()

    np.savez_compressed(tmp_path / "label.npz", test1_corpus={"a": {"emo": "happy"}})
    code = main(
        [
            "evaluate",
            "--predictions",
            str(evil),
            "--dataset",
            "MER2023",
            "--references",
            str(tmp_path / "label.npz"),
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2 and "refused global" in capsys.readouterr().err and not marker.exists()

    labels = _evil_npz(tmp_path / "label_evil.npz", marker, key="test_corpus")
    with pytest.raises(ValueError, match="refused global"):
        read_label_npz(labels, "test_corpus")
    assert not marker.exists()


def test_other_globals_and_broken_files_are_named(tmp_path):
    import collections

    np.savez(tmp_path / "ordered.npz", x=np.array(collections.OrderedDict(a=1), dtype=object))
    with pytest.raises(ValueError, match=r"ordered\.npz\['x'\]: refused global collections\.OrderedDict"):
        load_npz(tmp_path / "ordered.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=r"junk\.npz is not a readable npz file"):
        load_npz(tmp_path / "junk.npz")
    good = tmp_path / "cut.npz"
    np.savez(good, x={"a": "b" * 1000})
    good.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"cut\.npz"):
        load_npz(good)
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        load_npz(tmp_path / "nothere.npz")


def test_upstream_numpy1_files_load_as_numpy_loads_them():
    """Files written by upstream's numpy 1.23.5 (numpy.core globals) read as np.load(allow_pickle=True) reads them."""
    files = sorted(GOLDEN.glob("*.npz"))
    assert len(files) == 6
    for path in files:
        ours = load_npz(path)
        with np.load(path, allow_pickle=True) as theirs:
            assert sorted(ours) == sorted(theirs.files)
            for key in theirs.files:
                assert repr(ours[key].tolist()) == repr(theirs[key].tolist()), (path.name, key)
    reasons = load_npz(GOLDEN / "checkpoint_000030_loss_0.612.npz")["name2reason"].tolist()
    assert reasons == {
        "sample_00000007": "The person looks calm (0).",
        "samplenew3_00000011": "The person looks calm (1).",
    }
    labels = load_npz(GOLDEN / "label_val.npz")["test_corpus"].tolist()
    assert labels["v2"]["val"] == np.float32(0.4) and isinstance(labels["v3"]["val"], np.ndarray)


def test_upstream_formats_through_the_readers():
    from affectgpt_hf.data.releases import read_label_npz
    from affectgpt_hf.unibench import get_benchset, load_predictions_file, load_references

    stem = GOLDEN / "checkpoint_000030_loss_0.612"
    text = load_predictions_file(f"{stem}.npz")
    assert text.kind == "text" and text.values["sample_00000007"] == "The person looks calm (0)."
    ov = load_predictions_file(f"{stem}-openset.npz")
    assert ov.kind == "labels" and ov.values == {"sample_00000007": "[happy, calm]", "samplenew3_00000011": "[sad]"}
    sentiment = load_predictions_file(f"{stem}-openset-sentiment.npz")
    assert sentiment.kind == "sentiment" and sentiment.values["samplenew3_00000011"] == "negative"
    assert load_references(GOLDEN / "label_val.npz", get_benchset("cmu_mosi")) == {
        "v1": -1.2,
        "v2": pytest.approx(0.4),
        "v3": 2.0,
    }
    assert load_references(GOLDEN / "label_6way.npz", get_benchset("MER2023")) == {"x1": "worried", "x2": "happy"}
    assert load_references(GOLDEN / "label_meld.npz", get_benchset("meld")) == {"m1": "sadness", "m2": "anger"}
    assert read_label_npz(GOLDEN / "label_6way.npz", "train_corpus") == {"a": {"emo": "happy"}}


def test_numpy2_object_arrays_round_trip(tmp_path):
    value = {
        "a": {"emo": np.int64(3), "val": np.float64(-0.5), "x": [1, (2.5, None)], "b": True, "s": np.str_("hi")},
        "arr": np.arange(6, dtype=np.float32).reshape(2, 3),
        "objs": np.array(["a", None], dtype=object),
        "bytes": b"\x00\x01",
    }
    np.savez_compressed(tmp_path / "v.npz", corpus=value, plain=np.asfortranarray(np.ones((2, 3))))
    ours = load_npz(tmp_path / "v.npz")
    assert repr(ours["corpus"].tolist()) == repr(value) and ours["plain"].flags["F_CONTIGUOUS"]


# ----------------------------------------------------------------------------------------------------------------------
# Data-set spellings: one alias table (data.layouts) behind evaluate and benchmark.


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("OVMERDPlus", "OVMERDPlus"),
        ("ov_merd_plus", "OVMERDPlus"),
        ("ovmerdplus", "OVMERDPlus"),
        ("IEMOCAPFour", "IEMOCAPFour"),
        ("iemocap_four", "IEMOCAPFour"),
        ("sims_v2", "SIMSv2"),
        ("cmu_mosei", "CMUMOSEI"),
        ("mer2024", "MER2024"),
    ],
)
def test_spellings_agree(spelling, key):
    from affectgpt_hf.benchmark import resolve_datasets
    from affectgpt_hf.unibench import get_benchset

    assert get_benchset(spelling).name == key
    assert [spec.name for spec in resolve_datasets([spelling])] == [key]


def test_spellings_in_the_cli_and_refusals(tmp_path, capsys):
    import pandas as pd

    pd.DataFrame({"name": ["s0", "s1"], "openset": ["[happy]", "[sad]"]}).to_csv(tmp_path / "ovlabel.csv")
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"name": n, "labels": x}) + "\n" for n, x in [("s0", ["happy"]), ("s1", [])]))
    scores = []
    for spelling in ("OVMERDPlus", "ov_merd_plus"):
        out = tmp_path / spelling
        args = ["--predictions", str(preds), "--dataset", spelling, "--references", str(tmp_path / "ovlabel.csv")]
        assert main(["evaluate", *args, "--output-dir", str(out)]) == 0
        scores.append(json.loads((out / "OVMERDPlus.json").read_text())["scores"])
    assert scores[0] == scores[1]
    args = ["--predictions", str(preds), "--references", str(tmp_path / "ovlabel.csv")]
    assert main(["evaluate", *args, "--dataset", "mer_caption_plus"]) == 2
    assert "'mer_caption_plus' is not a MER-UniBench test set" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------------
# Malformed predictions: a named error (exit 2), never a traceback.

_ROWS = {"a": ["anger"], "b": ["joy"]}


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


MALFORMED = {
    "empty.jsonl": (b"", "is empty"),
    "blank.jsonl": (b"\n\n", "has no rows"),
    "missing.jsonl": (_jsonl([{"name": "a", "labels": ["anger"]}]), "1 of 2 reference samples have no prediction"),
    "extra.jsonl": (
        _jsonl([{"name": n, "labels": v} for n, v in _ROWS.items()] + [{"name": "zz", "labels": []}]),
        r"1 predictions in .*extra\.jsonl name no reference sample \(first: \['zz'\]\)",
    ),
    "labels_int.jsonl": (_jsonl([{"name": "a", "labels": [1, 2]}]), r"labels_int\.jsonl:1: labels of 'a' is \[1, 2\]"),
    "text_list.jsonl": (_jsonl([{"name": "a", "text": ["x"]}]), r"text_list\.jsonl:1: text of 'a'"),
    "name_list.jsonl": (_jsonl([{"name": ["a"], "text": "x"}]), r"name_list\.jsonl:1: name \['a'\] is a list"),
    "sentiment_bool.jsonl": (_jsonl([{"name": "a", "sentiment": True}]), r"sentiment of 'a' is True"),
    "duplicate.jsonl": (
        _jsonl([{"name": "a", "labels": []}, {"name": "a", "labels": []}]),
        r"duplicate\.jsonl:2: name 'a' already given on line 1",
    ),
    "latin1.jsonl": (
        b'{"name": "a", "text": "ok"}\n{"name": "b", "text": "caf\xe9"}\n',
        r"latin1\.jsonl:2 is not UTF-8",
    ),
    "empty.npz": (b"", "is empty"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_predictions_are_named(tmp_path, capsys, name):
    content, message = MALFORMED[name]
    np.savez_compressed(tmp_path / "label.npz", test_corpus={"a": {"emo": 0}, "b": {"emo": 1}})
    path = tmp_path / name
    path.write_bytes(content)
    args = ["--predictions", str(path), "--dataset", "MELD", "--references", str(tmp_path / "label.npz")]
    assert main(["evaluate", *args, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    import re

    assert re.search(message, err), err


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"name2reason": np.array(["a", "b"])}, r"\['name2reason'\] is a list; expected a dict"),
        ({"name2reason": {"a": 1, "b": "x"}}, r"non-text entries \(first: \('a', 1\)\)"),
        ({"filenames": np.array([1, 2]), "fileitems": np.array(["x", "y"])}, r"\['filenames'\] is a \(2,\) array"),
        ({"filenames": np.array(["a", "b"]), "fileitems": np.array(["x"])}, "filenames has 2 entries, fileitems 1"),
        ({"filenames": np.array(["a", "a"]), "fileitems": np.array(["x", "y"])}, r"duplicated name\(s\)"),
        ({"other": np.zeros(2)}, r"holds \['other'\]; expected 'name2reason'"),
    ],
)
def test_malformed_npz_predictions_are_named(tmp_path, capsys, arrays, message):
    import re

    np.savez_compressed(tmp_path / "label.npz", test_corpus={"a": {"emo": 0}, "b": {"emo": 1}})
    np.savez_compressed(tmp_path / "preds.npz", **arrays)
    args = ["--predictions", str(tmp_path / "preds.npz"), "--dataset", "MELD"]
    assert main(["evaluate", *args, "--references", str(tmp_path / "label.npz")]) == 2
    err = capsys.readouterr().err
    assert "preds.npz" in err and re.search(message, err), err


# ----------------------------------------------------------------------------------------------------------------------
# `affectgpt dataset build --media`.


@pytest.mark.timeout(120)
def test_dataset_build_media_subset(tmp_path, capsys):
    import datasets

    from affectgpt_hf.data.mini_release import write_mini_release

    root = write_mini_release(tmp_path / "release", "mer_caption_plus", count=2)
    out = tmp_path / "hub"
    args = ["dataset", "build", "--data-dir", str(root), "--out", str(out), "--config", "mer_caption_plus"]
    assert main([*args, "--media", "video", "audio"]) == 0
    ds = datasets.load_dataset(str(out), "mer_caption_plus", split="train", cache_dir=str(tmp_path / "cache"))
    assert {"video", "audio"} <= set(ds.column_names) and "face" not in ds.column_names
    assert ds[0]["video"]["bytes"][4:8] == b"ftyp" and ds[0]["audio"]["bytes"][:4] == b"RIFF"
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "Video bytes are embedded" in readme and "OpenFace" not in readme.split("---\n", 2)[2].split("## ")[0]

    assert main([*args, "--media", "face"]) == 0
    ds = datasets.load_dataset(str(out), "mer_caption_plus", split="train", cache_dir=str(tmp_path / "cache2"))
    assert "face" in ds.column_names and "video" not in ds.column_names and ds[0]["face"][:6] == b"\x93NUMPY"
    with pytest.raises(SystemExit):
        main([*args, "--media", "pixels"])
    assert "invalid choice: 'pixels'" in capsys.readouterr().err
