"""Decoding and sampling of video frames, face crops and audio clips, the way upstream AffectGPT does it.

This is the only module of the package that decodes media; it uses PyAV (FFmpeg) and nothing else
(no decord, torchaudio, torchvision or opencv is required). Upstream (fffca79) reads frames with decord,
face crops with numpy + cv2, audio with torchaudio + pytorchvideo; each function below says how it matches.

Bad input (missing, empty, truncated or non-media files, a missing stream, NaN audio, a malformed face
array) raises ``ValueError`` naming the input and what was expected, never a raw FFmpeg error.
FFmpeg's own log is silenced at import; set ``AFFECTGPT_FFMPEG_LOGLEVEL=VERBOSE`` (any ``av.logging``
level name) to see it while debugging.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import functools
import glob
import io
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
import torch

SAMPLE_RATE = 16000

MediaSource = str | os.PathLike | bytes | io.IOBase

_level = os.environ.get("AFFECTGPT_FFMPEG_LOGLEVEL")
av.logging.set_level(getattr(av.logging, _level.upper()) if _level else None)


# --------------------------------------------------------------------------------------------- sampling rule


def frame_indices(total_frames: int, num_frames: int = 8) -> list[int]:
    """Upstream's uniform rule: ``floor(arange(0, T, T / min(n, T)))``, the last index repeated up to ``n``.

    T=13 -> [0, 1, 3, 4, 6, 8, 9, 11]; T=3 -> [0, 1, 2, 2, 2, 2, 2, 2]. numpy's float ``arange`` is kept
    on purpose (bit-for-bit upstream); should its rounding yield more than ``num_frames`` indices (possible
    for counts other than 8, never for 8) the list is cut to ``num_frames``.
    """
    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    step = total_frames / min(num_frames, total_frames)
    indices = np.arange(0, total_frames, step).astype(int).tolist()[:num_frames]
    indices += indices[-1:] * (num_frames - len(indices))
    return indices


# --------------------------------------------------------------------------------------------- opening files


class _SeekMismatch(Exception):
    """Seeking did not land where the packet index said; the caller falls back to sequential decoding."""


def _name(source: MediaSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or "<in-memory media>"


def _check_file(source: MediaSource, expected: str) -> None:
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise ValueError(f"{path} does not exist; expected {expected}")
        if os.path.isdir(path):
            raise ValueError(f"{path} is a directory; expected {expected}")
        if not os.path.isfile(path):  # a FIFO, a socket or a device: nothing a clip is stored in
            raise ValueError(f"{path} is not a regular file; expected {expected}")
        if os.path.getsize(path) == 0:
            raise ValueError(f"{path} is empty (0 bytes); expected {expected}")
    elif isinstance(source, (bytes, bytearray)) and len(source) == 0:
        raise ValueError(f"the media bytes are empty; expected {expected}")


ALLOWED_FORMATS = (
    "mov",  # FFmpeg's "mov,mp4,m4a,3gp,3g2,mj2" demuxer: one name of a demuxer's list admits it
    "matroska",  # "matroska,webm"
    "avi",
    "mpeg",  # MPEG program streams (.mpg, .vob)
    "mpegts",
    "flv",
    "ogg",
    "wav",
    "mp3",
    "flac",
    "aac",
)
"""The demuxers (``container.format.name``) media are read with: containers that hold their media in themselves.
Every other demuxer is refused before it reads a packet, above all those that open files or network streams named
inside the file (``hls``, ``concat``, ``sdp``, ``image2``, ``tty``, ``ffmetadata``, ``data``, ``subfile``): an
uploaded playlist must never make the server decode another file it can read."""

PROBE_WITHOUT_DECODING = {"skip_frame": "all"}
"""``av.open(options=...)`` for a stream probe (``avformat_find_stream_info``) that decodes no frame: the option goes
to the decoders the probe opens, never to those PyAV opens for decoding afterwards."""

_NO_PROTOCOL = "none"
"""``protocol_whitelist`` for bytes and file objects: PyAV reads them itself, so FFmpeg may open nothing at all."""


def open_media(source: MediaSource, expected: str, probe_decodes: bool = True) -> av.container.InputContainer:
    """Open ``source`` for reading: the one place that opens media (bytes and file objects are read from memory,
    opened afresh each call).

    Only the demuxers of :data:`ALLOWED_FORMATS` are used (FFmpeg's ``format_whitelist``), and a path is read through
    FFmpeg's file protocol alone (``protocol_whitelist``; bytes and file objects through none), so no file can make
    FFmpeg open another file or a network stream. A refused file raises ``ValueError`` naming it and the format FFmpeg
    detected; so does a missing, empty or unreadable one.

    ``probe_decodes=False``: FFmpeg's stream probe (``avformat_find_stream_info``) decodes nothing; it otherwise decodes
    the first frames of each stream, for H.264 up to 7 to guess the reordering delay. The
    codec parameters then come from the container alone: the pixel format is unset until a frame decodes, and the
    reordering delay is the container's (MP4 derives it from its composition offsets)."""
    name = _name(source)
    _check_file(source, expected)
    if isinstance(source, (bytes, bytearray)):
        url, protocols = io.BytesIO(source), _NO_PROTOCOL
    elif isinstance(source, io.IOBase):
        source.seek(0)
        url, protocols = source, _NO_PROTOCOL
    else:  # "file:": a local name such as "concat:a|b" or "data:..." is never read as a protocol
        url, protocols = "file:" + os.path.abspath(os.fspath(source)), "file"
    try:
        return av.open(
            url,
            mode="r",
            metadata_errors="ignore",  # bad tag bytes must not fail
            options={} if probe_decodes else dict(PROBE_WITHOUT_DECODING),
            container_options={"format_whitelist": ",".join(ALLOWED_FORMATS), "protocol_whitelist": protocols},
        )
    except av.error.FFmpegError as error:
        detected = detect_format(source)
        if detected is not None and not _allowed(detected):
            raise ValueError(
                f"{name} is refused: FFmpeg detects it as {detected!r}, and media are read only from the containers "
                f"{', '.join(ALLOWED_FORMATS)}; expected {expected}"
            ) from None
        raise ValueError(f"{name} is not a readable media file ({_reason(error)}); expected {expected}") from None


def _allowed(format_name: str) -> bool:
    return any(part in ALLOWED_FORMATS for part in format_name.split(","))


def detect_format(source: MediaSource) -> str | None:
    """The demuxer FFmpeg's probe picks for ``source`` from its leading bytes, without opening it: FFmpeg's
    ``av_probe_input_format3`` over 2 KiB, then twice as much up to 1 MiB until it is sure, as ``avformat_open_input``
    probes. None when nothing matches or PyAV's libavformat cannot be found."""
    probe = _format_prober()
    if probe is None:
        return None
    head = _head(source, _PROBE_MAX)
    filename = os.fsencode(_name(source)) if isinstance(source, (str, os.PathLike)) else b""
    size = _PROBE_MIN
    while True:
        found, score = probe(head[:size], filename)
        if score > _PROBE_SCORE_RETRY or size >= len(head):
            return found
        size *= 2


_PROBE_MIN, _PROBE_MAX, _PROBE_SCORE_RETRY, _PROBE_PADDING = 2048, 1 << 20, 25, 64  # libavformat's constants


class _ProbeData(ctypes.Structure):  # libavformat's AVProbeData
    _fields_ = [
        ("filename", ctypes.c_char_p),
        ("buf", ctypes.c_char_p),
        ("buf_size", ctypes.c_int),
        ("mime_type", ctypes.c_char_p),
    ]


@functools.cache
def _format_prober():
    """``(head, filename) -> (format name or None, score)`` through the libavformat PyAV loaded, or None."""
    bundled = os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs")  # PyAV's wheels bundle FFmpeg
    candidates = sorted(glob.glob(os.path.join(bundled, "libavformat*"))) or [ctypes.util.find_library("avformat")]
    for candidate in filter(None, candidates):
        try:
            function = ctypes.CDLL(candidate).av_probe_input_format3
        except (OSError, AttributeError):
            continue
        function.restype = ctypes.c_void_p
        function.argtypes = [ctypes.POINTER(_ProbeData), ctypes.c_int, ctypes.POINTER(ctypes.c_int)]

        def probe(head: bytes, filename: bytes, function=function) -> tuple[str | None, int]:
            data = _ProbeData(filename, head + bytes(_PROBE_PADDING), len(head), None)
            score = ctypes.c_int(0)
            found = function(ctypes.byref(data), 1, ctypes.byref(score))
            if not found:
                return None, score.value
            return ctypes.cast(found, ctypes.POINTER(ctypes.c_char_p))[0].decode(), score.value  # AVInputFormat.name

        return probe
    return None


_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
"""Box types an MP4 or QuickTime file may start with (bytes 4-8)."""

_STORED_TIMESTAMPS = ("mov,mp4,m4a,3gp,3g2,mj2",)
"""Demuxers (``container.format.name``) that read every packet's timestamps from the file, and for H.264 the
reordering delay too (from the composition offsets): FFmpeg guesses nothing from a probe's decoding there."""


def _open_unprobed(source: MediaSource, expected: str) -> tuple[av.container.InputContainer, bool]:
    """Open ``source`` for reading all its frames; also return whether the stream probe decoded.

    MP4 and QuickTime files open without the probe's decoding (``open_media(probe_decodes=False)``): their timestamps
    and parameters are read from the file, and decoding is the same after either open. Other files open as usual (a
    file that starts like an MP4 but is read by another demuxer is opened again)."""
    _check_file(source, expected)  # before _head reads: a FIFO would block
    if _head(source)[4:8] in _MP4_BOXES:
        container = open_media(source, expected, probe_decodes=False)
        if container.format.name in _STORED_TIMESTAMPS:
            return container, False
        container.close()
    return open_media(source, expected), True


def _head(source: MediaSource, size: int = 12) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:size])
    if isinstance(source, io.IOBase):
        source.seek(0)
        return source.read(size)
    try:
        with open(source, "rb") as file:
            return file.read(size)
    except OSError:  # unreadable: open_media names the file and the reason
        return b""


