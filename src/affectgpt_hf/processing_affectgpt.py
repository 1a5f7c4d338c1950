"""AffectGPTProcessor: clip (frames or faces, audio, subtitle) -> the model's inputs, and answers -> text and labels."""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from huggingface_hub.errors import StrictDataclassError
from transformers import BatchFeature, ProcessorMixin
from transformers.processing_utils import ProcessingKwargs, Unpack

from .media import SAMPLE_RATE, audio_clips, load_audio, load_faces, resize_faces, sample_video_frames
from .prompt import (
    FACE_TOKEN,
    build_chat_template,
    extract_answer,
    parse_ov_answer,
    query_token_counts,
    question_for,
    render_prompt,
    uses_audio_of,
    visual_token_of,
)
from .tokenizer import FULL_VOCAB, build_qwen25_tokenizer

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class AffectGPTProcessorKwargs(ProcessingKwargs, total=False):
    """The call's own keywords, beside transformers' per-modality ones (`padding_side`, `max_length`,
    `return_tensors`, `sampling_rate`, ...). Without `text=`, `subtitles` and the question (a free `question`, else
    the `task`'s: "ov_labels" or "description") make upstream's prompt; `faces` are OpenFace `.npy` crops or "auto";
    `on_no_face` is "error" or "frames" (a clip without a face gets the frame model's input)."""

    subtitles: str | Sequence[str | None] | None
    task: str | None
    question: str | Sequence[str] | None
    faces: str | os.PathLike | np.ndarray | Sequence[str | os.PathLike | np.ndarray | None] | None
    on_no_face: str


