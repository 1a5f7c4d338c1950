"""MER-UniBench without a model: emotion wheels, label extraction from free text, and the scores.

Scores follow upstream AffectGPT (fffca79) exactly; see ``scores.py`` for the definitions and the one deviation
(F = 0 instead of NaN when precision and recall are both 0)."""

from .._lazy import lazy_exports

_EXPORTS = {  # submodule -> the names it gives the package
    "arguments": ("ScoringArguments",),
    "benchsets": ("BenchSet", "DATASETS", "LABEL_ALIASES", "PAPER_TABLE2", "canonical_label", "get_benchset"),
    "evaluation": ("evaluate_dataset", "markdown_table", "score_predictions", "write_report"),
    "extraction": ("LLMJudge", "LabelExtractor", "LexiconExtractor", "get_extractor"),
    "files": ("Predictions", "load_predictions_file", "load_references"),
    "resources": ("EmotionWheels", "load_wheels"),
    "scores": ("best_epoch", "hit_rate", "map_to_sectors", "ovmer_scores", "sentiment_scores", "unibench_mean"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
