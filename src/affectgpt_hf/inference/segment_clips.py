"""A long video's segments read as the clips `describe` would get if each were cut out: the frames upstream's index
rule picks among those shown in the segment (media.iter_segment_frames, one forward walk over the video), the samples
of the segment from the soundtrack, face crops of those frames for face models, and the segment's subtitle. Batches of
segments are prepared here for `describe` (its ``prepare=``), in DataLoader workers or in place."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
from torch.utils.data import get_worker_info

from ..faces import NoFaceError
from ..media import SAMPLE_RATE, Soundtrack, iter_segment_frames, sample_segment_frames
from ..prompt import FACE_TOKEN, uses_audio_of, visual_token_of
from .batch import Clip, _collate, _face_source, prepare_clip
from .prefetch import Prepared, deadline

logger = logging.getLogger(__name__)

FRAME_SIZE = (224, 224)  # what the processor's image processor receives (its own resize then keeps it)


class SegmentBatches:
    """``prepare(number, indices)`` for :func:`batch.describe`: batch ``number`` holds segments ``indices``
    (positions in ``spans``), each prepared by the processor as the clip cut from ``video`` there would be.

    Frames come from one forward walk per process over the segments of the batches that process prepares (batch b
    goes to DataLoader worker b mod N; in place, every batch): a walk seeks only across stretches none of its segments
    needs, so without workers each part of the video is decoded once. A walk that fails (a damaged stretch) is left;
    the batch's remaining segments are read one by one, so only the segments that cannot be read fail, and the next
    batch starts a new walk. ``soundtrack``: the video's audio (media.read_soundtrack); a video without an audio track
    gives silence, and segments over audio that could not be decoded fail. ``faces``: "auto" crops faces from each
    segment's frames for a face model (None: frames); ``on_no_face`` as in describe."""

    def __init__(
        self,
        processor,
        video: str,
        spans: Sequence[tuple[float, float]],
        subtitles: Sequence[str | None],
        soundtrack: Soundtrack,
        batch_size: int = 8,
        task: str = "ov_labels",
        question: str | None = None,
        faces: str | None = None,
        on_no_face: str = "frames",
        clip_timeout: float | None = None,
    ) -> None:
        self.processor, self.video, self.spans, self.subtitles = processor, video, list(spans), list(subtitles)
        self.soundtrack = soundtrack
        self.batch_size, self.task, self.question = batch_size, task, question
        self.on_no_face, self.clip_timeout = on_no_face, clip_timeout
        mode = processor.input_mode
        self.visual = visual_token_of(mode)
        self.hears = uses_audio_of(mode)
        self.faces = faces if self.visual == FACE_TOKEN else None
        self.size = None if self.faces == "auto" else FRAME_SIZE  # crops are cut from full-size frames
        self._walk = None  # (generator, the segment indices it yields in order, how many it has yielded)

    # ------------------------------------------------------------------------------------------------ the one call
    def __call__(self, number: int, indices: list[int]) -> Prepared:
        frames, errors = self._frames(number, indices) if self.visual is not None else ({}, {})
        features, kept, facts = [], [], {}
        for index in indices:
            if index in errors:
                continue
            try:
                with deadline(self.clip_timeout, self.label(index)):
                    feature, fact = self._prepare(index, frames.get(index))
            except ValueError as error:
                errors[index] = str(error)
            else:
                features.append(feature)
                kept.append(index)
                facts[index] = fact
        inputs = _collate(features, self.processor.tokenizer.pad_token_id) if features else {}
        return Prepared(number, indices, inputs, kept, errors, facts)

    def label(self, index: int) -> str:
        start, end = self.spans[index]
        return f"{self.video} segment {index} ({start:.2f}-{end:.2f} s)"

    # ------------------------------------------------------------------------------------------------------ frames
    def _frames(self, number: int, indices: list[int]) -> tuple[dict[int, np.ndarray], dict[int, str]]:
        """The batch's frames from this process's walk; a failed walk ends, and what is left is read segment by
        segment (a segment that cannot be read gets its error)."""
        frames: dict[int, np.ndarray] = {}
        errors: dict[int, str] = {}
        if self._walk is None or self._walk[1][self._walk[2] : self._walk[2] + 1] != indices[:1]:
            self._start_walk(number)
        walk, order, _ = self._walk
        seconds = self.clip_timeout * len(indices) if self.clip_timeout else None
        try:
            with deadline(seconds, f"{self.video} segments {indices[0]}-{indices[-1]}"):
                while len(frames) < len(indices):
                    position, array = next(walk)
                    self._walk = (walk, order, position + 1)
                    frames[order[position]] = array
        except (ValueError, StopIteration) as error:
            logger.info("%s: the walk over its segments stopped (%s); reading the rest one by one", self.video, error)
            self.close()
            for index in indices:
                if index not in frames:
                    try:
                        with deadline(self.clip_timeout, self.label(index)):
                            (frames[index],) = sample_segment_frames(
                                self.video, [self.spans[index]], self.processor.num_frames, self.size
                            )
                    except ValueError as single:
                        errors[index] = str(single)
        if self._walk is not None and self._walk[2] == len(self._walk[1]):
            self.close()  # the walk's last segment: close its file now
        return frames, errors

    def _start_walk(self, number: int) -> None:
        """A new walk over the segments of batch ``number`` and of every batch after it this process prepares."""
        self.close()
        info = get_worker_info()
        stride = info.num_workers if info is not None else 1
        batches = -(-len(self.spans) // self.batch_size)
        order = [
            i
            for b in range(number, batches, stride)
            for i in range(b * self.batch_size, min(len(self.spans), (b + 1) * self.batch_size))
        ]
        spans = [self.spans[i] for i in order]
        self._walk = (iter_segment_frames(self.video, spans, self.processor.num_frames, self.size), order, 0)

    def close(self) -> None:
        """Close the walk's file (a walk left half done holds it open)."""
        if self._walk is not None:
            self._walk[0].close()
            self._walk = None

    def __getstate__(self) -> dict:  # a walk (an open file) never travels to a worker
        return {**self.__dict__, "_walk": None}

    # -------------------------------------------------------------------------------------------------- one segment
    def _prepare(self, index: int, frames: np.ndarray | None):
        """One segment's model inputs (a batch of one) and what its row records of the face source."""
        start, end = self.spans[index]
        audio = self._samples(start, end) if self.hears else None
        subtitle = self.subtitles[index] or ""
        common = {"task": self.task, "question": self.question}
        clip = Clip(str(index), video=frames, audio=audio, subtitle=subtitle, sampling_rate=SAMPLE_RATE)
        if self.faces == "auto":
            clip.faces = "auto"
            try:
                feature = prepare_clip(self.processor, clip, on_no_face="error", **common)
            except NoFaceError:
                if self.on_no_face != "frames":
                    raise
                (clip.video,) = sample_segment_frames(self.video, [(start, end)], self.processor.num_frames)
                clip.faces = None
                with warnings.catch_warnings():  # the processor warns that a face model gets frames: the row says so
                    warnings.simplefilter("ignore")
                    feature = prepare_clip(self.processor, clip, **common)
                return feature, {"face_source": "frames", "frames_without_face": self.processor.num_frames}
            return feature, _face_source(feature)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feature = prepare_clip(self.processor, clip, **common)
        return feature, _face_source(feature)

    def _samples(self, start: float, end: float) -> np.ndarray:
        """The segment's audio as the clip cut out would hold it; silence of its length where there is none."""
        for first, last in self.soundtrack.damaged:
            if first < end and last > start:
                raise ValueError(f"the audio at {first:.2f}-{last:.2f} s could not be decoded (the file is damaged)")
        if self.soundtrack.waveform is not None:
            samples = self.soundtrack.samples(start, end)
            if len(samples):
                return samples
        return np.zeros(max(round((end - start) * SAMPLE_RATE), 1), np.float32)


__all__ = ["FRAME_SIZE", "SegmentBatches"]
