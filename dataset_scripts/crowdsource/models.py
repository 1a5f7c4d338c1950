"""Pluggable models: any callable, an import path ``module:attribute``, or a transformers model id / object.

Signatures the pipeline calls (batched):
- audio / video clue model: ``fn(clips: list[Clip], prompt: str) -> list[str]``
- merge LLM: ``fn(prompts: list[str]) -> list[str]``
- classifier: ``fn(clips: list[Clip]) -> list[{"emotion": str, "sentiment": str}]``
- speaker check (active-speaker detection hook): ``fn(clips: list[Clip]) -> list[bool]``
- label extractor: an object with ``extract_labels(texts)`` and ``extract_sentiment(label_lists)``, as
  ``affectgpt_hf.unibench`` extractors (``LexiconExtractor`` offline, ``LLMJudge`` with an LLM).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch


def import_object(spec: str) -> Any:
    """``package.module:attribute`` -> the attribute (called once if it is a factory named ``make_*``)."""
    module_name, _, attribute = spec.partition(":")
    value = getattr(importlib.import_module(module_name), attribute)
    return value() if attribute.startswith("make_") else value


class HFTextLLM:
    """A causal LM as ``fn(prompts) -> texts``: chat template when the tokenizer has one, greedy, left-padded."""

    def __init__(self, model: Any, tokenizer: Any = None, max_new_tokens: int = 256, device: str | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if isinstance(model, str):
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(model)
            model = AutoModelForCausalLM.from_pretrained(model, dtype="auto")
        if tokenizer is None:
            raise ValueError("HFTextLLM: a model object needs its tokenizer= too")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_new_tokens = max_new_tokens

    def _render(self, prompt: str) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": prompt}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return prompt

    @torch.inference_mode()
    def __call__(self, prompts: list[str]) -> list[str]:
        batch = self.tokenizer([self._render(p) for p in prompts], return_tensors="pt", padding=True)
        batch = {key: value.to(self.device) for key, value in batch.items()}
        output = self.model.generate(
            **batch,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        return [text.strip() for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


class HFMediaLLM:
    """An audio or video LLM from the Hub (e.g. Qwen2-Audio, a video LLM) through its processor's chat template.

    The clip path goes into the message as ``{"type": "audio"|"video", "path": ...}``; processors that decode video
    need torchvision (unavailable beside the CPU torch of this project's test machine), so tests use callables.
    """

    def __init__(self, model_id: str, modality: str, max_new_tokens: int = 256, device: str | None = None):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if modality not in ("audio", "video"):
            raise ValueError(f"modality {modality!r}: expected 'audio' or 'video'")
        self.modality = modality
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = AutoProcessor.from_pretrained(model_id)
        self.model = AutoModelForImageTextToText.from_pretrained(model_id, dtype="auto").to(self.device).eval()
        self.max_new_tokens = max_new_tokens

    @torch.inference_mode()
    def __call__(self, clips: list, prompt: str) -> list[str]:
        answers = []
        for clip in clips:  # one clip per call: media processors batch unevenly
            path = clip.audio if self.modality == "audio" and clip.audio else clip.video
            messages = [
                {
                    "role": "user",
                    "content": [{"type": self.modality, "path": path}, {"type": "text", "text": prompt}],
                }
            ]
            inputs = self.processor.apply_chat_template(
                messages, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt"
            ).to(self.device)
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            answers.append(self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip())
        return answers


def resolve_model(spec: Any, kind: str) -> Callable | Any | None:
    """A callable for ``kind`` ("audio", "video", "text", or "object" for extractors) from a spec."""
    if spec is None or callable(spec) or not isinstance(spec, str):
        return spec
    if ":" in spec and "/" not in spec.split(":", 1)[0]:
        return import_object(spec)
    if kind == "text":
        return HFTextLLM(spec)
    if kind in ("audio", "video"):
        return HFMediaLLM(spec, kind)
    raise ValueError(f"{kind} model {spec!r}: expected a callable or an import path module:attribute")