def _decodable(stream, name: str):
    """``stream`` once FFmpeg has a decoder for it (a damaged header can leave its codec unknown)."""
    if stream.codec_context is None:
        raise ValueError(f"{name}: its {stream.type} stream has no codec FFmpeg can decode; the file is damaged")
    return stream


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or type(error).__name__


def _decode(packet: av.packet.Packet, name: str) -> list:
    try:
        return packet.decode()
    except av.error.FFmpegError as error:
        raise ValueError(f"{name} could not be decoded ({_reason(error)}); the file is truncated or corrupt") from None


def _demux(container: av.container.InputContainer, stream, name: str):
    try:
        yield from container.demux(stream)
    except av.error.FFmpegError as error:
        raise ValueError(f"{name} could not be read ({_reason(error)}); the file is truncated or corrupt") from None


# --------------------------------------------------------------------------------------------- how much a file holds


@dataclass(frozen=True)
class Extent:
    """How much media decoding a file yields: seconds (the longer of its video and audio) and video frames."""

    seconds: float
    frames: int


def measure(source: MediaSource, expected: str = "a video or audio file", stop_after: float | None = None) -> Extent:
    """What media.py would decode from ``source``, counted from the file's packets rather than from what its header
    states: the first video stream's frames (its packets) and the span of their timestamps, and the first audio
    stream's seconds (its samples, decoded and counted). ``stop_after``: stop once that many seconds are counted (the
    result is then at least that). ``ValueError`` for a file media.py cannot read, or one without video and audio."""
    name = _name(source)
    container, _ = _open_unprobed(source, expected)
    with container:
        video = container.streams.video[0] if container.streams.video else None
        audio = _decodable(container.streams.audio[0], name) if container.streams.audio else None
        if video is None and audio is None:
            raise ValueError(f"{name} has neither a video nor an audio stream; expected {expected}")
        frames, samples, rate, video_seconds = 0, 0, 1, 0.0
        first = last = None  # the video packets' earliest timestamp and latest end
        for packet in _demux(container, [s for s in (video, audio) if s is not None], name):
            if packet.stream is audio:
                for frame in _decode(packet, name):
                    samples, rate = samples + frame.samples, frame.sample_rate or rate
            elif packet.size:
                frames += 1
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is not None:
                    first = stamp if first is None else min(first, stamp)
                    last = max(last or stamp, stamp + (packet.duration or 0))
                    video_seconds = float((last - first) * packet.time_base)
            if stop_after is not None and max(video_seconds, samples / rate) > stop_after:
                break
    return Extent(seconds=max(video_seconds, samples / rate), frames=frames)


# --------------------------------------------------------------------------------------------- video frames

SCALERS = ("decord", "reformat")
"""``sample_video_frames(scaler=...)``: "decord" (default) scales as upstream's decord 0.6 does, in an FFmpeg
filter graph ``[transpose,]scale=W:H`` into RGB24; "reformat" is this package's earlier single
``VideoFrame.reformat`` call (swscale bilinear, then the turn), kept to reproduce earlier outputs."""


def sample_video_frames(
    video: MediaSource | np.ndarray,
    num_frames: int = 8,
    size: tuple[int, int] | None = (224, 224),
    scaler: str = "decord",
) -> np.ndarray:
    """``num_frames`` frames picked by :func:`frame_indices`, as (n, H, W, 3) uint8 RGB: equal to a full decode indexed
    at those frames.

    ``video`` is a path (or bytes / a binary file object) of a container :func:`open_media` admits, or a (T, H, W, 3)
    uint8 RGB array. ``size`` is (height, width); ``None`` keeps the decoded size. T counts the first video stream's
    packets (what decord's ``len(vr)`` counts; packets marked as discarded are not), or the frames that decode when
    fewer do. Decoding stops after the last chosen frame, skips frames nothing refers to unless chosen, and seeks to
    the clean keyframe before each chosen frame; each shortcut is checked against the packet index and the frames'
    timestamps, else the plain sequential decode is used.

    ``scaler="decord"`` converts as decord 0.6's ``VideoReader(width=224, height=224)``: an FFmpeg filter graph
    ``[transpose,]scale=W:H`` (bilinear, aspect not kept) into RGB24; ``"reformat"`` is this package's earlier single
    ``VideoFrame.reformat`` call. Arrays are scaled with swscale bilinear. What matches decord and where it differs:
    docs/fidelity.md, "Video frames".
    Upstream: my_affectgpt/processors/video_processor.py:load_video
    """
    if scaler not in SCALERS:
        raise ValueError(f"scaler must be one of {SCALERS}, got {scaler!r}")
    if size is not None:
        size = (int(size[0]), int(size[1]))
        if size[0] < 1 or size[1] < 1:
            raise ValueError(f"size must be positive (height, width), got {size}")
    if isinstance(video, np.ndarray):
        return _sample_array(video, num_frames, size)
    (frames,) = _sample(
        video,
        size,
        scaler,
        choose=lambda packets, stream: [frame_indices(len(packets), num_frames)],
        reindex=lambda decoded: [frame_indices(decoded, num_frames)],
    )
    return frames


