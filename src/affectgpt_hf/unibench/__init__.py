"""MER-UniBench without a model: emotion wheels, label extraction from free text, and the scores.

Scores follow upstream AffectGPT (fffca79) exactly; see ``scores.py`` for the definitions and the one deviation
(F = 0 instead of NaN when precision and recall are both 0)."""

from .._lazy import lazy_exports

_EXPORTS = {
    "ScoringArguments": "arguments",
    "BenchSet": "benchsets",
    "DATASETS": "benchsets",
    "LABEL_ALIASES": "benchsets",
    "PAPER_TABLE2": "benchsets",
    "canonical_label": "benchsets",
    "get_benchset": "benchsets",
    "evaluate_dataset": "evaluation",
    "markdown_table": "evaluation",
    "score_predictions": "evaluation",
    "write_report": "evaluation",
    "LLMJudge": "extraction",
    "LabelExtractor": "extraction",
    "LexiconExtractor": "extraction",
    "get_extractor": "extraction",
    "Predictions": "files",
    "load_predictions_file": "files",
    "load_references": "files",
    "EmotionWheels": "resources",
    "load_wheels": "resources",
    "best_epoch": "scores",
    "hit_rate": "scores",
    "map_to_sectors": "scores",
    "ovmer_scores": "scores",
    "sentiment_scores": "scores",
    "unibench_mean": "scores",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
