"""The SFT collator: upstream's training sequence (its dataset `collater`, my_affectgpt/datasets/datasets/
base_dataset.py), built from MER-Caption rows, raw or with cached features.

Sequence = ``<|im_start|>`` + prompt + answer + ``###`` + ``<|im_end|>``; prompt and target tokenized separately
(``add_special_tokens=False``); labels -100 over bos + prompt; right padding with pad (= eos); and, as upstream,
``attention_mask = input_ids != pad``, so the final eos is supervised but masked in attention.

Over-long samples: upstream raises inside ``__getitem__`` when prompt + target exceed ``max_length`` (1024 tokens,
bos and eos not counted) and retries with a random other index, up to 10 times, drawing its question afresh. Here the
replacement index is a pure function of (seed, epoch, name, attempt) and its question comes from ``pick_pair``, so a
resumed or multi-process run makes the same replacements.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..data.sft import pick_pair
from ..prompt import format_training_target, render_prompt, uses_audio_of, visual_token_of

IGNORE_INDEX = -100
VIDEO_FEATURES, AUDIO_FEATURES = "video_features", "audio_features"


def media_source(value: object) -> str | bytes | None:
    """A dataset media cell (``{"path", "bytes"}`` with decode=False, a path, or bytes) -> what media.py opens."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        if value.get("bytes"):
            return value["bytes"]
        return value.get("path")
    if isinstance(value, (str, os.PathLike, bytes, bytearray)):
        return value
    raise ValueError(f"media cell {type(value).__name__} is not a path, bytes or a {{'path', 'bytes'}} dict")


def redraw_index(seed: int, epoch: int, name: str, attempt: int, size: int) -> int:
    """The row that replaces an over-long sample: sha256(seed, epoch, name, attempt) mod the data set size."""
    digest = hashlib.sha256(f"{int(seed)}\x1f{int(epoch)}\x1f{name}\x1f{int(attempt)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % size


class AffectGPTSFTCollator:
    """MER-Caption rows -> ``input_ids``, ``attention_mask``, ``labels`` and the media inputs of the model.

    A row's media are its cached ``video_features`` / ``audio_features`` columns (``affectgpt cache-features``) when
    present, else ``video`` / ``audio`` / ``face`` cells decoded through the processor (media.py). ``epoch`` is set by
    :class:`~affectgpt_hf.training.trainer.EpochCallback`; with ``seed`` it fixes each row's question (hybrid mode).
    """

    def __init__(
        self,
        processor,
        seed: int = 42,
        max_length: int | None = 1024,
        dataset: Sequence[Mapping] | None = None,
        max_redraws: int = 10,
    ):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.seed = seed
        self.epoch = 0
        self.max_length = max_length
        self.dataset = dataset
        self.max_redraws = max_redraws
        self.needs_video = visual_token_of(processor.input_mode) is not None
        self.needs_audio = uses_audio_of(processor.input_mode)
        if self.tokenizer.bos_token_id is None or self.tokenizer.pad_token_id is None:
            raise ValueError("the processor's tokenizer needs bos (<|im_start|>) and pad (<|im_end|>) tokens")

    # ------------------------------------------------------------------------------------------------------ text
    def encode(self, row: Mapping) -> tuple[list[int], list[int], str]:
        """(prompt ids, target ids, prompt) of one row in the current epoch, each tokenized alone as upstream."""
        _, question, answer = pick_pair(row, self.seed, self.epoch)
        prompt = render_prompt(self.processor.input_mode, row.get("subtitle"), question, self.processor.query_tokens)
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        target_ids = self.tokenizer(format_training_target(answer), add_special_tokens=False)["input_ids"]
        return prompt_ids, target_ids, prompt

    def _fits(self, prompt_ids: list[int], target_ids: list[int]) -> bool:
        return self.max_length is None or len(prompt_ids) + len(target_ids) <= self.max_length

    def encode_or_redraw(self, row: Mapping) -> tuple[Mapping, list[int], list[int], str]:
        """Encode ``row``; if it is over ``max_length``, replace it by deterministic redraws (upstream's retries)."""
        encoded = self.encode(row)
        if self._fits(*encoded[:2]):
            return (row, *encoded)
        original = row["name"]
        if self.dataset is None or self.max_redraws <= 0:
            raise ValueError(
                f"sample {original!r} has {len(encoded[0]) + len(encoded[1])} prompt + answer tokens, over "
                f"max_length={self.max_length}; give the collator dataset= to redraw, or raise max_length"
            )
        for attempt in range(self.max_redraws):
            row = self.dataset[redraw_index(self.seed, self.epoch, original, attempt, len(self.dataset))]
            encoded = self.encode(row)
            if self._fits(*encoded[:2]):
                return (row, *encoded)
        raise ValueError(
            f"sample {original!r} is over max_length={self.max_length} and {self.max_redraws} redraws were too; "
            "raise max_length or filter the data set"
        )

    # ----------------------------------------------------------------------------------------------------- batch
    def __call__(self, rows: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("the collator got an empty batch")
        encoded = [self.encode_or_redraw(row) for row in rows]
        rows = [item[0] for item in encoded]
        bos, eos, pad = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        sequences, labels = [], []
        for _, prompt_ids, target_ids, _ in encoded:
            sequences.append([bos, *prompt_ids, *target_ids, eos])
            labels.append([IGNORE_INDEX] * (1 + len(prompt_ids)) + [*target_ids, eos])
        width = max(len(ids) for ids in sequences)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        label_ids = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        for i, (ids, target) in enumerate(zip(sequences, labels, strict=True)):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            label_ids[i, : len(target)] = torch.tensor(target)
        batch = {
            "input_ids": input_ids,
            "attention_mask": input_ids.ne(pad).long(),  # upstream quirk: the final eos (= pad) is masked too
            "labels": label_ids,
        }
        batch.update(self.media(rows, [item[3] for item in encoded]))
        return batch

    def media(self, rows: Sequence[Mapping], prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Cached features where the rows have them, else pixel values / waveforms from the processor."""
        out = {}
        cached_video = self.needs_video and all(row.get(VIDEO_FEATURES) is not None for row in rows)
        cached_audio = self.needs_audio and all(row.get(AUDIO_FEATURES) is not None for row in rows)
        if cached_video:
            out[VIDEO_FEATURES] = _stack(rows, VIDEO_FEATURES)
        if cached_audio:
            out[AUDIO_FEATURES] = _stack(rows, AUDIO_FEATURES)
        if (self.needs_video and not cached_video) or (self.needs_audio and not cached_audio):
            inputs = self.processor(
                text=list(prompts),
                videos=[media_source(row.get("video")) for row in rows] if "video" in rows[0] else None,
                audio=[media_source(row.get("audio")) for row in rows] if "audio" in rows[0] else None,
                faces=[row.get("face") for row in rows] if "face" in rows[0] else None,
                return_tensors="pt",
            )
            if self.needs_video and not cached_video:
                out["pixel_values_videos"] = inputs["pixel_values_videos"]
            if self.needs_audio and not cached_audio:
                out["input_values"] = inputs["input_values"]
        return out


def _stack(rows: Sequence[Mapping], column: str) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(row[column], dtype=np.float32) for row in rows]))
