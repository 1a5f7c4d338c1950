"""The Space against untrusted uploads: size and duration caps checked before decoding, a per-request time limit,
only Gradio's own upload files read, errors naming uploads by file name; and a bounded load test on loopback."""

from __future__ import annotations

import gc
import os
import re
import shutil
import socket
import threading
from pathlib import Path

import pytest
from utils import make_clip

gr = pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from affectgpt_hf.apps.arguments import ENV_LIMITS, Limits  # noqa: E402
from affectgpt_hf.apps.demo import API_NAME, Analyzer, build_demo, check_upload, upload_folder  # noqa: E402

# Small caps, so that the oversized and over-long inputs are small files.
SMALL = Limits(max_upload_mb=0.1, max_seconds=3.0, request_timeout_s=60.0)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    """An isolated Gradio upload folder ($GRADIO_TEMP_DIR) for this module's apps."""
    folder = tmp_path_factory.mktemp("gradio_uploads")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(folder))
        yield Path(os.path.realpath(folder))


@pytest.fixture(scope="module")
def analyzer(tiny_model_dir):
    folder = tiny_model_dir(seed=0)
    return Analyzer(folder, device="cpu", max_new_tokens=4)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Client-side files: a valid 2 s clip, an over-long 5 s clip, a corrupt 'mp4', an oversized file."""
    folder = tmp_path_factory.mktemp("client_files")
    files = {
        "valid": make_clip(folder / "valid.mp4", seconds=2.0, size=(32, 32), fps=8, seed=1),
        "long": make_clip(folder / "long.mp4", seconds=5.0, size=(32, 32), fps=8, seed=2),
        "corrupt": folder / "corrupt.mp4",
        "oversized": folder / "oversized.mp4",
    }
    files["corrupt"].write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00garbage" * 50)
    files["oversized"].write_bytes(os.urandom(150_000))
    assert files["valid"].stat().st_size < SMALL.max_upload_bytes and files["long"].stat().st_size < 100_000
    return files


def _uploaded(uploads: Path, source: Path, name: str | None = None) -> str:
    """Place a file where Gradio puts an upload (<upload folder>/<hash>/<original name>)."""
    target = uploads / f"h{abs(hash((source, name))):x}" / (name or source.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return str(target)


def test_limits_from_flags_and_environment(monkeypatch):
    from affectgpt_hf.apps import demo
    from affectgpt_hf.cli import main

    assert Limits() == Limits(100.0, 120.0, 300.0)  # defaults far above any test clip
    monkeypatch.setenv(ENV_LIMITS["max_upload_mb"], "7.5")
    monkeypatch.setenv(ENV_LIMITS["request_timeout_s"], "30")
    assert Limits.from_env() == Limits(7.5, 120.0, 30.0)
    launched = []
    monkeypatch.setattr(demo, "launch", launched.append)  # `affectgpt demo` up to the launch of the app
    assert main(["demo", "--max-seconds", "12", "--max-upload-mb", "2", "--max-text-chars", "50"]) == 0
    assert launched[0].limits() == Limits(2.0, 12.0, 30.0, 50.0)  # flags over environment over defaults
    monkeypatch.setenv(ENV_LIMITS["max_seconds"], "lots")
    with pytest.raises(ValueError, match=r"\$AFFECTGPT_MAX_SECONDS = 'lots'; expected a number"):
        Limits.from_env()
    with pytest.raises(ValueError, match="max_upload_mb = 0; expected a positive number"):
        Limits(max_upload_mb=0)


def _refusal(call, *args) -> str:
    """The message of the gr.Error that ``call(*args)`` raises (what the client is shown)."""
    with pytest.raises(gr.Error) as error:
        call(*args)
    return error.value.message


def test_check_upload_refusals_name_the_file_and_the_limit(uploads, inputs, tmp_path, monkeypatch):
    import av

    assert upload_folder() == uploads
    opened, real_open = [], av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(k.get("options")) or real_open(*a, **k))
    assert check_upload(_uploaded(uploads, inputs["valid"]), SMALL) == "valid.mp4"
    assert opened == [{"skip_frame": "all"}]  # the length is counted without the probe decoding video frames
    message = _refusal(check_upload, _uploaded(uploads, inputs["oversized"]), SMALL)
    assert message == "oversized.mp4 is 0.15 MB; the limit is 0.1 MB per upload"
    message = _refusal(check_upload, _uploaded(uploads, inputs["long"]), SMALL)
    assert re.fullmatch(r"long\.mp4 lasts at least 3\.\d s; the limit is 3 s per clip", message), message
    message = _refusal(check_upload, _uploaded(uploads, inputs["corrupt"]), SMALL)
    assert message.startswith("corrupt.mp4 is not a readable media file") and str(uploads) not in message
    # paths a client names: outside the upload folder, a link from inside it to outside, a path climbing out
    assert _refusal(check_upload, str(inputs["valid"]), SMALL).startswith("valid.mp4 was not uploaded to this app")
    link = uploads / "link" / "innocent.mp4"
    link.parent.mkdir()
    link.symlink_to(inputs["valid"])
    assert _refusal(check_upload, str(link), SMALL).startswith("innocent.mp4 was not uploaded")
    climbing = uploads / ".." / inputs["valid"].parent.name / "valid.mp4"
    assert _refusal(check_upload, str(climbing), SMALL).startswith("valid.mp4 was not uploaded")


def _endpoint(demo):
    """The function behind /analyze (called directly, as Gradio's worker calls it)."""
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == API_NAME)


