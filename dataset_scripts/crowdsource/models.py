"""Pluggable models: any callable, an import path ``module:attribute``, or a transformers model id / object.

Signatures the pipeline calls (batched):
- audio / video clue model: ``fn(clips: list[Clip], prompt: str) -> list[str | ClipFailure]`` (a ClipFailure for a
  clip it cannot take; an empty answer also fails the clip)
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

from .pipeline import ClipFailure


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


class MediaModelError(ValueError):
    """A model given for audio or visual clues that cannot serve as one: not a media LLM (no Auto class tried maps its
    config), a processor that takes no such media, or a processor that cannot be built here."""


# The Auto classes tried, in order, for each clue model. Every image-text-to-text model is also in the multimodal LM
# mapping; the second class in each pair catches models registered with only one of them (`AutoModelFor...register`).
AUTO_CLASSES = {
    "audio": ("AutoModelForMultimodalLM", "AutoModelForImageTextToText"),
    "video": ("AutoModelForImageTextToText", "AutoModelForMultimodalLM"),
}
EXAMPLE_MODELS = {"audio": "Qwen/Qwen2-Audio-7B-Instruct", "video": "llava-hf/llava-interleave-qwen-0.5b-hf"}
FRAMES_AS_IMAGES = 8  # frames per clip given to a video LLM whose processor has no video processor


def media_auto_class(config: Any, modality: str, model_id: str) -> Any:
    """The first Auto class of ``AUTO_CLASSES[modality]`` whose mapping holds ``config``'s class."""
    import transformers
    from transformers.models.auto import modeling_auto

    mappings = {
        "AutoModelForMultimodalLM": modeling_auto.MODEL_FOR_MULTIMODAL_LM_MAPPING,
        "AutoModelForImageTextToText": modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING,
    }
    tried = AUTO_CLASSES[modality]
    for name in tried:
        if type(config) in mappings[name]:
            return getattr(transformers, name)
    raise MediaModelError(
        f"{modality} model {model_id!r} is not a media LLM: its config is {type(config).__name__} (model_type "
        f"{config.model_type!r}), which none of the Auto classes tried maps to a model ({', '.join(tried)}); expected "
        f"an {modality} LLM such as {EXAMPLE_MODELS[modality]}"
    )


