"""``pipeline(model=FOLDER_OR_HUB_ID, trust_remote_code=True)``: AffectGPT as a transformers pipeline.

Every saved folder registers this class in its config's ``custom_pipelines`` under :data:`TASK` and carries this file
beside the model's code, so the one line above works without this package. A clip goes in as a path, bytes, a
datasets media dict ({"bytes", "path"}) or a dict with "video", "audio", "subtitle", "question" (and "faces": OpenFace
crops); a list of them is batched (``batch_size=``). Each comes out as a dict with ``labels``, ``answer``,
``subtitle`` and ``subtitle_source`` ("given", "asr:<model>" or "none"), as `affectgpt describe` writes its rows.

A clip without a "subtitle" key gets one from its speech (speech.py: voice activity, then ``asr_model``, by default a
multilingual Whisper; ``asr_model=None`` leaves it empty); a "subtitle" of "" is given, and empty. A model that reads
faces gets crops made from the video when none are given (faces.py), as `describe` does. Decoding is greedy unless
generation arguments say otherwise (``max_new_tokens=``, ``do_sample=``, ...); labels come from the OV answer parser.
"""

from __future__ import annotations

import functools
import os

import torch
from transformers import Pipeline
from transformers.pipelines.pt_utils import PipelineDataset, PipelineIterator

from .faces import default_faces
from .prompt import FACE_TOKEN, visual_token_of
from .speech import SpeechRecognizer, resolve_asr

TASK = "multimodal-emotion-recognition"
TASKS = ("ov_labels", "description")  # upstream's two questions; any other `question` is asked as it is
GREEDY = {"do_sample": False, "num_beams": 1}
_UNSET = object()


def custom_pipelines() -> dict:
    """The entry a saved config's ``custom_pipelines`` holds: transformers' ``pipeline()`` reads it."""
    return {
        TASK: {"impl": "pipeline_affectgpt.AffectGPTPipeline", "pt": ["AutoModelForMultimodalLM"], "type": "multimodal"}
    }


class AffectGPTPipeline(Pipeline):
    """Clips in, emotions out: ``pipe("clip.mp4")`` -> {"labels", "answer", "subtitle", "subtitle_source", ...}.

    Call arguments (also at construction): ``question`` ("ov_labels", the default; "description"; or a free question),
    ``asr_model`` (speech recognition for clips without a subtitle; default ``$AFFECTGPT_ASR`` or speech.py's
    multilingual Whisper; None or "none": no subtitle), ``asr_language`` (Whisper's language,
    default detected), ``on_no_face`` ("frames", the default: a face model's clip without a face sees frames; "error"),
    and generation arguments for ``generate``."""

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False

    def __init__(self, *args, **kwargs):
        self._recognizers: dict[tuple, SpeechRecognizer] = {}
        super().__init__(*args, **kwargs)
        if self.processor is None:
            raise ValueError(f"the {TASK} pipeline needs the AffectGPT processor saved beside the model")

    def _sanitize_parameters(
        self,
        question=None,
        asr_model=_UNSET,
        asr_language=None,
        on_no_face=None,
        generate_kwargs=None,
        **generation,
    ):
        preprocess = {}
        if question is not None:
            preprocess["question"] = question
        if asr_model is not _UNSET:
            preprocess["asr_model"] = asr_model
        if asr_language is not None:
            preprocess["asr_language"] = asr_language
        if on_no_face is not None:
            if on_no_face not in ("error", "frames"):
                raise ValueError(f"on_no_face={on_no_face!r}; expected 'frames' or 'error'")
            preprocess["on_no_face"] = on_no_face
        forward = {}
        if generate_kwargs or generation:
            forward["generate_kwargs"] = {**(generate_kwargs or {}), **generation}
        return preprocess, forward, {}

    # ------------------------------------------------------------------------------------------------ preprocess
    def preprocess(self, clip, question="ov_labels", asr_model=_UNSET, asr_language=None, on_no_face="frames"):
        item = _as_item(clip)
        asked = item.get("question", question)
        task, free = (asked, None) if asked in TASKS else ("description", asked)
        subtitle, source, note = self._subtitle(item, asr_model, asr_language)
        faces = item.get("faces")
        if faces is None and visual_token_of(self.processor.input_mode) == FACE_TOKEN:
            faces = default_faces(self.processor.input_mode)
        inputs = self.processor(
            videos=None if item.get("video") is None else [item["video"]],
            audio=None if item.get("audio") is None else [item["audio"]],
            faces=None if faces is None else [faces],
            subtitles=[subtitle],
            task=task,
            question=free,
            on_no_face=on_no_face,
            return_tensors="pt",
        )
        meta = {"subtitle": subtitle, "subtitle_source": source}
        if note:
            meta["subtitle_note"] = note
        sources = getattr(inputs, "face_sources", None)
        if sources and sources[0] is not None:
            meta.update(sources[0])
        return {**inputs, "meta": [meta]}

    def _subtitle(self, item: dict, asr_model, language) -> tuple[str, str, str | None]:
        """The clip's subtitle, its source and a note: given (the empty string too), from speech, or none."""
        if item.get("subtitle") is not None:
            return str(item["subtitle"]), "given", None
        asr_model = resolve_asr(None if asr_model is _UNSET else asr_model or "none")
        if asr_model is None:
            return "", "none", None
        key = (os.fspath(asr_model), language)
        if key not in self._recognizers:
            self._recognizers[key] = SpeechRecognizer(asr_model, language=language, device=str(self.device))
        source = item.get("audio") if item.get("audio") is not None else item.get("video")
        transcript = self._recognizers[key](source)
        return transcript.text, transcript.source, transcript.note

    # --------------------------------------------------------------------------------------------------- forward
    def _forward(self, inputs, generate_kwargs=None):
        meta = inputs.pop("meta")
        dtype = self.model.dtype
        inputs = {key: value.to(dtype) if value.is_floating_point() else value for key, value in inputs.items()}
        output = self.model.generate(**inputs, **{**GREEDY, **(generate_kwargs or {})})
        return {"sequences": output[:, inputs["input_ids"].shape[1] :], "meta": meta}

    def postprocess(self, outputs):
        meta = outputs["meta"][0] if isinstance(outputs["meta"], list) else outputs["meta"]
        answer = self.processor.batch_decode(outputs["sequences"])[0]
        return {"labels": self.processor.post_process(answer)[0], "answer": answer, **meta}

    # ---------------------------------------------------------------------------------------------------- batches
    def get_iterator(self, inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params):
        """Lists in batches of ``batch_size`` clips: each clip preprocessed alone, then left-padded together (the
        prompts end where generation starts), as `affectgpt describe` batches them."""
        if not hasattr(inputs, "__len__"):
            inputs = list(inputs)
        dataset = PipelineDataset(inputs, self.preprocess, preprocess_params)
        pad_id = self.processor.tokenizer.pad_token_id
        collate = functools.partial(_left_padded, pad_id=pad_id)
        loader = torch.utils.data.DataLoader(
            dataset, num_workers=num_workers, batch_size=batch_size, collate_fn=collate
        )
        outputs = PipelineIterator(loader, self.forward, forward_params, loader_batch_size=batch_size)
        return PipelineIterator(outputs, self.postprocess, postprocess_params)


