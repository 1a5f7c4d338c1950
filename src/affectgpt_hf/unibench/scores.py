"""MER-UniBench scores on label lists: OV-MER set-level F, basic-emotion hit rate, sentiment WAF/ACC, the mean.

Definitions follow upstream AffectGPT at fffca79 (``ew_metric.py``, ``wheel.py``, ``evaluation.py``): labels are
lower-cased, mapped to a level-1 sector per wheel (unknown labels dropped), and scores averaged over the 5 wheels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence

from ..prompt import parse_label_string
from .resources import N_WHEELS, EmotionWheels, load_wheels

LabelInput = str | Sequence[str] | None


def valence_value(value: object, where: str) -> float:
    """A gold valence as a float; ``where`` names the input in the error for anything else (NaN included)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} = {value!r}; expected a valence number") from None
    if math.isnan(number):
        raise ValueError(f"{where} is NaN; expected a valence number")
    return number


def as_labels(value: object, what: str = "labels") -> list[str]:
    """A label list or an upstream label string ("[a, b]", "['a']", "a, b", "", NaN) -> list of labels."""
    try:
        return parse_label_string(value)
    except ValueError as error:
        raise ValueError(f"{what}: {error}; expected a list of strings or a label string like '[happy, sad]'") from None


def map_to_sectors(labels: Iterable[str], wheels: EmotionWheels, wheel: int) -> set[str]:
    """The set of level-1 sectors of ``labels`` on wheel 1..5 (:meth:`EmotionWheels.sector` each); labels that map
    nowhere are dropped."""
    sectors = (wheels.sector(str(label), wheel) for label in labels)
    return {sector for sector in sectors if sector is not None}


def _check_lengths(predictions: Sequence, references: Sequence) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"predictions has {len(predictions)} items but references has {len(references)}; expected one per sample"
        )


def _mean(values: list[float], what: str) -> float:
    if not values:
        warnings.warn(
            f"{what}: no reference maps to any emotion-wheel sector; the score is undefined (NaN)", stacklevel=3
        )
        return math.nan
    return math.fsum(values) / len(values)


def _packed(values: Sequence[LabelInput], wheels: EmotionWheels, what: str) -> list[int]:
    """Per sample, its sector sets on all 5 wheels packed into one int (see EmotionWheels.bits)."""
    bits = wheels.bits
    out = []
    for i, value in enumerate(values):
        try:
            labels = parse_label_string(value)
        except ValueError as error:
            raise ValueError(
                f"{what}[{i}]: {error}; expected a list of strings or a label string like '[happy, sad]'"
            ) from None
        mask = 0
        for label in labels:
            mask |= bits.get(str(label).lower().strip(), 0)
        out.append(mask)
    return out


def ovmer_scores(
    predictions: Sequence[LabelInput], references: Sequence[LabelInput], wheels: EmotionWheels | None = None
) -> dict[str, float]:
    """OV-MER set-level scores: per wheel P_k, R_k averaged over samples whose reference maps somewhere,
    F_k = 2 P_k R_k / (P_k + R_k); ``fscore``/``precision``/``recall`` are the means over the 5 wheels.

    Upstream returns NaN when P_k = R_k = 0 (0/0); here F_k is 0 then. Per-wheel values are included.
    """
    _check_lengths(predictions, references)
    wheels = wheels or load_wheels()
    preds = _packed(predictions, wheels, "predictions")
    refs = _packed(references, wheels, "references")
    result: dict[str, float] = {}
    fs, ps, rs = [], [], []
    for k in range(N_WHEELS):
        shift = 8 * k
        precision, recall = [], []
        for pred, gold in zip(preds, refs, strict=True):
            gold = (gold >> shift) & 0xFF
            if not gold:
                continue
            pred = (pred >> shift) & 0xFF
            if not pred:
                precision.append(0.0)
                recall.append(0.0)
                continue
            hit = (gold & pred).bit_count()
            precision.append(hit / pred.bit_count())
            recall.append(hit / gold.bit_count())
        p = _mean(precision, f"ovmer wheel{k + 1}")
        r = _mean(recall, f"ovmer wheel{k + 1}")
        f = 2 * p * r / (p + r) if (p + r) > 0 else (math.nan if math.isnan(p + r) else 0.0)
        fs.append(f)
        ps.append(p)
        rs.append(r)
        result.update({f"fscore_wheel{k + 1}": f, f"precision_wheel{k + 1}": p, f"recall_wheel{k + 1}": r})
        result[f"samples_wheel{k + 1}"] = len(precision)
    return {"fscore": sum(fs) / N_WHEELS, "precision": sum(ps) / N_WHEELS, "recall": sum(rs) / N_WHEELS, **result}


