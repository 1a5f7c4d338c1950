"""The 9 MER-UniBench data sets in one place: task, primary metric, upstream label-file layout, label aliases,
and the paper's Table 2 / Table 12 numbers (for reports beside ours). Reused by `affectgpt evaluate` and `benchmark`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchSet:
    """One MER-UniBench test set. ``task``: "basic" | "sentiment" | "ov" (data.layouts.TASKS); ``label_split``: where
    the test labels are in upstream's label npz (an array name, or IEMOCAP's ``session5``; None: a table);
    ``emotions``: upstream's index -> label list for integer labels (None: labels are strings)."""

    name: str
    task: str
    test_size: int
    label_file: str
    label_split: str | None
    emotions: tuple[str, ...] | None = None
    paper_column: str = ""

    @property
    def primary(self) -> str:
        """Name of the primary metric in our score dicts."""
        return {"basic": "hit_rate", "sentiment": "weighted_f1", "ov": "fscore"}[self.task]

    @property
    def secondary(self) -> tuple[str, ...]:
        return {"basic": (), "sentiment": ("accuracy",), "ov": ("precision", "recall")}[self.task]


def _benchset(name: str, paper_column: str) -> BenchSet:
    """A test set whose facts (task, size, label file and split, integer label names) come from its release layout in
    `affectgpt_hf.data.layouts`, the one place they are written down."""
    from ..data.layouts import LAYOUTS

    layout = next(layout for layout in LAYOUTS.values() if layout.upstream_key == name)
    split = layout.splits["test"]
    return BenchSet(
        name,
        layout.task,
        layout.test_count,
        layout.label_file,
        None if split == "csv" else split,
        layout.emotion_names,
        paper_column,
    )


DATASETS: dict[str, BenchSet] = {
    s.name: s
    for s in (
        _benchset("MER2023", "MER23"),
        _benchset("MER2024", "MER24"),
        _benchset("MELD", "MELD"),
        _benchset("IEMOCAPFour", "IEMO"),
        _benchset("CMUMOSI", "MOSI"),
        _benchset("CMUMOSEI", "MOSEI"),
        _benchset("SIMS", "SIMS"),
        _benchset("SIMSv2", "SIMSv2"),
        _benchset("OVMERDPlus", "OV-MERD+"),
    )
}

# Upstream unifies these spellings of the basic classes across data sets (evaluation.py get_emo2idx_idx2emo). The
# scores use labels as given (the wheels already map both spellings); the aliases serve to read and check labels.
LABEL_ALIASES: dict[str, str] = {"joy": "happy", "angry": "anger", "sadness": "sad"}


def canonical_label(label: str) -> str:
    """One spelling per basic class: joy -> happy, angry -> anger, sadness -> sad (others lower-cased unchanged)."""
    label = label.lower().strip()
    return LABEL_ALIASES.get(label, label)


def get_benchset(name: str) -> BenchSet:
    """Look a test set up by any spelling the data layer knows (its one alias table, `data.layouts.get_layout`):
    upstream keys in any case (OVMERDPlus; results folders use lower case) or config names (ov_merd_plus)."""
    from ..data.layouts import LAYOUTS, get_layout

    try:
        key = get_layout(str(name)).upstream_key
    except ValueError:
        key = None
    if key not in DATASETS:
        configs = [layout.name for layout in LAYOUTS.values() if layout.upstream_key in DATASETS]
        what = "unknown" if key is None else "not a MER-UniBench test set"
        raise ValueError(
            f"dataset {name!r} is {what}; expected one of {list(DATASETS)} or their config names {configs}"
        )
    return DATASETS[key]


# Paper Table 2 (= README assert/main-result.png): primary metrics ×100, columns in DATASETS order, then the mean.
PAPER_COLUMNS = ("MER2023", "MER2024", "MELD", "IEMOCAPFour", "CMUMOSI", "CMUMOSEI", "SIMS", "SIMSv2", "OVMERDPlus")
_TABLE2 = """
OneLLM|A,T|25.52 17.21 28.32 33.44 64.01 54.09 63.39 61.98 22.25 41.14
SECap|A,T|40.95 52.46 25.56 36.92 55.76 54.18 59.51 57.41 36.97 46.64
PandaGPT|A,T|33.57 39.04 31.91 36.55 66.06 61.33 62.93 58.88 31.33 46.84
Qwen-Audio|A,T|41.85 31.61 49.09 35.47 70.09 46.90 70.73 65.26 32.36 49.26
SALMONN|A,T|55.53 45.38 45.62 46.84 81.00 67.03 68.69 65.93 45.00 57.89
AffectGPT|A,T|72.94 73.41 56.63 55.68 83.46 80.74 82.99 83.75 59.98 72.18
Otter|V,T|16.41 14.65 22.57 29.08 52.89 50.44 57.56 53.12 16.63 34.82
Video-LLaVA|V,T|36.93 30.25 30.73 38.95 56.37 61.64 53.28 57.45 34.00 44.40
PandaGPT|V,T|39.13 47.16 38.33 47.21 58.50 64.25 62.07 65.25 35.07 50.77
Video-ChatGPT|V,T|44.86 46.80 37.33 56.83 54.42 63.12 64.82 65.80 39.80 52.64
VideoChat2|V,T|33.67 54.50 36.64 48.70 66.84 54.32 69.49 70.66 39.21 52.67
LLaMA-VID|V,T|50.72 57.60 42.75 46.02 61.78 63.89 69.35 67.48 45.01 56.07
VideoChat|V,T|48.73 57.30 41.11 48.38 65.13 63.61 69.52 72.14 44.52 56.71
Chat-UniVi|V,T|57.62 65.67 45.61 52.37 54.53 63.18 68.15 66.36 48.00 57.94
mPLUG-Owl|V,T|56.86 59.89 49.11 55.54 72.40 72.91 72.13 75.00 48.18 62.45
AffectGPT|V,T|74.58 75.29 57.63 62.19 82.39 81.57 87.20 86.29 61.65 74.31
PandaGPT|A,V,T|40.21 51.89 37.88 44.04 61.92 67.61 68.38 67.23 37.12 52.92
Emotion-LLaMA|A,V,T|59.38 73.62 46.76 55.47 66.13 67.66 78.32 77.23 52.97 64.17
AffectGPT|A,V,T|78.54 78.80 55.65 60.54 81.30 80.90 88.49 86.18 62.52 74.77
"""


def _parse_table2() -> dict[str, dict[str, float]]:
    rows = {}
    for line in _TABLE2.strip().splitlines():
        model, modalities, values = line.split("|")
        numbers = [float(x) for x in values.split()]
        rows[f"{model} ({modalities})"] = {**dict(zip(PAPER_COLUMNS, numbers[:9], strict=True)), "mean": numbers[9]}
    return rows


PAPER_TABLE2: dict[str, dict[str, float]] = _parse_table2()
PAPER_AFFECTGPT_ROWS = ("AffectGPT (A,V,T)", "AffectGPT (V,T)", "AffectGPT (A,T)")
# Paper Table 12, AffectGPT (A,V,T) secondary metrics ×100.
PAPER_SECONDARY = {
    "AffectGPT (A,V,T)": {
        "CMUMOSI": {"accuracy": 81.25},
        "CMUMOSEI": {"accuracy": 80.68},
        "SIMS": {"accuracy": 88.40},
        "SIMSv2": {"accuracy": 86.17},
        "OVMERDPlus": {"precision": 62.21, "recall": 63.00},
    }
}