def _as_item(clip) -> dict:
    """A pipeline input as {"video", "audio", "subtitle", "question", "faces"}: a path, bytes or datasets media dict is
    the video; a dict names its parts (each of video and audio may itself be a datasets media dict)."""
    if isinstance(clip, (str, os.PathLike, bytes, bytearray)):
        return {"video": _media(clip)}
    if isinstance(clip, dict):
        if set(clip) <= {"bytes", "path"}:
            return {"video": _media(clip)}
        unknown = set(clip) - {"video", "audio", "subtitle", "question", "faces"}
        if unknown:
            raise ValueError(
                f"unknown key(s) {sorted(unknown)} in a clip; expected video, audio, subtitle, question, faces"
            )
        return {**clip, "video": _media(clip.get("video")), "audio": _media(clip.get("audio"))}
    raise ValueError(
        f"a clip is a path, bytes, a datasets media dict or a dict with video, audio, subtitle, question; got "
        f"{type(clip).__name__}"
    )


def _media(value):
    """A datasets media dict ({"bytes", "path"}) -> its bytes, else its path; anything else as it is."""
    if isinstance(value, dict) and set(value) <= {"bytes", "path"}:
        if value.get("bytes"):
            return value["bytes"]
        if value.get("path"):
            return value["path"]
        raise ValueError("a media dict with neither bytes nor path; expected {'bytes': ..., 'path': ...}")
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def _left_padded(items: list[dict], pad_id: int) -> dict:
    """One-clip inputs -> one batch: ids and mask left-padded to the longest prompt, media stacked, notes listed."""
    width = max(item["input_ids"].shape[1] for item in items)
    batch: dict = {"meta": [item["meta"][0] for item in items]}
    for item in items:
        fill = width - item["input_ids"].shape[1]
        batch.setdefault("input_ids", []).append(torch.nn.functional.pad(item["input_ids"], (fill, 0), value=pad_id))
        batch.setdefault("attention_mask", []).append(torch.nn.functional.pad(item["attention_mask"], (fill, 0)))
        for key in ("pixel_values_videos", "input_values"):
            if key in item:
                batch.setdefault(key, []).append(item[key])
    return {key: value if key == "meta" else torch.cat(value) for key, value in batch.items()}


__all__ = ["TASK", "AffectGPTPipeline", "custom_pipelines"]
