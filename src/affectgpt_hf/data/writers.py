"""Clips written from arrays: h264/aac (or other codecs) videos and 16-bit wav files, for the toy data set, mini
releases, the Space's examples and the tests. (Reading media is media.py's alone; this module only writes.)"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import numpy as np

from ..media import SAMPLE_RATE

_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 8: "7.1"}


def _as_channels(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    audio = audio[None] if audio.ndim == 1 else audio
    if audio.ndim != 2 or audio.shape[0] not in _LAYOUTS:
        raise ValueError(f"audio must be (samples,) or (channels, samples) with 1-6 or 8 channels, got {audio.shape}")
    return audio


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sampling_rate: int = SAMPLE_RATE,
    codec: str = "libx264",
    gop_size: int | None = None,
    options: dict[str, str] | None = None,
    rotation: int = 0,
    audio_codec: str = "aac",
) -> None:
    """Write (T, H, W, 3) uint8 RGB frames (and optional float audio) to a video file, e.g. h264 + aac mp4.

    ``gop_size`` sets the keyframe interval (None: the encoder's default, 250 for x264); ``options`` go
    to the encoder (e.g. ``{"bframes": "0"}``); ``rotation`` stores a display matrix turning the picture
    counter-clockwise by that many degrees. Odd sizes are encoded as yuv444p (4:2:0 needs even sizes).
    ``audio_codec="pcm_s16le"`` stores the audio losslessly as 16-bit PCM (floats scaled by 32767, as write_audio;
    int16 arrays as they are; in .mkv or .mov), so that with ``options={"qp": "0"}`` what is decoded is exactly
    what was written. ``frames`` may also be an iterator of (H, W, 3) frames (a long video never held whole).
    """
    if isinstance(frames, Iterator):
        first = next(frames)
        frames, shape = itertools.chain([first], frames), (1, *np.shape(first))
    else:
        frames = np.asarray(frames)
        shape = frames.shape
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] < 1:
            raise ValueError(f"frames must be (T, H, W, 3) uint8 with T >= 1, got {frames.shape} {frames.dtype}")
    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001 * 1000))
        stream.height, stream.width = shape[1:3]
        odd = shape[1] % 2 or shape[2] % 2
        stream.pix_fmt = "yuv444p" if odd and codec in ("libx264", "h264") else "yuv420p"
        if gop_size is not None:
            stream.codec_context.gop_size = gop_size
        options = dict(options or {})
        if codec == "libx265":  # x265 prints to stderr itself, past FFmpeg's silenced log
            options.setdefault("x265-params", "log-level=none")
        if options:
            stream.options = options
        if rotation:
            stream.set_display_rotation(rotation)
        audio_stream = None
        if audio is not None:
            channels = _as_channels(audio)
            if audio_codec == "pcm_s16le":
                channels = _as_int16(channels)
            else:
                channels = channels.astype(np.float32)
            audio_stream = container.add_stream(audio_codec, rate=sampling_rate, layout=_LAYOUTS[channels.shape[0]])
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
        if audio_stream is not None and audio_codec == "pcm_s16le":
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(channels.T).reshape(1, -1), format="s16", layout=audio_stream.layout
            )
            frame.sample_rate = sampling_rate
            container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode(None))
        elif audio_stream is not None:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(channels), format="fltp", layout=audio_stream.layout
            )
            frame.sample_rate = sampling_rate
            container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode(None))


def _as_int16(audio: np.ndarray) -> np.ndarray:
    """16-bit PCM samples: int16 as they are, floats in [-1, 1] scaled by 32767 and rounded."""
    if audio.dtype == np.int16:
        return audio
    return np.round(np.clip(audio.astype(np.float64), -1, 1) * 32767).astype(np.int16)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sampling_rate: int) -> None:
    """Write (samples,) or (channels, samples) audio to a 16-bit PCM wav (floats in [-1, 1] are scaled by 32767)."""
    audio = _as_int16(_as_channels(audio))
    with av.open(os.fspath(path), mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=sampling_rate, layout=_LAYOUTS[audio.shape[0]])
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio.T).reshape(1, -1), format="s16", layout=stream.layout
        )
        frame.sample_rate = sampling_rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
