"""Media files that point at other files: HLS playlists (absolute and relative entries, under .m3u8 and .mp4 names),
an ffconcat list, an SDP file aimed at the loopback, a playlist inside a data: URI, and a real mp4 renamed .m3u8.
Each crafted file is refused with a ValueError naming it (and the format FFmpeg detects), through the processor
(paths, bytes, file objects, video and audio), `describe`, and the Space's endpoint; the file it points at is never
read (its access time stays put, checked against a read that does move it), and no packet reaches the loopback.
Every allowed container still decodes (one clip of each)."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from utils import make_clip, playlist, remux, write_container

from affectgpt_hf import media

TARGET_SECONDS = 3.0


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    """The file a playlist points at: a clip whose decode any attack would need (MPEG-TS, as HLS segments are)."""
    folder = tmp_path_factory.mktemp("secret")
    source = make_clip(folder / "secret.mp4", seconds=TARGET_SECONDS, size=(32, 32), fps=8, seed=7)
    return remux(source, folder / "secret.ts", "mpegts")


@pytest.fixture(scope="module")
def crafted(target, tmp_path_factory) -> dict[str, Path]:
    """The crafted files, each pointing at ``target``; the SDP file at a loopback UDP port (``crafted['port']``)."""
    folder = tmp_path_factory.mktemp("crafted")
    relative = os.path.relpath(target, folder)
    segment = "data:video/mp2t;base64," + base64.b64encode(target.read_bytes()).decode()
    files = {
        "absolute.m3u8": playlist(str(target)),
        "relative.m3u8": playlist(relative),
        "absolute_named.mp4": playlist(str(target)),
        "relative_named.mp4": playlist(relative),
        "live.m3u8": playlist(str(target)).replace("#EXT-X-ENDLIST\n", ""),  # a live list: FFmpeg would wait
        "data_segment.m3u8": playlist(segment),
        "list.ffconcat": f"ffconcat version 1.0\nfile {target}\n",
        "aimed.sdp": "",
    }
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    files["aimed.sdp"] = (
        f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=clip\nc=IN IP4 127.0.0.1\nt=0 0\nm=video {port} RTP/AVP 96\n"
        "a=rtpmap:96 H264/90000\n"
    )
    paths = {}
    for name, text in files.items():
        paths[name] = folder / name
        paths[name].write_text(text)
    paths["port"] = port
    return paths


CRAFTED = [
    "absolute.m3u8",
    "relative.m3u8",
    "absolute_named.mp4",
    "relative_named.mp4",
    "live.m3u8",
    "data_segment.m3u8",
    "list.ffconcat",
    "aimed.sdp",
]
DETECTED = {"absolute.m3u8": "hls", "relative.m3u8": "hls", "live.m3u8": "hls", "data_segment.m3u8": "hls"}
DETECTED |= {"list.ffconcat": "concat", "aimed.sdp": "sdp"}


class Untouched:
    """Whether ``path`` is read between ``__enter__`` and ``__exit__``, by its access time (set to the epoch, below
    its modification time, so any read moves it under relatime). ``check()`` first proves that a read does move it
    on this file system, else skips."""

    def __init__(self, path: Path):
        self.path = path

    def reset(self) -> None:
        os.utime(self.path, (0, time.time()))

    def read(self) -> bool:
        return os.stat(self.path).st_atime != 0

    def check(self) -> None:
        self.reset()
        with open(self.path, "rb") as file:
            file.read(16)
        if not self.read():
            pytest.skip("this file system does not record access times (noatime): the target check cannot run")
        self.reset()

    def __enter__(self) -> Untouched:
        self.check()
        return self

    def __exit__(self, *exc) -> None:
        assert not self.read(), f"{self.path} was read"


def assert_refused(message: str, name: str) -> None:
    assert name in message, message
    detected = DETECTED.get(name)
    if detected:
        assert f"FFmpeg detects it as {detected!r}" in message, message
    else:  # an .mp4 name over playlist bytes: the mp4 demuxer finds nothing readable in them
        assert "is not a readable media file" in message, message


@pytest.mark.parametrize("name", CRAFTED)
def test_media_functions_refuse_and_never_read_the_target(crafted, target, name):
    path = crafted[name]
    with Untouched(target):
        for call in (media.sample_video_frames, media.load_audio, media.measure):
            with pytest.raises(ValueError) as error:
                call(str(path))
            assert_refused(str(error.value), name)
        for source in (path.read_bytes(), io.BytesIO(path.read_bytes())):
            with pytest.raises(ValueError, match=r"^<in-memory media> is (refused|not a readable media file)"):
                media.sample_video_frames(source)


def test_no_packet_reaches_the_loopback(crafted):
    """The SDP file names a loopback UDP port: FFmpeg's RTP reader would send there (NAT punching, RTCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", crafted["port"]))
        with pytest.raises(ValueError, match="FFmpeg detects it as 'sdp'"):
            media.sample_video_frames(str(crafted["aimed.sdp"]))
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.recvfrom(2048)