def hit_rate(
    predictions: Sequence[LabelInput], references: Sequence[LabelInput], wheels: EmotionWheels | None = None
) -> dict[str, float]:
    """Basic-emotion hit rate: per wheel the share of samples (reference mapping somewhere) whose reference sector is
    among the predicted sectors; ``hit_rate`` is the mean over 5 wheels. ``mscore`` is upstream's unreported
    |pred & gold| / |pred & sectors of all reference labels|.
    """
    _check_lengths(predictions, references)
    wheels = wheels or load_wheels()
    ref_lists = [as_labels(v, f"references[{i}]") for i, v in enumerate(references)]
    for i, labels in enumerate(ref_lists):
        if len(labels) > 1:
            raise ValueError(f"references[{i}] = {references[i]!r} holds {len(labels)} labels; basic expects one")
    preds = _packed(predictions, wheels, "predictions")
    refs = _packed(ref_lists, wheels, "references")
    # upstream maps each distinct raw reference value as one label, without lower-casing
    candidates = 0
    for value, labels in zip(references, ref_lists, strict=True):
        if labels:
            candidates |= wheels.bits.get(value if isinstance(value, str) else labels[0], 0)
    result: dict[str, float] = {}
    hits_k, mscores_k = [], []
    for k in range(N_WHEELS):
        shift = 8 * k
        wheel_candidates = (candidates >> shift) & 0xFF
        hits, mscores = [], []
        for pred, gold in zip(preds, refs, strict=True):
            gold = (gold >> shift) & 0xFF
            if not gold:
                continue
            pred = (pred >> shift) & 0xFF
            hit = (pred & gold).bit_count()
            hits.append(float(hit))
            denominator = (pred & wheel_candidates).bit_count()
            mscores.append(hit / denominator if denominator else 0.0)
        hits_k.append(_mean(hits, f"hit rate wheel{k + 1}"))
        mscores_k.append(_mean(mscores, f"mscore wheel{k + 1}"))
        result[f"hit_rate_wheel{k + 1}"] = hits_k[-1]
        result[f"samples_wheel{k + 1}"] = len(hits)
    return {"hit_rate": sum(hits_k) / N_WHEELS, "mscore": sum(mscores_k) / N_WHEELS, **result}


POSITIVE = "positive"


def _is_positive(value: object, index: int) -> bool:
    if isinstance(value, str):
        return value == POSITIVE  # upstream: only the exact string "positive" counts as positive
    if isinstance(value, bool) or value is None:
        raise ValueError(f"predictions[{index}] = {value!r}; expected 'positive', 'negative', 'neutral' or a number")
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        raise ValueError(
            f"predictions[{index}] = {value!r}; expected 'positive', 'negative', 'neutral' or a number"
        ) from None


def sentiment_scores(predictions: Sequence[object], references: Sequence[float]) -> dict[str, float]:
    """Binary sentiment: samples with reference valence 0 dropped; gold = valence > 0, predicted = "positive"
    (negative, neutral and anything else count as not positive). ``weighted_f1`` is sklearn's weighted F1."""
    _check_lengths(predictions, references)
    gold, pred = [], []
    for i, (p, v) in enumerate(zip(predictions, references, strict=True)):
        v = valence_value(v, f"references[{i}]")
        positive = _is_positive(p, i)
        if v != 0:
            gold.append(v > 0)
            pred.append(positive)
    if not gold:
        raise ValueError("all references have valence 0; sentiment scores need at least one non-zero valence")
    n = len(gold)
    weighted = 0.0
    for cls in (False, True):
        support = sum(g == cls for g in gold)
        if not support:
            continue
        tp = sum(g == cls and q == cls for g, q in zip(gold, pred, strict=True))
        fp = sum(g != cls and q == cls for g, q in zip(gold, pred, strict=True))
        fn = support - tp
        weighted += support * (2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    accuracy = sum(g == q for g, q in zip(gold, pred, strict=True)) / n
    return {"weighted_f1": weighted / n, "accuracy": accuracy, "samples": n}


def unibench_mean(primary: Mapping[str, float]) -> float:
    """MER-UniBench mean: the arithmetic mean of the 9 primary metrics (one per data set, as fractions or ×100)."""
    from .benchsets import DATASETS

    missing = [name for name in DATASETS if name not in primary]
    extra = [name for name in primary if name not in DATASETS]
    if missing or extra:
        raise ValueError(
            f"unibench_mean needs exactly the 9 data sets {list(DATASETS)}; missing {missing}, unknown {extra}"
        )
    return math.fsum(float(primary[name]) for name in DATASETS) / len(DATASETS)


def best_epoch(per_epoch: Mapping[str, Mapping[str, float]], primary: str) -> tuple[str, Mapping[str, float]]:
    """Upstream's per-data-set checkpoint choice: the epoch (in sorted key order) with the highest primary metric,
    first one on ties (numpy argmax)."""
    if not per_epoch:
        raise ValueError("best_epoch needs at least one epoch's scores")
    keys = sorted(per_epoch)
    best = keys[0]
    for key in keys[1:]:
        if per_epoch[key][primary] > per_epoch[best][primary]:
            best = key
    return best, per_epoch[best]
