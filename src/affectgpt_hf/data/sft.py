"""The SFT view of MER-Caption: both upstream question/answer pairs per row, and a resumable per-epoch choice.

Upstream's ``hybird`` label type draws ``random.randint`` per sample per access; here the draw is a pure function of
(seed, epoch, name) so a resumed or multi-process run draws exactly the same task for each sample.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import datasets

from ..prompt import QUESTIONS, format_ov_answer

TASKS = ("description", "ov_labels")  # upstream's label_type_candidates order: ['description', 'ovlabel']


def choose_question(seed: int, epoch: int, name: str, choices: Sequence[str] = TASKS) -> str:
    """The task of one sample in one epoch: a uniform draw from ``choices`` keyed by sha256(seed, epoch, name)."""
    if not choices:
        raise ValueError(f"choose_question({name!r}): choices is empty; expected some of {TASKS}")
    digest = hashlib.sha256(f"{int(seed)}\x1f{int(epoch)}\x1f{name}".encode()).digest()
    return choices[int.from_bytes(digest[:8], "big") % len(choices)]


def sft_pairs(row: Mapping) -> dict[str, tuple[str, str]]:
    """task -> (question, answer) for one row: the description pair, and the OV-label pair (empty labels ->
    "neutral", as upstream). A row whose source has no labels (``ov_labels`` None, e.g. MER-Caption without an
    openset column) or no description gets only the pair it has."""
    pairs = {}
    description = row.get("description")
    if description:
        pairs["description"] = (QUESTIONS["description"], description)
    labels = row.get("ov_labels")
    if labels is not None:
        pairs["ov_labels"] = (QUESTIONS["ov_labels"], format_ov_answer(labels))
    if not pairs:
        raise ValueError(f"row {row.get('name')!r} has neither a description nor ov_labels")
    return pairs


def pick_pair(row: Mapping, seed: int, epoch: int) -> tuple[str, str, str]:
    """(task, question, answer) of one row in one epoch: upstream's hybrid mode, reproducible."""
    pairs = sft_pairs(row)
    task = choose_question(seed, epoch, row["name"], tuple(task for task in TASKS if task in pairs))
    return (task, *pairs[task])


def add_sft_columns(dataset: datasets.Dataset, num_proc: int | None = None) -> datasets.Dataset:
    """Add ``question_<task>`` / ``answer_<task>`` columns (None where a row lacks that pair) for the collator."""

    def columns(row: Mapping) -> dict:
        pairs = sft_pairs(row)
        out = {}
        for task in TASKS:
            question, answer = pairs.get(task, (None, None))
            out[f"question_{task}"], out[f"answer_{task}"] = question, answer
        return out

    return dataset.map(columns, num_proc=num_proc, desc="SFT pairs")
