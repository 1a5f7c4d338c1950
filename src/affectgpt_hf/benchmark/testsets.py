"""The MER-UniBench test sets as the benchmark runs them: ``--datasets`` names -> specs, and a set's upstream release
-> the clips to describe and the gold values to score against."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ..data import LAYOUTS, load_unibench
from ..inference.batch import Clip
from ..unibench import DATASETS, get_benchset
from ..unibench.benchsets import BenchSet

# MER-UniBench set (upstream key, unibench's name) -> data builder config.
CONFIG_OF: dict[str, str] = {
    layout.upstream_key: layout.name for layout in LAYOUTS.values() if layout.upstream_key in DATASETS
}


def resolve_datasets(names: Sequence[str] | None) -> list[BenchSet]:
    """``--datasets`` values (upstream keys such as MER2023, or config names such as mer2023) -> specs, in Table 2
    order; None -> all 9."""
    if not names:
        return list(DATASETS.values())
    chosen = []
    for name in names:
        spec = get_benchset(name)
        if spec not in chosen:
            chosen.append(spec)
    return [spec for spec in DATASETS.values() if spec in chosen]


@dataclass
class TestSet:
    """One loaded test set: its spec, clips (upstream's inputs) and gold values by name."""

    spec: BenchSet
    clips: list[Clip]
    references: dict[str, object]
    folder: str = ""


def load_testset(data_root: str | os.PathLike, spec: BenchSet, cache_dir: str | None = None, limit: int | None = None):
    """A test set from its upstream release under ``data_root`` (the data builders) -> clips and references.

    Upstream's OV-MERD+ reader turns an empty openset into ['neutral']; done here too ("neutral" maps to no wheel
    sector, so such samples count nowhere either way)."""
    config = CONFIG_OF[spec.name]
    kwargs = {"cache_dir": cache_dir} if cache_dir else {}
    if not _has_face_folder(data_root, config):  # a release without openface_face/: face models crop faces themselves
        kwargs["media"] = ("video", "audio")
    table = load_unibench(data_root, config, **kwargs)
    if limit is not None:
        table = table.select(range(min(limit, len(table))))
    column = {"ov": "ov_labels", "basic": "emotion", "sentiment": "valence"}[spec.task]
    clips, references = [], {}
    for row in table:
        clips.append(
            Clip(
                name=row["name"],
                video=(row.get("video") or {}).get("path"),
                audio=(row.get("audio") or {}).get("path"),
                faces=row.get("face"),
                subtitle=row.get("subtitle") or "",
            )
        )
        gold = row[column]
        if spec.task == "ov":
            gold = list(gold) or ["neutral"]
        references[row["name"]] = gold
    return TestSet(spec, clips, references, str(data_root))


def _has_face_folder(data_root: str | os.PathLike, config: str) -> bool:
    from ..data.layouts import get_layout
    from ..data.releases import resolve_release_dir

    layout = get_layout(config)
    return (resolve_release_dir(data_root, layout.name) / layout.face_pattern.split("/")[0]).is_dir()


__all__ = ["CONFIG_OF", "TestSet", "load_testset", "resolve_datasets"]
