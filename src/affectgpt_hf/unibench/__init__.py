"""MER-UniBench without a model: emotion wheels, label extraction from free text, and the scores.

Scores follow upstream AffectGPT (fffca79) exactly; see ``scores.py`` for the definitions and the one deviation
(F = 0 instead of NaN when precision and recall are both 0).
"""

from .benchsets import DATASETS, LABEL_ALIASES, PAPER_TABLE2, BenchSet, canonical_label, get_benchset
from .extraction import LabelExtractor, LexiconExtractor, LLMJudge, get_extractor
from .files import Predictions, load_predictions_file, load_references
from .report import evaluate_dataset, markdown_table, score_predictions, write_report
from .resources import EmotionWheels, load_wheels
from .scores import best_epoch, hit_rate, map_to_sectors, ovmer_scores, sentiment_scores, unibench_mean

__all__ = [
    "DATASETS",
    "LABEL_ALIASES",
    "PAPER_TABLE2",
    "BenchSet",
    "EmotionWheels",
    "LLMJudge",
    "LabelExtractor",
    "LexiconExtractor",
    "Predictions",
    "best_epoch",
    "canonical_label",
    "evaluate_dataset",
    "get_benchset",
    "get_extractor",
    "hit_rate",
    "load_predictions_file",
    "load_references",
    "load_wheels",
    "map_to_sectors",
    "markdown_table",
    "ovmer_scores",
    "score_predictions",
    "sentiment_scores",
    "unibench_mean",
    "write_report",
]