def sample_segment_frames(
    video: MediaSource,
    segments: list[tuple[float, float]],
    num_frames: int = 8,
    size: tuple[int, int] | None = (224, 224),
    scaler: str = "decord",
) -> list[np.ndarray]:
    """For each ``(start, end)`` (seconds from the first frame), ``num_frames`` frames of those shown in
    ``[start, end)``, picked by :func:`frame_indices` over them: what :func:`sample_video_frames` picks from that
    stretch cut out as a clip. The video is read once, forward: frames are decoded where a segment needs them, and
    decoding seeks only across stretches that no segment needs. ``ValueError`` names a segment that holds no frame.
    A frame shown within a microsecond of a boundary counts as shown on it (subtitle times are milliseconds, frame
    times fractions of a second)."""
    return [frames for _, frames in iter_segment_frames(video, segments, num_frames, size, scaler)]


def iter_segment_frames(
    video: MediaSource,
    segments: Sequence[tuple[float, float]],
    num_frames: int = 8,
    size: tuple[int, int] | None = (224, 224),
    scaler: str = "decord",
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`sample_segment_frames`' frames one segment at a time: ``(index, frames)`` in the order of ``segments``,
    each as soon as its last frame is decoded. A long video is read in one forward walk (seeking only across
    stretches no segment needs), and only the frames of segments not yet handed out are held in memory.

    Decoding takes the same paths as :func:`sample_video_frames` (seeks to clean keyframes, frames told apart by their
    timestamps, checked); when a shortcut fails its checks, the segments not yet handed out are decoded again from the
    very start. A ``ValueError`` (a damaged stretch, a segment without frames) ends the walk; the segments handed out
    before it stand, and a caller may start a new walk over the segments after the failing one."""
    _check_segments(segments, scaler)
    name = _name(video)
    if size is not None:
        size = (int(size[0]), int(size[1]))
    convert = _RGBConverter(size, scaler)
    container, probed = _open_unprobed(video, "a video file")
    with container:
        packets, stream = _index_video(container, name)
        index = stream.index
        pending = _PendingSegments(_segment_choice(segments, num_frames, name)(packets, stream))
        walk = None
        if _can_seek(packets, stream.codec_context.name):
            keyframes = [i for i, p in enumerate(packets) if p[2]]
            walk = _iter_decode_from(container, stream, name, packets, pending.wanted(), convert, keyframes)
        elif _unique_pts(packets):
            walk = _iter_decode_from(container, stream, name, packets, pending.wanted(), convert, [0])
        elif probed:
            walk = _iter_decode_in_order(container, stream, name, set(pending.wanted()), convert, packets[0])
        try:
            for position, frame in walk or ():
                yield from pending.add(position, frame)
        except _SeekMismatch:
            pass
    if pending.done:
        return
    pending.forget()  # the frames of segments not yet handed out are decoded again, by their order alone
    with open_media(video, "a video file") as container:
        stream = container.streams[index]
        stream.thread_type = _thread_type(stream.codec_context.name, b"", b"")
        for position, frame in _iter_decode_in_order(container, stream, name, set(pending.wanted()), convert):
            yield from pending.add(position, frame)
    if not pending.done:
        raise ValueError(f"{name}: fewer frames decode than its {len(packets)} packets list; the file is damaged")


_BOUNDARY = 1e-6
"""Seconds: a frame shown this close to a segment's boundary counts as shown on it."""


def _check_segments(segments, scaler: str) -> None:
    if scaler not in SCALERS:
        raise ValueError(f"scaler must be one of {SCALERS}, got {scaler!r}")
    for start, end in segments:
        if not 0 <= start < end:
            raise ValueError(f"segment ({start}, {end}): expected 0 <= start < end, in seconds")


def _segment_choice(segments, num_frames: int, name: str):
    """``choose(packets, stream)`` for segments: per segment, the presentation indices :func:`frame_indices` picks
    among the frames shown in ``[start, end)`` seconds from the first frame."""

    def choose(packets, stream) -> list[list[int]]:
        shown = sorted(p[0] for p in packets)  # presentation timestamps, in display order
        seconds = [float((pts - shown[0]) * stream.time_base) for pts in shown]
        chosen = []
        for start, end in segments:
            first = bisect.bisect_left(seconds, start - _BOUNDARY)
            stop = bisect.bisect_left(seconds, end - _BOUNDARY)
            if stop <= first:
                raise ValueError(f"{name}: no frame is shown in the segment {start:.3f}-{end:.3f} s")
            chosen.append([first + i for i in frame_indices(stop - first, num_frames)])
        return chosen

    return choose


class _PendingSegments:
    """Segments' frame selections, each handed out (stacked) once all its frames are in, in order; a frame is held
    only while a segment not yet handed out needs it."""

    def __init__(self, selections: list[list[int]]) -> None:
        self.selections, self.next = selections, 0
        self.last_user = {i: s for s, selection in enumerate(selections) for i in selection}
        self.held: dict[int, np.ndarray] = {}

    @property
    def done(self) -> bool:
        return self.next == len(self.selections)

    def wanted(self) -> list[int]:
        return sorted(set().union(*self.selections[self.next :]))

    def forget(self) -> None:
        self.held.clear()

    def add(self, index: int, frame: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        if self.last_user.get(index, -1) >= self.next:
            self.held[index] = frame
        while not self.done and all(i in self.held for i in self.selections[self.next]):
            yield self.next, np.stack([self.held[i] for i in self.selections[self.next]])
            self.held = {i: f for i, f in self.held.items() if self.last_user[i] > self.next}
            self.next += 1


def _sample(video: MediaSource, size, scaler: str, choose, reindex) -> list[np.ndarray]:
    """Decode the frames ``choose(packets, stream)`` names (lists of presentation indices) and return each list's
    frames stacked. The shortcuts of :func:`sample_video_frames` first, else a plain decode from the start; when fewer
    frames decode than packets exist, ``reindex(decoded)`` chooses again over the frames that did."""
    name = _name(video)
    convert = _RGBConverter(size, scaler)
    container, probed = _open_unprobed(video, "a video file")
    with container:
        packets, stream = _index_video(container, name)
        index = stream.index
        selections = choose(packets, stream)
        wanted = sorted(set().union(*selections))
        frames: dict[int, np.ndarray] = {}
        try:
            if _can_seek(packets, stream.codec_context.name):
                frames = _decode_with_seeks(container, stream, name, packets, wanted, convert)
            elif _unique_pts(packets):
                frames = _decode_from(container, stream, name, packets, wanted, convert, [0])
            elif probed:  # frames told apart by their order alone: the decoder needs the probe's reordering delay
                frames, _ = _decode_in_order(container, stream, name, set(wanted), convert, rewind_to=packets[0])
        except _SeekMismatch:
            frames = {}
    for _ in range(2):  # fallback: a fresh decode from the very start, then (if frames were missing) once more
        if len(frames) == len(wanted):
            break
        with open_media(video, "a video file") as container:
            stream = container.streams[index]
            stream.thread_type = _thread_type(stream.codec_context.name, b"", b"")
            frames, decoded = _decode_in_order(container, stream, name, set(wanted), convert)
        if len(frames) < len(wanted):  # fewer frames decoded than packets: index the frames that did
            if decoded == 0:
                raise ValueError(f"{name} has a video stream but no decodable frames")
            selections = reindex(decoded)
            wanted = sorted(set().union(*selections))
            frames = {}
    return [np.stack([frames[i] for i in selection]) for selection in selections]


def _sample_array(video: np.ndarray, num_frames: int, size: tuple[int, int] | None) -> np.ndarray:
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8 or video.shape[0] < 1:
        raise ValueError(
            f"video array must be (T, H, W, 3) uint8 RGB with T >= 1, got shape {video.shape} dtype {video.dtype}"
        )
    indices = frame_indices(video.shape[0], num_frames)
    picked = {i: _resize_rgb(video[i], size) for i in sorted(set(indices))}
    return np.stack([picked[i] for i in indices])


def _resize_rgb(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or image.shape[:2] == size:
        return np.ascontiguousarray(image)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    return frame.to_ndarray(width=size[1], height=size[0], format="rgb24", interpolation="BILINEAR")


class _RGBConverter:
    """Decoded frame -> upright (H, W, 3) uint8 RGB at ``size`` by ``scaler``; one filter graph per input shape."""

    def __init__(self, size: tuple[int, int] | None, scaler: str) -> None:
        self.size, self.scaler = size, scaler
        self._graph, self._key = None, None

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if self.scaler == "reformat":
            return _to_rgb(frame, self.size)
        # decord: clockwise degrees from the "rotate" tag (FFmpeg 4 wrote it as an integer) or display matrix
        theta = round(-(frame.rotation or 0)) % 360
        key = (frame.width, frame.height, frame.format.name, theta)
        if key != self._key:
            self._graph, self._key = _decord_graph(frame, theta, self.size), key
        self._graph.vpush(frame)
        return self._graph.vpull().to_ndarray()


def _decord_graph(frame: av.VideoFrame, theta: int, size: tuple[int, int] | None) -> av.filter.Graph:
    """decord 0.6's filter graph: buffer -> [transpose...] -> scale=W:H -> sink accepting only RGB24."""
    turns = {90: ["1"], 180: ["1", "1"], 270: ["2"]}.get(theta, [])
    height, width = size if size is not None else (frame.height, frame.width)
    if size is None and theta in (90, 270):
        height, width = width, height
    graph = av.filter.Graph()
    graph.threads = 1  # as decord sets it
    time_base = frame.time_base or Fraction(1, 1000)
    chain = [graph.add_buffer(width=frame.width, height=frame.height, format=frame.format, time_base=time_base)]
    chain += [graph.add("transpose", turn) for turn in turns]
    chain += [graph.add("scale", f"{width}:{height}:flags=bilinear"), graph.add("format", "rgb24")]
    chain.append(graph.add("buffersink"))
    for a, b in zip(chain, chain[1:], strict=False):
        a.link_to(b)
    graph.configure()
    return graph


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None) -> np.ndarray:
    """Convert one decoded frame to upright RGB24 at ``size`` (one swscale call, then a lossless turn)."""
    quarters = round((frame.rotation or 0) / 90) % 4  # counter-clockwise quarter turns for display
    height, width = size if size is not None else (None, None)
    if quarters % 2:
        height, width = width, height
    image = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="BILINEAR")
    return np.ascontiguousarray(np.rot90(image, quarters)) if quarters else image


def _index_video(container: av.container.InputContainer, name: str):
    """Demux (no decoding) the first video stream: packets as (pts, dts, keyframe, clean start, disposable) in decode
    order; the stream's decoder threading is set from its first packet."""
    if not container.streams.video:
        raise ValueError(f"{name} has no video stream; expected a video file")
    stream = _decodable(container.streams.video[0], name)
    codec = stream.codec_context.name
    extradata = bytes(stream.codec_context.extradata or b"")
    packets, demuxed, thread_type = [], 0, None
    for packet in _demux(container, stream, name):
        if packet.size == 0:
            continue
        demuxed += 1
        if packet.is_discard:
            continue
        data = bytes(packet)
        if thread_type is None:
            thread_type = _thread_type(codec, data, extradata)
        clean = packet.is_keyframe and _is_clean_start(codec, data, extradata)
        disposable = not packet.is_keyframe and _is_disposable(codec, data, extradata)
        packets.append((packet.pts, packet.dts, packet.is_keyframe, clean, disposable))
    if stream.frames and demuxed < stream.frames:
        raise ValueError(
            f"{name} is truncated: its header lists {stream.frames} video frames, only {demuxed} could be read"
        )
    if not packets:
        raise ValueError(f"{name} has a video stream but no decodable frames")
    stream.thread_type = thread_type
    return packets, stream


def _is_clean_start(codec: str, data: bytes, extradata: bytes) -> bool:
    """True for a keyframe no later frame of higher timestamp looks past: an H.264 IDR access unit, or one
    MPEG-4 part 2 I-VOP (P-VOPs refer to the anchor before them; B-VOPs to the two around them, so only
    B-VOPs shown before the I-VOP, which are never decoded from it, reach back)."""
    if codec == "h264":
        return _is_h264_idr(data, extradata)
    if codec == "mpeg4":
        vops = data.count(b"\x00\x00\x01\xb6")
        pos = data.find(b"\x00\x00\x01\xb6")
        return vops == 1 and pos + 4 < len(data) and data[pos + 4] >> 6 == 0  # vop_coding_type 0: I
    return False


def _is_h264_idr(data: bytes, extradata: bytes) -> bool:
    """True if an H.264 access unit holds an IDR slice (NAL type 5)."""
    return any(header & 0x1F == 5 for header in _h264_nal_headers(data, extradata))


def _h264_slices(data: bytes, extradata: bytes) -> int:
    """How many coded slices (NAL types 1 and 5) an H.264 access unit holds."""
    return sum(header & 0x1F in (1, 5) for header in _h264_nal_headers(data, extradata))


def _h264_nal_headers(data: bytes, extradata: bytes) -> list[int]:
    """The first byte of each NAL unit of an H.264 access unit (nal_ref_idc << 5 | type); avcC length prefixes or
    Annex B start codes."""
    headers = []
    if extradata[:1] == b"\x01" and len(extradata) > 4:  # avcC: length-prefixed NAL units
        size = (extradata[4] & 3) + 1
        pos = 0
        while pos + size < len(data):
            length = int.from_bytes(data[pos : pos + size], "big")
            headers.append(data[pos + size])
            pos += size + length
    else:  # Annex B start codes
        pos = data.find(b"\x00\x00\x01")
        while pos >= 0 and pos + 3 < len(data):
            headers.append(data[pos + 3])
            pos = data.find(b"\x00\x00\x01", pos + 3)
    return headers


def _is_disposable(codec: str, data: bytes, extradata: bytes) -> bool:
    """True for a packet the decoder may never see without changing any other frame: an H.264 access unit of
    non-reference slices (nal_ref_idc 0) with nothing else but access unit delimiters and filler (no parameter
    sets, no SEI, which may persist), or a packet of nothing but one MPEG-4 part 2 B-VOP (FFmpeg's decoder keeps
    no state from B-VOPs; user data, which it reads for encoder workarounds, is kept)."""
    if codec == "h264":
        headers = _h264_nal_headers(data, extradata)
        return any(h & 0x1F == 1 for h in headers) and all(h in (1, 9, 12) for h in headers)  # ref_idc 0 throughout
    if codec == "mpeg4":
        pos = data.find(b"\x00\x00\x01\xb6")
        return data.count(b"\x00\x00\x01") == 1 and pos >= 0 and pos + 4 < len(data) and data[pos + 4] >> 6 == 2
    return False


def _thread_type(codec: str, first_packet: bytes, extradata: bytes) -> str:
    """FFmpeg's decoder threading for a stream (the decoded pixels are the same under any; only the speed differs).

    None where torch may use one thread only (``torch.set_num_threads(1)``, as in every DataLoader worker: there the
    workers are the parallelism, and one decoding thread each keeps them off each other's cores). H.264 coded in
    several slices a picture decodes fastest with slice threads (both cores on each reference frame; frame threads
    idle while non-reference frames are skipped); MPEG-4 part 2 pictures decode so fast that frame threads cost more
    than they bring (perf/README.md, "Preprocessing against upstream's loaders").
    """
    if torch.get_num_threads() == 1:
        return "NONE"
    if codec == "h264" and _h264_slices(first_packet, extradata) > 1:
        return "SLICE"
    if codec == "mpeg4":
        return "NONE"
    return "AUTO"


def _unique_pts(packets: list) -> bool:
    pts = [p[0] for p in packets]
    return None not in pts and len(set(pts)) == len(pts)


def _can_seek(packets: list, codec: str) -> bool:
    keyframes = [p for p in packets if p[2]]
    if codec not in ("h264", "mpeg4") or len(keyframes) < 2 or not all(p[3] for p in keyframes):
        return False
    return _unique_pts(packets)


def _rewind(container, stream, landing) -> None:
    """Seek (backward) to the packet ``landing`` (pts, dts, ...); callers check the next packet is that one."""
    try:
        container.seek(landing[0], stream=stream, backward=True)
    except av.error.FFmpegError:  # a corrupt index: decode from the start instead
        raise _SeekMismatch from None


def _decode_in_order(container, stream, name, wanted: set[int], convert, rewind_to=None):
    """Decode every frame from the start; convert those whose output position is in ``wanted``; stop after the last.

    The fallback for streams whose timestamps cannot identify frames. ``rewind_to``: the first packet, for
    a container already demuxed once (the landing is checked). Returns the frames and how many frames decoded.
    """
    return _collect(_iter_decode_in_order(container, stream, name, wanted, convert, rewind_to))


def _iter_decode_in_order(container, stream, name, wanted: set[int], convert, rewind_to=None):
    """:func:`_decode_in_order` frame by frame: yields (output position, converted frame); returns the frame count."""
    remaining, position = set(wanted), 0
    if rewind_to is not None:
        _rewind(container, stream, rewind_to)
    for packet in _demux(container, stream, name):
        if rewind_to is not None and packet.size:
            if (packet.pts, packet.dts) != rewind_to[:2]:
                raise _SeekMismatch
            rewind_to = None
        for frame in _decode(packet, name):
            if position in remaining:
                remaining.discard(position)
                yield position, convert(frame)
            position += 1
            if not remaining:
                return position
    return position


def _collect(frames) -> tuple[dict[int, np.ndarray], object]:
    """A generator of (index, frame) gathered into a dict, with the generator's return value."""
    found: dict[int, np.ndarray] = {}
    while True:
        try:
            index, frame = next(frames)
        except StopIteration as stop:
            return found, stop.value
        found[index] = frame


def _decode_with_seeks(container, stream, name, packets, wanted: list[int], convert):
    """Seek to the clean keyframe before each wanted frame (when it lies ahead) and decode from there."""
    keyframes = [i for i, p in enumerate(packets) if p[2]]
    return _decode_from(container, stream, name, packets, wanted, convert, keyframes)


def _decode_from(container, stream, name, packets, wanted: list[int], convert, starts: list[int]):
    """The frames of :func:`_iter_decode_from`, by presentation index."""
    return _collect(_iter_decode_from(container, stream, name, packets, wanted, convert, starts))[0]


def _iter_decode_from(container, stream, name, packets, wanted: list[int], convert, starts: list[int]):
    """Decode the wanted frames (presentation indices), each from the last of ``starts`` (decode positions
    where decoding may begin) at or before its packet and not later in time; frames are told apart by
    their unique timestamps; yields (presentation index, converted frame) as each is decoded.

    Packets of unwanted frames are not sent at all when they are disposable (``_is_disposable``), and otherwise
    sent with ``skip_frame=NONREF``: the decoder drops them if nothing refers to them and decodes them as usual
    otherwise.
    """
    presentation = sorted(p[0] for p in packets)
    decode_pos = {p[0]: i for i, p in enumerate(packets)}
    if starts[0] != 0:
        raise _SeekMismatch
    target = {presentation[w]: w for w in wanted}  # pts -> frame index
    disposable = {p[0] for p in packets if p[4]} - set(target)
    groups: dict[int, list[int]] = {}
    for pts in target:
        k = bisect.bisect_right(starts, decode_pos[pts]) - 1
        while k >= 0 and packets[starts[k]][0] > pts:  # shown before its keyframe: decode from the one before
            k -= 1
        if k < 0:
            raise _SeekMismatch
        groups.setdefault(starts[k], []).append(pts)
    done: set[int] = set()
    context = stream.codec_context
    packet_iter, position, skip = None, 0, None  # position: decode index of the next packet
    for start in sorted(groups):
        need = {pts for pts in groups[start] if target[pts] not in done}
        if not need:
            continue
        landing = None
        if packet_iter is None or start > position:
            _rewind(container, stream, packets[start])  # the landing is checked below
            landing = packets[start]
            packet_iter, position = _demux(container, stream, name), start
        while need:
            packet = next(packet_iter, None)
            if packet is None:
                raise _SeekMismatch
            if packet.size and landing is not None:
                if (packet.pts, packet.dts) != landing[:2] or (start and not packet.is_keyframe):
                    raise _SeekMismatch
                landing = None
            position += 1 if packet.size else 0
            if packet.size and packet.pts in disposable:
                continue
            mode = "DEFAULT" if not packet.size or packet.pts in target else "NONREF"
            if mode != skip:
                context.skip_frame = skip = mode
            for frame in _decode(packet, name):
                if frame.pts in target and target[frame.pts] not in done:
                    done.add(target[frame.pts])
                    need.discard(frame.pts)
                    yield target[frame.pts], convert(frame)
                elif frame.pts is None or (need and frame.pts > max(need)):
                    raise _SeekMismatch  # a wanted frame was skipped: do not trust this path
    if len(done) != len(wanted):
        raise _SeekMismatch


def remux_to_mp4(source: MediaSource, target: str | os.PathLike) -> None:
    """Copy ``source``'s first video stream (and its first audio stream when MP4 holds its codec) into an MP4 at
    ``target``, packets as they are (no re-encoding): a file the app wrote, for a player, from a file opened as every
    file is. ``ValueError`` when the codecs do not fit MP4."""
    name = _name(source)
    with open_media(source, "a video file") as container:
        if not container.streams.video:
            raise ValueError(f"{name} has no video stream; expected a video file")
        streams = [container.streams.video[0]]
        if container.streams.audio and container.streams.audio[0].codec_context.name in ("aac", "mp3"):
            streams.append(container.streams.audio[0])
        try:
            with av.open(os.fspath(target), mode="w", format="mp4") as output:
                copies = {stream.index: output.add_stream_from_template(stream) for stream in streams}
                for packet in container.demux(streams):
                    if packet.dts is None:
                        continue
                    packet.stream = copies[packet.stream.index]
                    output.mux(packet)
        except (av.error.FFmpegError, ValueError) as error:
            raise ValueError(f"{name} cannot be copied into an MP4 ({_reason(error)})") from None


# --------------------------------------------------------------------------------------------- face crops


def load_faces(npy_path: str | os.PathLike, num_frames: int = 8, size: int = 224) -> np.ndarray:
    """Upstream ``load_face``: OpenFace crops (T, H, W, 3) uint8 -> (num_frames, size, size, 3) uint8.

    Frames are picked by :func:`frame_indices`; each crop is resized bilinearly exactly as upstream's
    ``cv2.resize`` does (:func:`resize_bilinear_cv2`, a numpy port). Channels stay in stored order (BGR):
    upstream never swaps them, and its checkpoints were trained that way.
    """
    _check_file(npy_path, "a face .npy file of shape (T, H, W, 3) uint8")
    path = os.fspath(npy_path)
    try:
        faces = np.load(path, allow_pickle=False)
    except Exception as error:  # numpy raises ValueError / OSError / UnpicklingError for non-npy bytes
        raise ValueError(
            f"{path} is not a readable .npy file ({error}); expected (T, H, W, 3) uint8 face crops"
        ) from None
    if not isinstance(faces, np.ndarray) or faces.ndim != 4 or faces.shape[-1] != 3 or faces.dtype != np.uint8:
        shape, dtype = getattr(faces, "shape", None), getattr(faces, "dtype", None)
        raise ValueError(f"{path} holds shape {shape} dtype {dtype}; expected (T, H, W, 3) uint8 face crops")
    if faces.shape[0] < 1 or faces.shape[1] < 1 or faces.shape[2] < 1:
        raise ValueError(f"{path} holds no face crops (shape {faces.shape}); expected (T, H, W, 3) with T >= 1")
    return resize_faces(faces, num_frames, size)


def resize_faces(crops: np.ndarray, num_frames: int = 8, size: int = 224) -> np.ndarray:
    """Upstream ``load_face`` on an array: crops (T, h, w, 3) -> (num_frames, size, size, 3), the frames picked by
    :func:`frame_indices`, each resized as upstream's ``cv2.resize`` does."""
    indices = frame_indices(crops.shape[0], num_frames)
    picked = {i: resize_bilinear_cv2(crops[i], size, size) for i in sorted(set(indices))}
    return np.stack([picked[i] for i in indices])


def resize_bilinear_cv2(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``cv2.resize(image, (width, height))`` (INTER_LINEAR) for uint8 (H, W, C) images.

    A numpy port of OpenCV's fixed-point path, so opencv is not needed (tests compare it with cv2 4.12
    and 5.0 where cv2 is installed: identical bytes): source coordinate ``(d + 0.5) * scale - 0.5`` in
    float32, 11-bit weights rounded half-to-even, columns clamped at the borders, rows clamped, the
    vertical pass as its SIMD kernel computes it
    (``((h0 >> 4) * b0 >> 16) + ((h1 >> 4) * b1 >> 16) + 2 >> 2``); an exact 2x reduction takes OpenCV's
    INTER_AREA shortcut (2x2 mean, rounded), as cv2 does.
    """
    src_h, src_w = image.shape[:2]
    if (src_h, src_w) == (height, width):
        return image.copy()
    if src_w == 2 * width and src_h == 2 * height:
        blocks = image.reshape(height, 2, width, 2, -1).astype(np.int32)
        return ((blocks.sum(axis=(1, 3)) + 2) >> 2).astype(np.uint8).reshape(height, width, *image.shape[2:])
    x0, x1, ax0, ax1 = _cv2_linear_taps(src_w, width, clamp=True)
    y0, y1, by0, by1 = _cv2_linear_taps(src_h, height, clamp=False)
    img = image.astype(np.int32).reshape(src_h, src_w, -1)
    rows = np.unique(np.concatenate([y0, y1]))
    horizontal = np.zeros((src_h, width, img.shape[2]), np.int32)
    horizontal[rows] = img[rows][:, x0] * ax0[None, :, None] + img[rows][:, x1] * ax1[None, :, None]
    top = ((horizontal[y0] >> 4) * by0[:, None, None]) >> 16
    bottom = ((horizontal[y1] >> 4) * by1[:, None, None]) >> 16
    out = np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)
    return out.reshape(height, width, *image.shape[2:])


def _cv2_linear_taps(src: int, dst: int, clamp: bool):
    scale = 1.0 / (dst / src)
    f = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = (f - s.astype(np.float32)).astype(np.float32)
    if clamp:  # columns: cv2 clamps the tap and zeroes the fraction at both borders
        low, high = s < 0, s >= src - 1
        f[low | high] = 0
        s[low], s[high] = 0, src - 1
    w0 = np.rint((np.float32(1) - f) * np.float32(2048)).astype(np.int32)
    w1 = np.rint(f * np.float32(2048)).astype(np.int32)
    return np.clip(s, 0, src - 1), np.clip(s + 1, 0, src - 1), w0, w1


# --------------------------------------------------------------------------------------------- audio


class NoAudioStream(ValueError):
    """A media file without an audio stream (a silent video): speech recognition gives it an empty subtitle."""


def load_audio(source: MediaSource | np.ndarray, sampling_rate: int | None = None) -> np.ndarray:
    """Read audio as float32 mono at 16 kHz, as upstream's ``load_audio`` does before clipping.

    ``source`` is a path (or bytes / file object) of anything FFmpeg reads (its first audio stream;
    integer PCM scaled by 1/32768 etc. like torchaudio.load) or a numpy array (1-D, or 2-D as
    (channels, samples); integer arrays are scaled the same way) with ``sampling_rate`` given.
    Resampling re-implements ``torchaudio.functional.resample`` with its defaults (windowed sinc,
    Hann window, lowpass_filter_width=6, rolloff=0.99, rates reduced by their gcd, float32 kernel, same
    padding and length ``ceil(n * new / old)``), because no torchaudio wheel matches this torch.
    Channels are then averaged: upstream averages exactly 2 channels; more than 2 are averaged too
    (upstream would keep them and break), 1 is kept. NaN or infinite samples raise ``ValueError``.
    """
    if isinstance(source, np.ndarray):
        if sampling_rate is None:
            raise ValueError("load_audio got a numpy array without sampling_rate; pass sampling_rate=...")
        name = "the audio array"
        if source.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D (channels, samples), got shape {source.shape}")
        waveform = _to_float(source if source.ndim == 2 else source[None], name)
        if waveform.shape[0] > 64:
            raise ValueError(f"{name} has shape {source.shape}; expected (channels, samples), transpose it?")
        rate = int(sampling_rate)
    else:
        name = _name(source)
        waveform, rate = _decode_audio(source, name)
    if rate <= 0:
        raise ValueError(f"{name}: sampling rate must be positive, got {rate}")
    if waveform.shape[1] == 0:
        raise ValueError(f"{name} holds no audio samples")
    if not np.isfinite(waveform).all():
        raise ValueError(f"{name} contains NaN or infinite samples; expected finite audio")
    wave = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    wave = resample(wave, rate, SAMPLE_RATE)
    if wave.shape[0] > 1:
        wave = wave.mean(dim=0, keepdim=True)
    return wave[0].numpy().astype(np.float32, copy=False)


def _to_float(samples: np.ndarray, name: str) -> np.ndarray:
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768
    if samples.dtype == np.int32:
        return (samples.astype(np.float64) / 2**31).astype(np.float32)
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128) / 128
    if samples.dtype.kind == "f":
        return samples.astype(np.float32, copy=False)
    raise ValueError(f"{name} has dtype {samples.dtype}; expected float or int16/int32/uint8 PCM")


def _decode_audio(source: MediaSource, name: str) -> tuple[np.ndarray, int]:
    chunks, rate, read = [], None, 0
    container, _ = _open_unprobed(source, "an audio or video file with an audio stream")
    with container:
        if not container.streams.audio:
            raise NoAudioStream(f"{name} has no audio stream; give the audio separately (audio=: a file or an array)")
        stream = _decodable(container.streams.audio[0], name)
        declared = stream.frames  # packets; for PCM in AVI, samples (per channel)
        pcm = stream.codec_context.name.startswith("pcm_")
        for packet in _demux(container, stream, name):
            read += 1 if packet.size and not pcm else 0
            for frame in _decode(packet, name):
                read += frame.samples if pcm else 0
                data = frame.to_ndarray()
                channels = len(frame.layout.channels)
                if not frame.format.is_planar:
                    data = data.reshape(-1, channels).T
                chunks.append(_to_float(data, name))
                rate = rate or frame.sample_rate
    if declared and read < declared:
        unit = "samples" if pcm else "packets"
        raise ValueError(f"{name} is truncated: its header lists {declared} audio {unit}, only {read} could be read")
    if not chunks:
        raise ValueError(f"{name} has an audio stream but no decodable samples")
    if len({c.shape[0] for c in chunks}) > 1:
        raise ValueError(f"{name} changes its channel count mid-stream; expected a constant layout")
    return np.concatenate(chunks, axis=1), rate


@dataclass
class Soundtrack:
    """What a long video holds for a timeline, read in one pass: its length, and its first audio stream as
    :func:`load_audio` reads it (float32 mono at 16 kHz) placed on the video's time axis (seconds from its first
    frame, the axis :func:`sample_segment_frames` uses)."""

    seconds: float  # from the first frame to the end of the last one (at most max_seconds when not complete)
    waveform: np.ndarray | None  # None: the video has no audio stream
    start: float = 0.0  # where sample 0 lies on the video's axis (the audio may start before or after the frames)
    damaged: list[tuple[float, float]] = field(default_factory=list)  # audio that could not be decoded (silence)
    complete: bool = True  # False: reading stopped at max_seconds, and the video goes on

    def samples(self, start: float, end: float) -> np.ndarray:
        """The samples of ``[start, end)`` seconds: those :func:`load_audio` reads from that stretch cut out of a
        video whose audio starts with its frames (empty where the audio does not reach)."""
        if self.waveform is None:
            raise NoAudioStream("the video has no audio stream")
        first = max(round((start - self.start) * SAMPLE_RATE), 0)
        stop = max(round((end - self.start) * SAMPLE_RATE), 0)
        return self.waveform[first:stop]


def read_soundtrack(source: MediaSource, max_seconds: float | None = None) -> Soundtrack:
    """A video's length and its audio (:class:`Soundtrack`), demuxed once and decoded forward, up to ``max_seconds``
    of it when given (the rest is not read; ``complete`` says so). Memory is the 16 kHz result and one block: the
    audio is mixed to mono as it decodes and resampled in blocks (:class:`_BlockResampler`; for 16 kHz audio nothing is
    resampled and the samples equal :func:`load_audio`'s, elsewhere they agree to float rounding). An audio packet
    that cannot be decoded becomes silence of its length and is listed in ``damaged``, so one bad stretch costs only
    the segments that cover it. ``ValueError`` for a file without a video stream or one that cannot be read."""
    name = _name(source)
    container, _ = _open_unprobed(source, "a video file")
    with container:
        if not container.streams.video:
            raise ValueError(f"{name} has no video stream; expected a video file")
        video = container.streams.video[0]
        audio = _decodable(container.streams.audio[0], name) if container.streams.audio else None
        first = last = None  # the video packets' earliest timestamp and latest end
        audio_start, rate, resampler, pieces, damaged = None, None, None, [], []
        seconds = heard = 0.0
        complete = True
        for packet in _demux(container, [s for s in (video, audio) if s is not None], name):
            if packet.stream is audio:
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    if packet.pts is not None and packet.duration and audio_start is not None:
                        begin, length = float(packet.pts * packet.time_base), float(packet.duration * packet.time_base)
                        damaged.append((begin, begin + length))
                        pieces.append(resampler.push(np.zeros(round(length * rate), np.float32)))
                        heard += length
                    continue
                for frame in frames:
                    if resampler is None:
                        audio_start, rate = float(frame.time or 0.0), frame.sample_rate
                        resampler = _BlockResampler(rate, SAMPLE_RATE)
                    if frame.sample_rate != rate:
                        change = f"{rate} -> {frame.sample_rate} Hz"
                        raise ValueError(f"{name} changes its audio sampling rate ({change}); expected a constant rate")
                    pieces.append(resampler.push(_mono(frame, name)))
                    heard += frame.samples / rate
            elif packet.size and packet.pts is not None:
                first = packet.pts if first is None else min(first, packet.pts)
                last = max(last or packet.pts, packet.pts + (packet.duration or 0))
                seconds = float((last - first) * packet.time_base)
            if max_seconds is not None and seconds > max_seconds + 2 and (audio is None or heard > max_seconds + 2):
                complete = False  # past the cap in both streams (an audio stream that ends early: read to the end)
                break
        if first is None:
            raise ValueError(f"{name} has a video stream but no video packets; expected a video file")
        offset = float(first * video.time_base)
    if max_seconds is not None and seconds > max_seconds:
        seconds, complete = float(max_seconds), False
    waveform = None
    if audio is not None:
        if resampler is not None:
            pieces.append(resampler.flush())
        waveform = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        if not np.isfinite(waveform).all():
            raise ValueError(f"{name} contains NaN or infinite audio samples; expected finite audio")
    start = (audio_start if audio_start is not None else offset) - offset
    if waveform is not None and not complete:  # a packet may hold far more than the cap (PCM in one packet)
        waveform = waveform[: max(round((seconds - start) * SAMPLE_RATE), 0)]
    damaged = [(begin - offset, end - offset) for begin, end in damaged]
    return Soundtrack(seconds=seconds, waveform=waveform, start=start, damaged=damaged, complete=complete)


def _mono(frame: av.AudioFrame, name: str) -> np.ndarray:
    """One decoded audio frame as float32 mono: scaled as :func:`load_audio` scales it, channels averaged."""
    data = frame.to_ndarray()
    if not frame.format.is_planar:
        data = data.reshape(-1, len(frame.layout.channels)).T
    samples = _to_float(data, name)
    if samples.shape[0] == 1:
        return samples[0]
    return torch.from_numpy(np.ascontiguousarray(samples)).mean(dim=0).numpy()


class _BlockResampler:
    """:func:`resample` of a long mono signal fed in pieces: ``push`` returns the output samples the input so far
    settles, ``flush`` the rest, so that all of them are :func:`resample`'s output of the whole (same kernel, same
    padding and length; each output sample is the same dot product, summed by conv1d over a shorter input)."""

    def __init__(self, orig_freq: int, new_freq: int) -> None:
        gcd = math.gcd(int(orig_freq), int(new_freq))
        self.orig, self.new = int(orig_freq) // gcd, int(new_freq) // gcd
        self.identity = self.orig == self.new
        zeros, rolloff = 6, 0.99  # as resample()
        base = min(self.orig, self.new) * rolloff
        self.width = math.ceil(zeros * self.orig / base)
        idx = torch.arange(-self.width, self.width + self.orig, dtype=torch.float32)[None, None] / self.orig
        t = torch.arange(0, -self.new, -1, dtype=torch.float32)[:, None, None] / self.new + idx
        t = (t * base).clamp(-zeros, zeros)
        window = torch.cos(t * math.pi / zeros / 2) ** 2
        t = t * math.pi
        self.kernel = torch.where(t == 0, torch.tensor(1.0), t.sin() / t) * (window * (base / self.orig))
        self.buffer = np.zeros(self.width, np.float32)  # the left padding, then input not yet fully used
        self.waiting: list[np.ndarray] = []  # pieces pushed since the last block
        self.count = self.emitted = self.pending = 0

    BLOCK = 1 << 17
    """Input samples gathered before a conv1d runs (one call per audio frame would cost more than the work)."""

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, np.float32)
        self.count += len(samples)
        if self.identity:
            return samples
        self.waiting.append(samples)
        self.pending += len(samples)
        if self.pending < self.BLOCK:
            return np.zeros(0, np.float32)
        return self._steps()

    def flush(self) -> np.ndarray:
        if self.identity:
            return np.zeros(0, np.float32)
        self.waiting.append(np.zeros(self.width + self.orig, np.float32))
        out = self._steps()
        length = math.ceil(self.new * self.count / self.orig)  # resample()'s output length
        return out[: max(length - self.emitted + len(out), 0)]

    def _steps(self) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, *self.waiting])
        self.waiting, self.pending = [], 0
        span = self.kernel.shape[-1]  # 2 * width + orig input samples per output step
        steps = (len(self.buffer) - span) // self.orig + 1 if len(self.buffer) >= span else 0
        if steps <= 0:
            return np.zeros(0, np.float32)
        block = torch.from_numpy(self.buffer[: (steps - 1) * self.orig + span])
        out = torch.nn.functional.conv1d(block[None, None], self.kernel, stride=self.orig)
        self.buffer = self.buffer[steps * self.orig :]
        out = out[0].transpose(0, 1).reshape(-1).numpy()
        self.emitted += len(out)
        return out


def resample(waveform: torch.Tensor, orig_freq: int, new_freq: int) -> torch.Tensor:
    """``torchaudio.functional.resample(waveform, orig_freq, new_freq)`` with default arguments, in torch.

    Band-limited sinc interpolation with a Hann window (lowpass_filter_width 6, rolloff 0.99); the kernel
    is built in the waveform's dtype and applied as a strided conv1d over the (..., time) tensor.
    """
    if orig_freq <= 0 or new_freq <= 0:
        raise ValueError(f"sampling rates must be positive, got {orig_freq} -> {new_freq}")
    if orig_freq == new_freq:
        return waveform
    gcd = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // gcd, int(new_freq) // gcd
    zeros, rolloff = 6, 0.99
    base = min(orig, new) * rolloff
    width = math.ceil(zeros * orig / base)
    dtype = waveform.dtype
    idx = torch.arange(-width, width + orig, dtype=dtype)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=dtype)[:, None, None] / new + idx
    t = (t * base).clamp(-zeros, zeros)
    window = torch.cos(t * math.pi / zeros / 2) ** 2
    t = t * math.pi
    kernel = torch.where(t == 0, torch.tensor(1.0, dtype=dtype), t.sin() / t) * (window * (base / orig))
    shape = waveform.shape
    flat = waveform.reshape(-1, shape[-1])
    padded = flat.new_zeros(flat.shape[0], flat.shape[1] + 2 * width + orig)  # = F.pad(flat, (w, w + orig))
    padded[:, width : width + flat.shape[1]] = flat
    out = torch.nn.functional.conv1d(padded[:, None], kernel, stride=orig)
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    length = math.ceil(new * shape[-1] / orig)
    return out[..., :length].reshape(*shape[:-1], -1)


def audio_clips(
    waveform: np.ndarray, num_clips: int = 8, clip_seconds: float = 2.0, sampling_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Cut upstream's 8 clips of 2 s: (num_clips, clip_seconds * sr) float32, each clip mean-removed.

    As upstream: audio shorter than one clip is zero-padded to one clip; clip k starts at
    ``k * (D - 2) / 8`` seconds, computed as pytorchvideo's ConstantClipsPerVideoSampler does (exact
    Fractions of the float ``D - 2``) and turned into samples with ``int(t * sr)`` as ImageBind's slicing
    does (D = 3.5 s -> samples 0, 3000, ..., 21000; clips overlap when D < 18 s). Each clip then loses its
    own mean: upstream's mel branch (``waveform -= waveform.mean()``) does it in place on the tensor HuBERT
    later reads. The joint normalisation of the clips (Wav2Vec2FeatureExtractor over all clips of a
    sample) is not done here; the processor does it.
    """
    wave = np.asarray(waveform, dtype=np.float32)
    if wave.ndim == 2 and wave.shape[0] == 1:
        wave = wave[0]
    if wave.ndim != 1:
        raise ValueError(f"waveform must be 1-D mono, got shape {np.shape(waveform)}; call load_audio first")
    if not np.isfinite(wave).all():
        raise ValueError("waveform contains NaN or infinite samples; expected finite audio")
    clip_len = round(clip_seconds * sampling_rate)
    if wave.shape[0] < clip_len:
        wave = np.concatenate([wave, np.zeros(clip_len - wave.shape[0], np.float32)])
    duration = wave.shape[0] / sampling_rate
    clip = Fraction(clip_seconds)
    uniform = Fraction(Fraction(max(duration - clip_seconds, 0)), num_clips)
    clips = torch.zeros(num_clips, 1, clip_len)
    tensor = torch.from_numpy(wave)
    for k in range(num_clips):
        start = int(uniform * k * sampling_rate)
        end = int((uniform * k + clip) * sampling_rate)
        piece = tensor[start:end][:clip_len]
        clips[k, 0, : piece.shape[0]] = piece
    for one in clips:  # per clip, like upstream's in-place `waveform -= waveform.mean()` on (1, n)
        one -= one.mean()
    return clips[:, 0].numpy()