class AffectGPTProcessor(ProcessorMixin):
    """CLIP image processor per frame, Wav2Vec2 feature extractor over the 8 audio clips, and the Qwen2.5 tokenizer.

    `processor(videos=[...], audio=[...], subtitles=[...], task="ov_labels")` builds upstream's prompt (prompt.py);
    `text=` takes prompts already rendered (as `apply_chat_template` passes them). A video is an mp4 path or a
    (T, H, W, 3) uint8 RGB array; `faces=` takes upstream's OpenFace `.npy` crops (BGR, used as stored, as upstream),
    or `"auto"` (for all clips, or per clip) to crop faces from `videos=` in-process (faces.py, an approximation of
    OpenFace's crops; `on_no_face="frames"` gives a clip without any face the frame model's input, with a warning).
    For face models the output carries `face_sources`: per clip `{"face_source": "openface"|"builtin"|"frames",
    "frames_without_face": n}`. `audio=None` takes the video's own audio track.
    """

    # Defaults of the call's keywords (transformers reads them from the class); prompts are tokenized alone, without
    # special tokens as upstream, and left-padded for generation.
    valid_processor_kwargs = AffectGPTProcessorKwargs
    text_kwargs = {"add_special_tokens": False, "padding": True, "padding_side": "left", "return_tensors": "pt"}
    task = "ov_labels"
    on_no_face = "error"

    def __init__(
        self,
        image_processor=None,
        feature_extractor=None,
        tokenizer=None,
        chat_template: str | None = None,
        input_mode: str = "multiface_audio_face_text",
        num_frames: int = 8,
        num_audio_clips: int = 8,
        audio_clip_seconds: float = 2.0,
        num_video_query_tokens: int = 1,
        num_audio_query_tokens: int = 1,
        num_multi_query_tokens: int = 1,
        qwen_bpe_ranks: int | None = None,
        **kwargs,
    ):
        self.input_mode = input_mode
        self.num_frames = num_frames
        self.num_audio_clips = num_audio_clips
        self.audio_clip_seconds = audio_clip_seconds
        self.num_video_query_tokens = num_video_query_tokens
        self.num_audio_query_tokens = num_audio_query_tokens
        self.num_multi_query_tokens = num_multi_query_tokens
        self.qwen_bpe_ranks = qwen_bpe_ranks
        if chat_template is None:
            chat_template = build_chat_template(input_mode, self.query_tokens)
        super().__init__(image_processor, feature_extractor, tokenizer, chat_template=chat_template, **kwargs)

    @property
    def query_tokens(self) -> dict[str, int]:
        return query_token_counts(self.num_video_query_tokens, self.num_audio_query_tokens, self.num_multi_query_tokens)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "pixel_values_videos", "input_values"]

    # ----------------------------------------------------------------------------------------------------------- inputs
    def __call__(
        self,
        images=None,
        text: str | Sequence[str] | None = None,
        videos=None,
        audio=None,
        **kwargs: Unpack[AffectGPTProcessorKwargs],
    ) -> BatchFeature:
        """Media and prompts of a batch -> input_ids, attention_mask, pixel_values_videos [B,8,3,224,224] and
        input_values [B,8,32000] (each present when the input mode uses it). Prompts are left-padded for generation."""
        if images is not None:
            raise ValueError("images= is not supported: AffectGPT reads videos (frames), faces and audio")
        options = self._options(kwargs)
        columns, batch = _columns(text, videos, audio, options)
        prompts = columns["text"] or [self._prompt(i, columns, options["task"]) for i in range(batch)]
        data = self._tokenize(prompts, options["text_kwargs"])
        visual, videos, pixels, face_sources = visual_token_of(self.input_mode), columns["videos"], [], []
        for i in range(batch if visual is not None else 0):
            values, source = self._visual(i, visual, videos, columns["faces"], options["on_no_face"])
            pixels.append(values)
            face_sources.append(source)
        if pixels:
            data["pixel_values_videos"] = np.stack(pixels)
        if uses_audio_of(self.input_mode):
            rate = options["audio_kwargs"].get("sampling_rate")
            data["input_values"] = np.stack([self._audio(i, columns["audio"], videos, rate) for i in range(batch)])
        features = BatchFeature(data=data, tensor_type=options["text_kwargs"].get("return_tensors"))
        if visual == FACE_TOKEN:
            features.face_sources = face_sources  # an attribute, not a model input
        return features

    def _options(self, kwargs: dict) -> dict:
        """The call's keywords over the class defaults, per modality (transformers' merge); a bad value is a
        ValueError. The tokenizer's own settings are left out: its padding side must not override left padding."""
        side = kwargs.get("padding_side", self.text_kwargs["padding_side"])
        if side not in ("left", "right"):
            raise ValueError(f"padding_side={side!r}; expected 'left' (generation) or 'right'")
        try:
            options = self._merge_kwargs(**kwargs)
        except StrictDataclassError as error:
            raise ValueError(f"{error}") from None
        if options["on_no_face"] not in ("error", "frames"):
            raise ValueError(f"on_no_face must be 'error' or 'frames', got {options['on_no_face']!r}")
        max_length = options["text_kwargs"].get("max_length")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length={max_length}; expected a positive number of tokens")
        return options

    def _prompt(self, i: int, columns: dict, task: str | None) -> str:
        """Upstream's prompt for clip ``i``: its subtitle and the question (a free one, else the task's)."""
        subtitle = columns["subtitles"][i] if columns["subtitles"] else None
        free = columns["question"][i] if columns["question"] else None
        question = question_for(self.task if task is None else task, free)
        return render_prompt(self.input_mode, subtitle, question, self.query_tokens)

    def _tokenize(self, prompts: list[str], text_kwargs: dict) -> dict:
        """Each prompt tokenized alone (no special tokens, as upstream), over-long ones left-truncated as upstream,
        then padded by the tokenizer."""
        max_length = text_kwargs.get("max_length")
        ids = self.tokenizer(prompts, add_special_tokens=text_kwargs["add_special_tokens"])["input_ids"]
        if max_length is not None:
            ids = _left_truncated(ids, max_length)
        padded = self.tokenizer.pad(
            {"input_ids": ids},
            padding=text_kwargs["padding"],
            max_length=max_length if text_kwargs["padding"] == "max_length" else None,
            pad_to_multiple_of=text_kwargs.get("pad_to_multiple_of"),
            padding_side=text_kwargs["padding_side"],
            return_attention_mask=True,
            return_tensors="np",
        )
        return {name: padded[name].astype(np.int64) for name in ("input_ids", "attention_mask")}

    def _visual(self, i: int, visual: str, videos, faces, on_no_face: str) -> tuple[np.ndarray, dict | None]:
        """8 faces (as stored, BGR) or 8 frames (RGB) -> [8, 3, 224, 224] CLIP pixel values, and the face source."""
        source = None
        if visual == FACE_TOKEN and faces is not None and _is_auto(faces[i]):
            frames, source = self._auto_faces(i, videos, on_no_face)
        elif visual == FACE_TOKEN and faces is not None:
            frames = load_faces(faces[i], num_frames=self.num_frames)
            source = {"face_source": "openface", "frames_without_face": 0}
        elif videos is not None:
            if visual == FACE_TOKEN:
                warnings.warn(
                    f"input_mode {self.input_mode!r} was trained on OpenFace face crops (faces=); raw video frames "
                    "are given instead, which the frame variant (multiframe_audio_frame_text) is made for",
                    stacklevel=3,
                )
            frames = sample_video_frames(videos[i], num_frames=self.num_frames, size=(224, 224))
            if visual == FACE_TOKEN:
                source = {"face_source": "frames", "frames_without_face": 0}
        else:
            needed = "faces= (OpenFace .npy or 'auto') or videos=" if visual == FACE_TOKEN else "videos="
            raise ValueError(f"input_mode {self.input_mode!r} needs {needed} for every clip")
        pixels = self.image_processor(images=list(frames), return_tensors="np")["pixel_values"]
        return pixels.astype(np.float32), source

    def _auto_faces(self, i: int, videos, on_no_face: str) -> tuple[np.ndarray, dict]:
        """faces="auto": crops of the clip's sampled frames (faces.py), resized as upstream resizes OpenFace crops."""
        from .faces import NoFaceError, video_face_crops

        if videos is None or videos[i] is None:
            raise ValueError(f"clip {i}: faces='auto' crops faces from the clip's video; pass videos=")
        try:
            found = video_face_crops(videos[i], num_frames=self.num_frames)
        except NoFaceError as error:
            if on_no_face == "error":
                raise NoFaceError(
                    f"{error}; give OpenFace crops (faces=..., describe --faces DIR) or use the frame model's input "
                    "(on_no_face='frames', describe --on-no-face frames)"
                ) from None
            warnings.warn(f"{error}; this clip gets the frame model's input (video frames) instead", stacklevel=4)
            frames = sample_video_frames(videos[i], num_frames=self.num_frames, size=(224, 224))
            return frames, {"face_source": "frames", "frames_without_face": self.num_frames}
        frames = resize_faces(found.crops, num_frames=self.num_frames, size=224)
        return frames, {"face_source": "builtin", "frames_without_face": found.reused}

    def _audio(self, i: int, audio, videos, sampling_rate: int | None) -> np.ndarray:
        """Audio track -> 8 mean-removed 2-s clips, normalised together as upstream's feature extractor did."""
        source = audio[i] if audio is not None else None
        if source is None:
            if videos is None or not isinstance(videos[i], (str, os.PathLike, bytes)):
                raise ValueError(
                    f"clip {i}: no audio given and no video file (a path or its bytes) to take it from; pass audio=..."
                )
            source = videos[i]
        if isinstance(source, (str, os.PathLike, bytes, io.IOBase)):  # a file: its bytes, or a file object
            waveform = load_audio(source)
        else:
            if sampling_rate is None:
                raise ValueError(f"clip {i}: audio given as an array needs sampling_rate=")
            waveform = load_audio(np.asarray(source), sampling_rate=sampling_rate)
        clips = audio_clips(
            waveform, num_clips=self.num_audio_clips, clip_seconds=self.audio_clip_seconds, sampling_rate=SAMPLE_RATE
        )
        # One sequence over all clips: upstream handed the (clips, samples) tensor to the extractor, which normalised
        # mean and variance over every clip together.
        flat = self.feature_extractor(clips.reshape(-1), sampling_rate=SAMPLE_RATE, return_tensors="np")
        return flat["input_values"][0].reshape(clips.shape).astype(np.float32)

    # ---------------------------------------------------------------------------------------------------------- outputs
    def batch_decode(self, sequences, skip_special_tokens: bool = True, **kwargs) -> list[str]:
        """Decoded answers only: the prompt removed, then cut before the answer's last `###` (if it has one)."""
        texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=skip_special_tokens, **kwargs)
        return [extract_answer(text, eos_token=self.tokenizer.eos_token) for text in texts]

    def decode(self, sequence, skip_special_tokens: bool = True, **kwargs) -> str:
        return self.batch_decode([sequence], skip_special_tokens=skip_special_tokens, **kwargs)[0]

    def post_process(self, texts: str | Sequence[str]) -> list[list[str]]:
        """OV answers ("The character's emotional state is a, b.") -> label lists."""
        if isinstance(texts, str):
            texts = [texts]
        return [parse_ov_answer(text) for text in texts]

    # ----------------------------------------------------------------------------------------------- chat template I/O
    def _multimodal_inputs_from_conversations(self, conversations, audio_loading_params, load_audio_from_video=False):
        """Media paths from the messages, undecoded: media.py decodes them (not transformers' load_audio)."""
        batch_videos, batch_audio = [], []
        for conversation in conversations:
            videos, audios = [], []
            for message in conversation:
                content = message.get("content")
                if isinstance(content, str) or not content:
                    continue
                for block in content:
                    keys = ("video", "url", "path") if block["type"] == "video" else ("audio", "url", "path")
                    if block["type"] in ("video", "audio"):
                        found = [block[key] for key in keys if key in block]
                        (videos if block["type"] == "video" else audios).extend(found)
            if len(videos) > 1 or len(audios) > 1:
                raise ValueError("each conversation takes one video block and at most one audio block")
            batch_videos.append(videos)
            batch_audio.append(audios[0] if audios else None)
        has_audio = any(item is not None for item in batch_audio)
        return [[] for _ in conversations], batch_videos, (batch_audio if has_audio else []), {}

    # --------------------------------------------------------------------------------------------------- loading
    @classmethod
    def _load_tokenizer_from_pretrained(cls, sub_processor_type, pretrained_model_name_or_path, subfolder="", **kwargs):
        """A folder without tokenizer files (the hub_configs) gets Qwen2.5's tokenizer built offline (tokenizer.py)."""
        folder = Path(pretrained_model_name_or_path) / subfolder
        config_file = folder / "processor_config.json"
        if folder.is_dir() and not any((folder / name).exists() for name in TOKENIZER_FILES) and config_file.exists():
            ranks = json.loads(config_file.read_text(encoding="utf-8")).get("qwen_bpe_ranks")
            if ranks:
                return build_qwen25_tokenizer(int(ranks))
        return super()._load_tokenizer_from_pretrained(
            sub_processor_type, pretrained_model_name_or_path, subfolder=subfolder, **kwargs
        )

    @classmethod
    def from_settings(
        cls, input_mode: str = "multiface_audio_face_text", qwen_bpe_ranks: int = FULL_VOCAB, **settings
    ) -> AffectGPTProcessor:
        """A processor with upstream's CLIP and HuBERT preprocessing and Qwen2.5's tokenizer, built offline."""
        from transformers import Wav2Vec2FeatureExtractor
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        image_processor = CLIPImageProcessorPil(
            do_resize=True,
            size={"shortest_edge": 224},
            resample=3,
            do_center_crop=True,
            crop_size={"height": 224, "width": 224},
            do_rescale=True,
            rescale_factor=1 / 255,
            do_normalize=True,
            image_mean=[0.48145466, 0.4578275, 0.40821073],
            image_std=[0.26862954, 0.26130258, 0.27577711],
            do_convert_rgb=True,
        )
        feature_extractor = Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
        )
        tokenizer = build_qwen25_tokenizer(qwen_bpe_ranks)
        return cls(
            image_processor,
            feature_extractor,
            tokenizer,
            input_mode=input_mode,
            qwen_bpe_ranks=qwen_bpe_ranks,
            **settings,
        )