@pytest.mark.timeout(120)
def test_request_time_limit_and_temporary_paths(uploads, analyzer, inputs, tmp_path):
    valid = _uploaded(uploads, inputs["valid"], "my clip.mp4")
    slow = _endpoint(build_demo(analyzer=analyzer, limits=Limits(request_timeout_s=0.01)))
    message = _refusal(slow, valid, None, "hello", "ov_labels")
    assert message.startswith("the analysis took longer than the 0.01 s limit per request")

    analyze = _endpoint(build_demo(analyzer=analyzer, limits=SMALL))
    answer, labels, _chart, subtitle, source = analyze(valid, None, "hello", "ov_labels")
    assert (subtitle, source) == ("hello", "given")
    assert isinstance(answer, str) and isinstance(labels, str)
    wordy = _endpoint(build_demo(analyzer=analyzer, limits=Limits(max_text_chars=10)))
    message = _refusal(wordy, valid, None, "hello there you", "ov_labels")
    assert message == "the subtitle has 15 characters; the limit is 10"
    assert _refusal(wordy, valid, None, "", "how do they feel?") == "the question has 17 characters; the limit is 10"
    assert isinstance(wordy(valid, None, "hello", "description")[0], str)  # a task's own question is not counted
    silent = _uploaded(uploads, make_clip(tmp_path / "silent.mp4", seconds=2.0, size=(32, 32), audio=False))
    message = _refusal(analyze, silent, None, "", "ov_labels")  # the processor's error names the server's path
    assert message.startswith("silent.mp4 has no audio stream") and str(uploads) not in message


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.timeout(120)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS read from /proc")
def test_load_on_loopback(uploads, analyzer, inputs):
    """20 concurrent gradio_client clients (valid, oversized, corrupt, over-long mixed): each answered or refused
    with its message; the server answers afterwards and its memory is back near where it started."""
    import httpx
    from gradio_client import Client, handle_file

    demo = build_demo(analyzer=analyzer, limits=SMALL)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        max_file_size=SMALL.max_upload_bytes,
    )
    url = f"http://127.0.0.1:{port}/"
    expected = {
        "valid": None,
        "oversized": r"exceeds the maximum file size of 100000 bytes",
        "corrupt": r"^corrupt\.mp4 is not a readable media file",
        "long": r"^long\.mp4 lasts at least 3\.\d s; the limit is 3 s per clip$",
    }
    try:
        Client(url, verbose=False).predict(
            handle_file(str(inputs["valid"])), None, "", "ov_labels", api_name="/analyze"
        )
        gc.collect()
        start = _rss_mb()
        kinds = [kind for _ in range(5) for kind in expected]
        outcomes: list[tuple[str, object]] = [("", None)] * len(kinds)
        barrier = threading.Barrier(len(kinds))

        def client(index: int, kind: str) -> None:
            try:
                caller = Client(url, verbose=False)
                barrier.wait(timeout=60)
                result = caller.predict(
                    handle_file(str(inputs[kind])), None, "I told you.", "ov_labels", api_name="/analyze"
                )
                outcomes[index] = (kind, result)
            except Exception as error:  # noqa: BLE001 - each outcome is checked below
                outcomes[index] = (kind, error)

        threads = [threading.Thread(target=client, args=(i, kind)) for i, kind in enumerate(kinds)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        assert not any(thread.is_alive() for thread in threads)
        for kind, outcome in outcomes:
            if expected[kind] is None:
                assert isinstance(outcome, tuple) and isinstance(outcome[0], str), (kind, outcome)
            else:
                assert isinstance(outcome, Exception) and re.search(expected[kind], str(outcome)), (kind, outcome)
                assert str(uploads) not in str(outcome)
        # the server itself refuses an oversized upload that skips the client's check, while it streams in
        response = httpx.post(
            f"{url}gradio_api/upload", files={"files": ("big.mp4", inputs["oversized"].read_bytes())}, timeout=30
        )
        assert response.status_code == 413 and "maximum allowed size of 100000 bytes" in response.text
        # a path the client names (raw API call, no upload) is not read: the call ends in an error event
        data = [{"path": str(inputs["valid"]), "meta": {"_type": "gradio.FileData"}}, None, "", "ov_labels"]
        event = httpx.post(f"{url}gradio_api/call/{API_NAME}", json={"data": data}, timeout=30).json()["event_id"]
        stream = httpx.get(f"{url}gradio_api/call/{API_NAME}/{event}", timeout=60).text
        assert "event: error" in stream and "event: complete" not in stream, stream
        assert "the request names a file that was not uploaded to this app" in stream  # was {"error": null}
        answer, *_ = Client(url, verbose=False).predict(
            handle_file(str(inputs["valid"])), None, "", "ov_labels", api_name="/analyze"
        )
        assert isinstance(answer, str)  # alive
        gc.collect()
        grown = _rss_mb() - start
        print(f"RSS {start:.0f} MB -> +{grown:.0f} MB after 20 concurrent clients")
        assert grown < 300, f"server memory grew by {grown:.0f} MB"  # up to 8 clips described at once
    finally:
        demo.close()


@pytest.mark.timeout(180)
def test_requests_arriving_together_are_described_in_one_batch(uploads, tiny_model_dir, inputs, tmp_path):
    """Concurrent visitors: their clips meet in one batch (the batcher's sizes), each answer equals the clip's own
    answer alone, and a clip among them that fails inside the batch (no audio track) is refused on its own while the
    others are answered."""
    from gradio_client import Client, handle_file

    from affectgpt_hf.apps.batcher import Batcher

    analyzer = Analyzer(tiny_model_dir(seed=0, sensitive=True), device="cpu", max_new_tokens=6)
    clips = [make_clip(tmp_path / f"c{i}.mp4", seconds=2.0, size=(32, 32), fps=8, seed=10 + i) for i in range(3)]
    alone = [analyzer.analyze(str(clip), None, "I told you.", "ov_labels")["text"] for clip in clips]
    assert len(set(alone)) == 3  # the model answers each clip its own way
    demo = build_demo(analyzer=analyzer, limits=SMALL, max_batch_size=4)
    demo.batcher.wait_s = 1.0  # generous: the four requests must meet even on a loaded machine
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        silent = make_clip(tmp_path / "silent.mp4", seconds=2.0, size=(32, 32), fps=8, audio=False)
        files = [*clips, silent]
        callers = [Client(url, verbose=False) for _ in files]
        outcomes: list[object] = [None] * len(files)
        barrier = threading.Barrier(len(files))

        def call(index: int) -> None:
            barrier.wait(timeout=60)
            try:
                outcomes[index] = callers[index].predict(
                    handle_file(str(files[index])), None, "I told you.", "ov_labels", api_name="/analyze"
                )
            except Exception as error:  # noqa: BLE001 - checked below
                outcomes[index] = error

        threads = [threading.Thread(target=call, args=(i,)) for i in range(len(files))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert [outcome[0] for outcome in outcomes[:3]] == alone, outcomes
        assert isinstance(outcomes[3], Exception) and "silent.mp4 has no audio stream" in str(outcomes[3])
        assert demo.batcher.sizes == [4], demo.batcher.sizes  # the four met in one batch
    finally:
        demo.close()
    with pytest.raises(ValueError, match="max_size=0"):
        Batcher(lambda items: items, max_size=0)