def test_data_uri_and_protocol_names_are_not_paths(target, tmp_path, monkeypatch):
    """A data: URI given as the path, and a local file whose name reads as a protocol, open as files or not at all."""
    uri = "data:application/vnd.apple.mpegurl;base64," + base64.b64encode(playlist(str(target)).encode()).decode()
    with Untouched(target), pytest.raises(ValueError, match="does not exist"):
        media.sample_video_frames(uri)
    monkeypatch.chdir(tmp_path)
    odd = Path("concat:a.mp4|b.mp4")
    odd.write_bytes(make_clip(tmp_path / "plain.mp4", seconds=1.0, size=(32, 32)).read_bytes())
    assert media.sample_video_frames(str(odd)).shape == (8, 224, 224, 3)


def test_a_real_clip_under_a_playlist_name_works(target, tmp_path):
    """The allow-list goes by the detected format, not by the file name."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=2.0, size=(32, 32), seed=2)
    renamed = tmp_path / "clip.m3u8"
    renamed.write_bytes(clip.read_bytes())
    assert np.array_equal(media.sample_video_frames(str(renamed)), media.sample_video_frames(str(clip)))
    assert np.array_equal(media.load_audio(str(renamed)), media.load_audio(str(clip)))
    assert media.detect_format(str(renamed)) == "mov,mp4,m4a,3gp,3g2,mj2"


def test_processor_refuses_through_every_input_kind(crafted, target, tiny_processor):
    path = crafted["absolute.m3u8"]
    clip = make_clip(path.parent / "ok.mp4", seconds=2.0, size=(32, 32))
    with Untouched(target):
        for videos, audio in (([str(path)], [None]), ([str(clip)], [str(path)])):
            with pytest.raises(ValueError) as error:
                tiny_processor(videos=videos, audio=audio, subtitles=[""], task="ov_labels")
            assert_refused(str(error.value), path.name)


def test_describe_reports_and_skips_the_playlist(crafted, target, tiny_model_dir, tmp_path, capsys):
    from affectgpt_hf.cli import main

    good = make_clip(tmp_path / "good.mp4", seconds=2.0, size=(32, 32))
    out = tmp_path / "answers.jsonl"
    argv = ["describe", str(crafted["absolute.m3u8"]), str(crafted["relative_named.mp4"]), str(good)]
    with Untouched(target):
        assert main([*argv, "--model", str(tiny_model_dir(seed=0)), "--max-new-tokens", "2", "--output", str(out)]) == 0
    rows = {row["name"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert "error" not in rows["good"] and rows["good"]["text"]
    assert_refused(rows["absolute"]["error"], "absolute.m3u8")
    assert_refused(rows["relative_named"]["error"], "relative_named.mp4")
    assert "could not be read: absolute, relative_named" in capsys.readouterr().err


def test_space_refuses_uploaded_playlists(crafted, target, tiny_model_dir, tmp_path, monkeypatch):
    """Uploaded through gradio_client as a visitor would, as the video and as the audio: refused with the file's name,
    the target never read, and Gradio ran no FFmpeg of its own on the upload."""
    gr = pytest.importorskip("gradio")
    client_module = pytest.importorskip("gradio_client")
    from gradio._vendor import ffmpy

    from affectgpt_hf.apps.demo import Analyzer, build_demo

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    ran, run = [], ffmpy.FFmpeg.run

    def recorded(self, *args, **kwargs):  # with FFmpeg installed Gradio probes the Space's own example clips: let it
        ran.append(self.cmd)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(ffmpy.FFmpeg, "run", recorded)
    demo = build_demo(analyzer=Analyzer(tiny_model_dir(seed=0), device="cpu", max_new_tokens=4))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = client_module.Client(f"http://127.0.0.1:{port}/", verbose=False)
        good = client_module.handle_file(str(make_clip(tmp_path / "good.mp4", seconds=2.0, size=(32, 32))))
        with Untouched(target):
            for name in ("absolute.m3u8", "relative.m3u8", "absolute_named.mp4", "live.m3u8", "list.ffconcat"):
                evil = client_module.handle_file(str(crafted[name]))
                for video, audio in ((evil, None), (good, evil)):
                    with pytest.raises(client_module.exceptions.AppError) as error:
                        client.predict(video, audio, "", "ov_labels", api_name="/analyze")
                    assert_refused(str(error.value), name)
                    assert str(tmp_path) not in str(error.value)
        answer, labels, _chart, subtitle, _source = client.predict(
            good, None, "hello", "ov_labels", api_name="/analyze"
        )
        assert isinstance(answer, str)
    finally:
        demo.close()
    uploaded = [name for name in crafted if "." in name] + ["good.mp4"]  # ("port" is not a file)
    assert not [command for command in ran if any(name in command for name in uploaded)], ran
    assert gr is not None


# ------------------------------------------------------------------------------------ every allowed container decodes

# One clip per allowed demuxer: (file name, PyAV container, video codec or None, audio codec or None).
ZOO = [
    ("clip.mp4", "mp4", "libx264", "aac"),
    ("clip.mkv", "matroska", "libx264", "aac"),
    ("clip.webm", "webm", "libvpx-vp9", "libopus"),
    ("clip.avi", "avi", "mpeg4", "pcm_s16le"),  # PyAV muxing mp3 or aac into avi states one frame too many
    ("clip.mpg", "vob", "mpeg2video", "mp2"),
    ("clip.ts", "mpegts", "libx264", "aac"),
    ("clip.flv", "flv", "libx264", "aac"),
    ("clip.ogg", "ogg", None, "libopus"),
    ("clip.wav", "wav", None, "pcm_s16le"),
    ("clip.mp3", "mp3", None, "mp3"),
    ("clip.flac", "flac", None, "flac"),
    ("clip.aac", "adts", None, "aac"),
]


@pytest.mark.parametrize(("file_name", "container", "video_codec", "audio_codec"), ZOO, ids=[z[0] for z in ZOO])
def test_every_allowed_container_decodes(tmp_path, file_name, container, video_codec, audio_codec):
    path = write_container(tmp_path / file_name, container, video_codec, audio_codec)
    detected = media.detect_format(str(path))
    assert detected is not None and media._allowed(detected), detected
    if video_codec:
        frames = media.sample_video_frames(str(path))
        assert frames.shape == (8, 224, 224, 3) and frames.std() > 10
    wave = media.load_audio(str(path))
    assert abs(len(wave) / media.SAMPLE_RATE - 2.0) < 0.2 and np.abs(wave).max() > 0.1
    extent = media.measure(str(path))
    assert abs(extent.seconds - 2.0) < 0.2 and extent.frames == (16 if video_codec else 0)


def test_the_zoo_covers_the_allow_list(tmp_path):
    """Each demuxer of ALLOWED_FORMATS is read by one zoo clip: widening the list needs a clip here too."""
    read_by = set()
    for file_name, container, video_codec, audio_codec in ZOO:
        path = write_container(tmp_path / file_name, container, video_codec, audio_codec)
        with media.open_media(str(path), "a clip") as opened:
            read_by.update(opened.format.name.split(","))
    assert set(media.ALLOWED_FORMATS) <= read_by, set(media.ALLOWED_FORMATS) - read_by
