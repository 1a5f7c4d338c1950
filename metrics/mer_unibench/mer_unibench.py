"""MER-UniBench (AffectGPT, ICML 2025) as an `evaluate` metric: a thin wrapper over affectgpt_hf.unibench."""

import datasets
import evaluate

from affectgpt_hf.hub.paper import CITATION, PAPER_URL, UPSTREAM_REPO
from affectgpt_hf.unibench import hit_rate, load_wheels, ovmer_scores, sentiment_scores

_DESCRIPTION = """\
MER-UniBench scores emotion predictions through five emotion wheels: every label is mapped (word form -> synonym ->
wheel word, alphabetical tie-break) to a level-1 sector of each wheel, labels that map nowhere are dropped, and the
score is averaged over the wheels. Configs: "ovmer" (OV-MERD+, set-level F-score, precision, recall), "basic"
(MER2023/2024, IEMOCAP, MELD hit rate), "sentiment" (CMU-MOSI/MOSEI, CH-SIMS/v2 weighted F1 and accuracy, gold valence
0 dropped, "positive" against the rest). Numbers equal upstream AffectGPT's scoring code (commit fffca79).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per sample, for "ovmer"/"basic" a list of emotion labels or an upstream label string ("[a, b]",
        "a, b", "['a', 'b']"); for "sentiment" "positive", "negative" or "neutral" (anything else counts as not
        positive).
    references: per sample, for "ovmer" a label list or label string; for "basic" one label; for "sentiment" a
        valence number (samples with 0 are dropped).
Returns:
    ovmer: fscore, precision, recall (means over the 5 wheels), plus per-wheel values.
    basic: hit_rate (mean over the 5 wheels), plus per-wheel values and upstream's unreported mscore.
    sentiment: weighted_f1, accuracy.
Examples:
    >>> import evaluate
    >>> ovmer = evaluate.load("metrics/mer_unibench", "ovmer")  # doctest: +SKIP
    >>> r = ovmer.compute(predictions=[["happy", "excited"]], references=[["joyful"]])  # doctest: +SKIP
    >>> round(r["recall"], 2)  # doctest: +SKIP
    1.0
"""

_LABELS = [datasets.Sequence(datasets.Value("string")), datasets.Value("string")]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MerUnibench(evaluate.Metric):
    """evaluate.load("metrics/mer_unibench", "ovmer" | "basic" | "sentiment", wheel_dir=None)."""

    def __init__(self, *args, wheel_dir=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.wheel_dir = wheel_dir

    def _info(self):
        if self.config_name not in ("ovmer", "basic", "sentiment"):
            raise ValueError(f"config_name {self.config_name!r} is unknown; expected 'ovmer', 'basic' or 'sentiment'")
        if self.config_name == "sentiment":
            features = datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("float")}
            )
        else:
            features = [datasets.Features({"predictions": p, "references": r}) for p in _LABELS for r in _LABELS]
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=features,
            reference_urls=[UPSTREAM_REPO, PAPER_URL],
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """evaluate's compute; empty lists (no sample to score) are refused before evaluate reads their type."""
        for name, values in (("predictions", predictions), ("references", references)):
            if values is not None and len(values) == 0:
                raise ValueError(f"{name} is empty; expected one entry per sample to score")
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _download_and_prepare(self, dl_manager):
        if self.config_name != "sentiment":
            self.wheels = load_wheels(self.wheel_dir)

    def _compute(self, predictions, references):
        if self.config_name == "sentiment":
            result = sentiment_scores(predictions, references)
        elif self.config_name == "basic":
            result = hit_rate(predictions, references, self.wheels)
        else:
            result = ovmer_scores(predictions, references, self.wheels)
        return {k: v for k, v in result.items() if not k.startswith("samples")}  # scores only, counts dropped
