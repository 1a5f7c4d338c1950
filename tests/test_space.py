"""The Space (spaces/affectgpt/app.py) on loopback: gradio_client calls `/analyze`, errors come back as gr.Error, and
a headless Chromium screenshot shows an analysed example."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from utils import REPO, make_clip

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_app():
    spec = importlib.util.spec_from_file_location("affectgpt_space_app", REPO / "spaces" / "affectgpt" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_folder(tiny_model_dir) -> Path:
    return tiny_model_dir(seed=0)


@pytest.fixture(scope="module")
def space(tiny_folder, tiny_whisper_dir, monkeypatch_module):
    monkeypatch_module.setenv("AFFECTGPT_MODEL", str(tiny_folder))
    monkeypatch_module.setenv("AFFECTGPT_ASR", str(tiny_whisper_dir))  # empty subtitles filled by the tiny Whisper
    demo = _load_app().build()
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.timeout(300)
def test_space_answers_through_gradio_client(space, tiny_folder, tmp_path):
    """The Space's answer and labels are `describe`'s on the same clip, subtitle, audio and task or question (the
    Space's 256 new tokens, the offline label extractor); the two requests get different answers, so each input
    reaches the model. Errors come back as gr.Error naming the input."""
    from gradio_client import Client, handle_file

    from affectgpt_hf.data.toy import synth_voice
    from affectgpt_hf.data.writers import write_audio
    from affectgpt_hf.inference.arguments import InferenceArguments
    from affectgpt_hf.inference.batch import Clip, describe, load_model
    from affectgpt_hf.unibench import get_extractor

    clip = make_clip(tmp_path / "clip.mp4", seconds=2.0, seed=1)
    wav = tmp_path / "voice.wav"
    write_audio(wav, synth_voice("happy", seconds=2.0), 16000)
    client = Client(space, verbose=False)
    answer, labels, chart, subtitle, source = client.predict(
        handle_file(str(clip)), None, "I told you already.", "ov_labels", api_name="/analyze"
    )
    assert chart is not None and Path(chart).is_file()  # the wheel chart, an image file
    assert (subtitle, source) == ("I told you already.", "given")
    question = "Why is the person upset?"
    asked, asked_labels, _, heard, heard_source = client.predict(
        handle_file(str(clip)), handle_file(str(wav)), "", question, api_name="/analyze"
    )
    assert heard == "" and heard_source.endswith("(no speech detected)")  # a synthetic voice, no speech: ASR not run

    model, processor = load_model(tiny_folder)
    extract = get_extractor(None).extract_labels
    common = {"runtime": InferenceArguments(batch_size=1, max_new_tokens=256), "label_extractor": extract}
    (expected,) = describe(model, processor, [Clip("c", video=str(clip), subtitle="I told you already.")], **common)
    (expected_asked,) = describe(
        model, processor, [Clip("c", video=str(clip), audio=str(wav))], task="description", question=question, **common
    )
    assert expected.text != expected_asked.text  # the two requests differ in what the model sees
    assert (answer, labels) == (expected.text, ", ".join(expected.labels))
    assert (asked, asked_labels) == (expected_asked.text, ", ".join(expected_asked.labels))

    with pytest.raises(Exception, match="no video"):
        client.predict(None, None, "hello", "ov_labels", api_name="/analyze")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(Exception, match="broken.mp4"):
        client.predict(handle_file(str(broken)), None, "", "ov_labels", api_name="/analyze")


@pytest.mark.timeout(300)
def test_space_fills_an_empty_subtitle_from_speech(space, tiny_folder, tiny_whisper_dir, spoken, caplog, capfd):
    """An empty subtitle box gets transformers' ASR pipeline's text for the clip's 16 kHz track (shown, editable, and
    what the model read); the Transcribe button gives the same; the API describes its inputs as they are taken; a
    refused request is one log line, without a traceback."""
    import logging

    from gradio_client import Client, handle_file
    from transformers import pipeline

    from affectgpt_hf.inference.arguments import InferenceArguments
    from affectgpt_hf.inference.batch import Clip, describe, load_model
    from affectgpt_hf.media import load_audio
    from affectgpt_hf.unibench import get_extractor

    clip = str(spoken["zh"])
    reference = pipeline("automatic-speech-recognition", model=str(tiny_whisper_dir))
    heard = reference({"raw": load_audio(clip), "sampling_rate": 16000}, return_timestamps=True,
                      generate_kwargs={"task": "transcribe"})["text"].strip()  # fmt: skip
    client = Client(space, verbose=False)
    answer, labels, _, subtitle, source = client.predict(handle_file(clip), None, "", "ov_labels", api_name="/analyze")
    assert heard and (subtitle, source) == (heard, f"asr:{tiny_whisper_dir}")
    assert client.predict(handle_file(clip), api_name="/transcribe") == (heard, f"asr:{tiny_whisper_dir}")
    model, processor = load_model(tiny_folder)
    (expected,) = describe(
        model,
        processor,
        [Clip("c", video=clip, subtitle=heard)],
        InferenceArguments(batch_size=1, max_new_tokens=256),
        label_extractor=get_extractor(None).extract_labels,
        progress=False,
    )
    assert (answer, labels) == (expected.text, ", ".join(expected.labels))

    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/analyze"]["parameters"]
    optional = {p["parameter_name"]: p["parameter_has_default"] for p in parameters}
    assert optional == {"video": False, "audio": True, "subtitle": True, "task": True}
    task = next(p for p in parameters if p["parameter_name"] == "task")["type"]
    assert "enum" not in task and "free question" in task["description"]

    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="affectgpt_hf.apps.demo"), pytest.raises(Exception, match="no video"):
        client.predict(None, None, "hello", "ov_labels", api_name="/analyze")
    assert "request refused: no video" in caplog.text and "Traceback" not in capfd.readouterr().err


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: NUL-separated JSON on
    fds 3/4), so a test can wait in real time for an analysis to finish before taking the screenshot."""

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1600",
        "--remote-debugging-pipe",
    )

    def __init__(self, profile: Path):
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()

        def wire():  # the child's fds 3 (commands in) and 4 (replies out)
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.session = None

    def call(self, method: str, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed the DevTools pipe during {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=1600, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)
        os.close(self._write)
        os.close(self._read)


# True once the example's subtitle and the analysis (answer, and the wheel chart as an <img>) are on the page.
ANALYSIS_SHOWN = """(() => {
  const text = document.body ? document.body.innerText : "";
  const values = [...document.querySelectorAll("textarea")].map(t => t.value);
  const chart = [...document.querySelectorAll("img")].some(img => img.naturalWidth > 600);
  return !text.includes("processing") && values.filter(v => v.length > 0).length >= 2 && chart;
})()"""


@pytest.mark.timeout(180)
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_space_screenshot_after_analysis(space, tmp_path):
    png = tmp_path / "space.png"
    browser = Chromium(tmp_path / "profile")
    try:
        browser.open(space + "?example=0")  # the page analyses its first example on load
        deadline = time.monotonic() + 120
        while not browser.evaluate(ANALYSIS_SHOWN):
            assert time.monotonic() < deadline, "the analysis did not show within 120 s"
            time.sleep(0.5)
        time.sleep(1.0)  # let the image paint
        values = browser.evaluate("[...document.querySelectorAll('textarea')].map(t => t.value)")
        browser.screenshot(png)
    finally:
        browser.close()
    assert "This is wonderful, I am so glad!" in values  # example 0's subtitle, filled in with its analysis
    from PIL import Image

    image = Image.open(png).convert("RGB")
    assert image.size == (1280, 1600)
    colours = len(set(image.resize((320, 400)).getdata()))
    assert colours > 50  # the wheel chart's coloured sectors, not a blank page
    print(f"screenshot: {png}")


@pytest.mark.timeout(300)
def test_affectgpt_demo_command_serves_the_space(tiny_folder, tmp_path):
    """`affectgpt demo --model M --port P` (a real subprocess on loopback) answers /analyze as `describe` does."""
    import signal

    from gradio_client import Client, handle_file

    from affectgpt_hf.inference.arguments import InferenceArguments
    from affectgpt_hf.inference.batch import Clip, describe, load_model
    from affectgpt_hf.unibench import get_extractor

    port = _free_port()
    command = [sys.executable, "-m", "affectgpt_hf.cli", "demo", "--model", str(tiny_folder), "--port", str(port)]
    log = tmp_path / "demo.log"
    with open(log, "w") as sink:
        env = {k: v for k, v in os.environ.items() if k != "AFFECTGPT_MODEL"}  # the model comes from --model alone
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 200
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "affectgpt demo did not listen within 200 s"
            time.sleep(1.0)
        clip = make_clip(tmp_path / "clip.mp4", seconds=2.0, seed=2)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        answer, labels, *_ = client.predict(
            handle_file(str(clip)), None, "Leave me alone.", "ov_labels", api_name="/analyze"
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    model, processor = load_model(tiny_folder)
    (expected,) = describe(
        model,
        processor,
        [Clip("c", video=str(clip), subtitle="Leave me alone.")],
        InferenceArguments(batch_size=1, max_new_tokens=256),
        label_extractor=get_extractor(None).extract_labels,
        progress=False,
    )
    assert (answer, labels) == (expected.text, ", ".join(expected.labels))