def _columns(text, videos, audio, options: dict) -> tuple[dict, int]:
    """The per-clip inputs as lists of one length, the batch size (a lone question or faces="auto" goes to every
    clip); lists of other lengths are an error."""
    columns = {
        "text": _as_list(text, "text"),
        "videos": _media_files(_as_videos(videos), "videos"),
        "audio": _media_files(_as_list(audio, "audio", keep_arrays=True), "audio"),
        "subtitles": _as_list(options.get("subtitles"), "subtitles"),
        "faces": _as_list(options.get("faces"), "faces", keep_arrays=True),
        "question": _as_list(options.get("question"), "question"),
    }
    sizes = {name: len(values) for name, values in columns.items() if values is not None}
    if not sizes:
        raise ValueError("pass text= or subtitles= (and the media the input mode needs)")
    batch = max(sizes.values())
    for name, size in sizes.items():
        if (name == "question" and size == 1) or (name == "faces" and _is_auto(options.get("faces"))):
            columns[name] = columns[name][:1] * batch
        elif size != batch:
            raise ValueError(f"lists of different lengths: {sizes}; give one entry per clip")
    return columns, batch


def _media_files(values: list | None, name: str) -> list | None:
    """datasets' undecoded media dicts ({"bytes", "path"}, a Video() or Audio() column cast with decode=False) become
    their bytes, else their path; other entries stay as they are."""
    if values is None:
        return None
    files = []
    for i, value in enumerate(values):
        if isinstance(value, dict) and set(value) <= {"bytes", "path"}:
            value = value.get("bytes") or value.get("path")
            if not value:
                raise ValueError(f"{name}[{i}] is a media dict with neither bytes nor path; expected one of them")
        files.append(value)
    return files