class HFMediaLLM:
    """An audio or video LLM (a transformers id or folder) as a clue model: ``fn(clips, prompt) -> answers``.

    The model loads through the first Auto class of ``AUTO_CLASSES[modality]`` that maps its config (Qwen2-Audio:
    ``AutoModelForMultimodalLM``; LLaVA: ``AutoModelForImageTextToText``), the processor through ``AutoProcessor``, and
    each clip goes through the processor's chat template as one user turn: the media blocks, then the prompt.

    - audio (a processor with a feature extractor): ``{"type": "audio", "audio": waveform}``, the clip's wav (or, for
      a clip without one, its video's audio track) decoded by ``affectgpt_hf.media`` like every media file of the
      package (16 kHz mono, resampled to the feature extractor's rate). The ``audio`` key, rather than ``path``,
      because Qwen2-Audio's own template tests for it (``'audio' in content``); transformers reads ``audio``, ``url``
      or ``path`` alike.
    - video, processor with a video processor: ``{"type": "video", "video": path}``; the processor decodes and samples
      (transformers' video processors need torchvision).
    - video, processor with only an image processor (e.g. LLaVA-Interleave, trained on frames as images):
      ``num_frames`` frames (default 8) sampled by ``affectgpt_hf.media``, one ``{"type": "image", "image": ...}``
      block each.

    The clips of a call are batched: one left-padded processor call and one ``generate`` (greedy). A clip whose media
    cannot be read (no wav and no audio track, an unreadable file) is left out of the batch and answered with a
    ``ClipFailure``; the pipeline records it in ``filter_report.csv``. In native video mode the processor reads the
    files itself, so there an unreadable video fails the whole batch.
    """

    def __init__(
        self,
        model_id: str,
        modality: str,
        max_new_tokens: int = 256,
        device: str | None = None,
        num_frames: int | None = None,
    ):
        from transformers import AutoConfig, AutoProcessor

        if modality not in ("audio", "video"):
            raise ValueError(f"modality {modality!r}: expected 'audio' or 'video'")
        model_id = str(model_id)
        self.modality = modality
        self.model_id = model_id
        self.auto_class = media_auto_class(AutoConfig.from_pretrained(model_id), modality, model_id)
        try:
            self.processor = AutoProcessor.from_pretrained(model_id)
        except ImportError as error:
            reason = " ".join(str(error).split())
            raise MediaModelError(
                f"{modality} model {model_id!r}: its processor cannot be built here ({reason}). transformers' video "
                f"processors need torchvision; install it for this torch, or give a video LLM whose processor takes "
                f"frames as images (no video processor), such as {EXAMPLE_MODELS['video']}"
            ) from error
        self.input_mode = self._input_mode()
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"  # generation continues every row from its last prompt token
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.num_frames = num_frames
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = self.auto_class.from_pretrained(model_id, dtype="auto").to(self.device).eval()
        self.max_new_tokens = max_new_tokens

    def _input_mode(self) -> str:
        """ "audio", "video" (native video blocks) or "frames" (frames as image blocks), from the processor's parts."""
        parts = set(type(self.processor).get_attributes()) if hasattr(self.processor, "get_attributes") else set()
        if "tokenizer" in parts and self.modality == "audio" and parts & {"feature_extractor", "audio_processor"}:
            return "audio"
        if "tokenizer" in parts and self.modality == "video" and "video_processor" in parts:
            return "video"
        if "tokenizer" in parts and self.modality == "video" and "image_processor" in parts:
            return "frames"
        wanted = "a feature extractor" if self.modality == "audio" else "a video or image processor"
        raise MediaModelError(
            f"{self.modality} model {self.model_id!r} loads through {self.auto_class.__name__}, but its processor "
            f"{type(self.processor).__name__} (parts: {', '.join(sorted(parts)) or 'none'}) takes no "
            f"{self.modality}: expected a processor with a tokenizer and {wanted}, as {EXAMPLE_MODELS[self.modality]}'s"
        )

    def media_blocks(self, clip: Any) -> list[dict] | ClipFailure:
        """The chat-template blocks of one clip's media, or the ClipFailure saying why there are none."""
        from affectgpt_hf import media

        if self.input_mode == "video":
            return [{"type": "video", "video": clip.video}]
        if self.input_mode == "frames":
            from PIL import Image

            count = self.num_frames or FRAMES_AS_IMAGES
            try:
                frames = media.sample_video_frames(clip.video, num_frames=count, size=None)
            except ValueError as error:
                return ClipFailure(f"no frames for the video model: {error}")
            return [{"type": "image", "image": Image.fromarray(frame)} for frame in frames]
        source = clip.audio or clip.video  # the wav, else the video's track: decoded by media.py (16 kHz mono)
        try:
            wave = media.load_audio(source)
        except ValueError as error:
            if clip.audio:
                return ClipFailure(f"no audio: {error}")
            return ClipFailure(f"no audio: no wav (audio/{clip.name}.wav), and its video gave none ({error})")
        extractor = getattr(self.processor, "feature_extractor", None) or getattr(
            self.processor, "audio_processor", None
        )
        rate = getattr(extractor, "sampling_rate", None) or media.SAMPLE_RATE
        if rate != media.SAMPLE_RATE:
            wave = media.resample(torch.from_numpy(wave)[None], media.SAMPLE_RATE, rate)[0].numpy()
        return [{"type": "audio", "audio": wave}]

    @torch.inference_mode()
    def __call__(self, clips: list, prompt: str) -> list[str | ClipFailure]:
        answers: list[str | ClipFailure | None] = [None] * len(clips)
        conversations, rows = [], []
        for row, clip in enumerate(clips):
            blocks = self.media_blocks(clip)
            if isinstance(blocks, ClipFailure):
                answers[row] = blocks
                continue
            conversations.append([{"role": "user", "content": [*blocks, {"type": "text", "text": prompt}]}])
            rows.append(row)
        if conversations:
            for row, answer in zip(rows, self.generate(conversations), strict=True):
                answers[row] = answer
        return answers

    def generate(self, conversations: list[list[dict]]) -> list[str]:
        """Greedy answers to a batch of conversations (one processor call, one ``generate``)."""
        processor_kwargs: dict[str, Any] = {"padding": True}
        if self.input_mode == "video" and self.num_frames:
            processor_kwargs["num_frames"] = self.num_frames
        inputs = self.processor.apply_chat_template(
            conversations,
            tokenize=True,
            add_generation_prompt=True,
            return_dict=True,
            return_tensors="pt",
            processor_kwargs=processor_kwargs,
        ).to(device=self.device, dtype=self.model.dtype)
        output = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.processor.tokenizer.pad_token_id,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [text.strip() for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]


def resolve_model(
    spec: Any, kind: str, max_new_tokens: int = 256, num_frames: int | None = None, device: str | None = None
) -> Callable | Any | None:
    """A callable for ``kind`` ("audio", "video", "text", or "object" for extractors) from a spec: a callable, an
    import path ``module:attribute``, or (audio, video, text) a transformers id or folder, loaded on ``device``
    (default: cuda if there is one)."""
    if spec is None or callable(spec) or not isinstance(spec, str):
        return spec
    if ":" in spec and "/" not in spec.split(":", 1)[0]:
        return import_object(spec)
    if kind == "text":
        return HFTextLLM(spec, max_new_tokens=max_new_tokens, device=device)
    if kind in ("audio", "video"):
        return HFMediaLLM(spec, kind, max_new_tokens=max_new_tokens, device=device, num_frames=num_frames)
    raise ValueError(f"{kind} model {spec!r}: expected a callable or an import path module:attribute")
