"""The one report writer of `affectgpt benchmark`, `evaluate` and `quickstart`: a report dict as JSON, its Markdown page
and a bar chart as PNG, written the same way for each command.

Each command keeps what its report says (the dict, the page's text built with :func:`table_lines`, a :class:`BarChart`
of its numbers); how the three files are written lives here only."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def table_lines(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A Markdown table's lines: the header, the separator and one line per row (cells written with ``str``)."""
    lines = ["| " + " | ".join(headers) + " |", "| --- " * len(headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


@dataclass
class BarChart:
    """Grouped bars: one group per label, one bar per series in each group (None and NaN drawn as 0).

    ``colors``: one matplotlib ``color`` per series (a colour, or a list with one per bar), default the colour cycle;
    ``value_labels``: series whose bars carry their value; ``reference``: a dashed line (value, legend label);
    ``legend``: matplotlib ``legend`` arguments, None for no legend."""

    labels: Sequence[str]
    series: Mapping[str, Sequence[float | None]]
    title: str
    ylabel: str = ""
    ylim: tuple[float, float] = (0.0, 100.0)
    colors: Sequence[object] | None = None
    value_labels: Sequence[str] = ()
    reference: tuple[float, str] | None = None
    legend: dict[str, Any] | None = None
    size: tuple[float, float] = (6.0, 4.0)
    tick_rotation: float = 0.0
    tick_fontsize: float | None = None
    title_fontsize: float | None = None

    def __post_init__(self) -> None:
        for name, values in self.series.items():
            if len(values) != len(self.labels):
                raise ValueError(
                    f"chart series {name!r} has {len(values)} values; expected one per label ({len(self.labels)})"
                )
        unknown = [name for name in self.value_labels if name not in self.series]
        if unknown:
            raise ValueError(f"value_labels {unknown} name no series; expected some of {list(self.series)}")

    def save(self, path: str | os.PathLike) -> None:
        """Draw with matplotlib's Agg backend (no display needed) and save as PNG at 100 dpi."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        x = np.arange(len(self.labels))
        width = 0.8 / len(self.series)
        fig, ax = plt.subplots(figsize=self.size)
        for i, (name, values) in enumerate(self.series.items()):
            clean = [0.0 if v is None or v != v else v for v in values]
            style = {} if self.colors is None else {"color": self.colors[i % len(self.colors)]}
            bars = ax.bar(x + (i - (len(self.series) - 1) / 2) * width, clean, width, label=name, **style)
            if name in self.value_labels:
                ax.bar_label(bars, fmt="%.2f", fontsize=8)
        if self.reference is not None:
            value, label = self.reference
            ax.axhline(value, color="grey", linestyle="--", label=label)
        ticks = {} if self.tick_fontsize is None else {"fontsize": self.tick_fontsize}
        ax.set_xticks(x, list(self.labels), rotation=self.tick_rotation, **ticks)
        ax.set_ylim(*self.ylim)
        if self.ylabel:
            ax.set_ylabel(self.ylabel)
        ax.set_title(self.title, **({} if self.title_fontsize is None else {"fontsize": self.title_fontsize}))
        if self.legend is not None:
            ax.legend(**self.legend)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def write_report_files(
    output_dir: str | os.PathLike, stem: str, report: dict[str, Any], markdown: str, chart: BarChart
) -> dict[str, Path]:
    """``stem``.json (the report), ``stem``.md (``markdown``, ending in one newline) and ``stem``.png (``chart``)
    under ``output_dir``; returns their paths by kind."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: output_dir / f"{stem}.{kind}" for kind in ("json", "md", "png")}
    text = json.dumps(report, indent=2, ensure_ascii=False, default=float) + "\n"
    paths["json"].write_text(text, encoding="utf-8")
    paths["md"].write_text(markdown if markdown.endswith("\n") else markdown + "\n", encoding="utf-8")
    chart.save(paths["png"])
    return paths


__all__ = ["BarChart", "table_lines", "write_report_files"]