def _left_truncated(ids: list[list[int]], max_length: int) -> list[list[int]]:
    """Each prompt's last ``max_length`` tokens, as upstream keeps them; every prompt cut is warned about."""
    for i, row in enumerate(ids):
        if len(row) > max_length:
            warnings.warn(
                f"prompt {i} has {len(row)} tokens, over max_length={max_length}: its first {len(row) - max_length} "
                "tokens are dropped, as upstream does",
                stacklevel=4,
            )
    return [row[-max_length:] for row in ids]


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def _as_list(value, name: str, keep_arrays: bool = False) -> list | None:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike, dict)) or (keep_arrays and isinstance(value, np.ndarray)):
        return [value]
    if isinstance(value, Sequence) or (isinstance(value, np.ndarray) and not keep_arrays):
        return list(value)
    raise ValueError(f"{name} must be a value or a list with one entry per clip, got {type(value).__name__}")


def _as_videos(videos) -> list | None:
    """One video per clip; accepts the nested [[video], ...] layout that apply_chat_template produces."""
    videos = _as_list(videos, "videos", keep_arrays=True)
    if videos is None:
        return None
    flat = []
    for item in videos:
        if isinstance(item, list):
            if len(item) != 1:
                raise ValueError(f"each clip takes exactly one video, got {len(item)}")
            item = item[0]
        flat.append(item)
    return flat


__all__ = ["AffectGPTProcessor"]
