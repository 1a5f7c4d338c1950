"""report_files.py: the one writer of the benchmark, evaluate and quickstart reports (JSON, Markdown, PNG)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from affectgpt_hf.utils.report import BarChart, table_lines, write_report_files


def test_table_lines_are_markdown_rows():
    assert table_lines(["a", "b"], [["x", 1], ["", 2.5]]) == [
        "| a | b |",
        "| --- | --- |",
        "| x | 1 |",
        "|  | 2.5 |",
    ]


@pytest.mark.parametrize("markdown", ["# page\n\ntext", "# page\n\ntext\n"])
def test_writer_writes_the_three_files(tmp_path, markdown):
    """The JSON keeps non-ASCII text and numpy floats, the page ends in one newline, the chart is a PNG."""
    report = {"model": "modèle", "score": np.float32(0.5), "missing": None}
    chart = BarChart(["a", "b"], {"ours": [0.5, None], "paper": [0.25, float("nan")]}, "title", value_labels=["ours"])
    paths = write_report_files(tmp_path / "out", "report", report, markdown, chart)
    assert paths == {kind: tmp_path / "out" / f"report.{kind}" for kind in ("json", "md", "png")}
    text = paths["json"].read_text(encoding="utf-8")
    assert "modèle" in text and text.endswith("}\n")
    assert json.loads(text) == {"model": "modèle", "score": 0.5, "missing": None}
    assert paths["md"].read_text(encoding="utf-8") == "# page\n\ntext\n"
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_chart_refuses_series_that_do_not_fit_the_labels():
    with pytest.raises(ValueError, match="series 'ours' has 1 values; expected one per label \\(2\\)"):
        BarChart(["a", "b"], {"ours": [1.0]}, "title")
    with pytest.raises(ValueError, match=r"value_labels \['paper'\] name no series"):
        BarChart(["a"], {"ours": [1.0]}, "title", value_labels=["paper"])
