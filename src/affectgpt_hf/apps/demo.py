"""The Gradio demo behind `affectgpt demo` and the Space (spaces/affectgpt/app.py): upload a clip (video, optional
separate audio), a subtitle and a task or a free question; get the answer, its emotion labels and a chart of the
emotion-wheel sectors those labels fall in (MER-UniBench's five wheels, level 1).

The model is loaded once (a folder or Hub id). ZeroGPU's ``@spaces.GPU`` wraps the analysis when the ``spaces``
package is installed (on a Space); elsewhere the model runs on CUDA when there is one, else on the CPU.

A public Space reads untrusted uploads: each request reads only files in Gradio's upload folder, opens them as media.py
opens every file (real containers only, so a playlist cannot point the server at another file), refuses uploads over
a size cap (MB) and clips over a duration cap (seconds, counted from the file's packets) or their frame count, and
gives up after a per-request time limit; errors name an upload by its file name, never by the server's temporary
path. Gradio's components are set so that Gradio itself never runs FFmpeg on an upload.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .arguments import DEFAULT_MODEL, ENV_MODEL, DemoArguments, Limits
from .batcher import Batcher
from .timeline_tab import add_timeline_tab

logger = logging.getLogger(__name__)

TASKS = {"ov_labels": "Emotion labels (open vocabulary)", "description": "Description with reasoning"}
API_NAME = "analyze"


def upload_folder() -> Path:
    """Where Gradio keeps uploaded files (gradio.utils.get_upload_folder: $GRADIO_TEMP_DIR or <tmp>/gradio)."""
    from gradio.utils import get_upload_folder

    return Path(os.path.realpath(get_upload_folder()))


MAX_FRAMES_PER_SECOND = 60
"""An upload may hold at most this many video frames per second of the duration cap (7,200 at 120 s): frames are what
decoding costs, and a file can pack many into little time."""


def refused(message: str):
    """A ``gr.Error`` for a request the app refuses: its message goes to the user, and one line (no traceback) to the
    server's log."""
    import gradio as gr

    logger.info("request refused: %s", message)
    return gr.Error(message, print_exception=False)


def check_upload(path: str, limits: Limits) -> str:
    """The upload's display name (its original file name) once it passes the limits; gr.Error says which it broke.

    Only files inside Gradio's upload folder are read: a path a client names is refused. The file is opened as
    media.py opens every file (real containers only: a playlist is refused before it opens anything), and its length
    is counted from its packets (``media.measure``), not taken from its header."""
    from ..media import measure

    name = Path(path).name
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(upload_folder()) or not real.is_file():
        raise refused(f"{name} was not uploaded to this app; only uploaded files are read")
    size = real.stat().st_size
    if size > limits.max_upload_bytes:
        raise refused(f"{name} is {size / 1e6:.3g} MB; the limit is {limits.max_upload_mb:g} MB per upload")
    try:
        extent = measure(str(real), stop_after=limits.max_seconds)
    except ValueError as error:
        raise refused(public_message(str(error), {path: name, str(real): name})) from None
    if extent.seconds > limits.max_seconds:
        raise refused(f"{name} lasts at least {extent.seconds:.1f} s; the limit is {limits.max_seconds:g} s per clip")
    max_frames = int(limits.max_seconds * MAX_FRAMES_PER_SECOND)
    if extent.frames > max_frames:
        raise refused(
            f"{name} holds {extent.frames} video frames; the limit is {max_frames} "
            f"({MAX_FRAMES_PER_SECOND} per second of the {limits.max_seconds:g} s limit)"
        )
    return name


def public_message(message: str, names: dict[str, str]) -> str:
    """``message`` with each upload's server path replaced by its file name (errors must not show temporary paths)."""
    for path, name in names.items():
        for variant in {path, os.path.realpath(path)}:
            message = message.replace(variant, name)
    return message


def _zero_gpu_decorator():
    """``spaces.GPU`` when Hugging Face's ``spaces`` package is installed (a ZeroGPU Space), else a no-op."""
    try:
        import spaces
    except ImportError:
        spaces = None
    decorator = getattr(spaces, "GPU", None)  # a folder named spaces/ on sys.path imports as a bare namespace
    if decorator is not None:
        return decorator

    def no_op(function: Callable | None = None, **_kwargs):
        return function if function is not None else (lambda f: f)

    return no_op


gpu = _zero_gpu_decorator()


def resolve_model(model: str | os.PathLike | None = None) -> str:
    """The model to serve: the argument, else $AFFECTGPT_MODEL, else the quickstart's folder."""
    return str(model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL)


class Analyzer:
    """The model (loaded once), the speech recogniser for empty subtitles (``asr``: a model id or folder, "none", or
    None for $AFFECTGPT_ASR or the default Whisper; loaded first, so a bad one is named before the model loads) and the
    label extractor; ``analyze`` is the Space's analysis, ``transcribe`` its Transcribe button."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        device: str | None = None,
        max_new_tokens: int = 256,
        asr: str | None = None,
        max_transcript_chars: int | None = None,
    ):
        import torch

        from ..inference.batch import load_model
        from ..speech import MAX_TRANSCRIPT_CHARS, SpeechRecognizer, resolve_asr

        source = resolve_model(model)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"  # ZeroGPU reports CUDA at start-up
        asr = resolve_asr(asr)
        chars = max_transcript_chars or MAX_TRANSCRIPT_CHARS
        self.recognizer = None if asr is None else SpeechRecognizer(asr, device=device, max_chars=chars)
        try:
            self.model, self.processor = load_model(source, device=device)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"{error}; run `affectgpt quickstart` to make {DEFAULT_MODEL}, or pass --model / set ${ENV_MODEL}"
            ) from error
        self.source = source
        self.max_new_tokens = max_new_tokens
        from ..faces import default_faces

        self.faces = default_faces(self.processor.input_mode)  # face models: "auto" (built-in crops) or None (frames)
        self.extractor = None
        try:
            from ..unibench import get_extractor

            self.extractor = get_extractor(None)
        except (OSError, ValueError) as error:  # no wheel files and no network: labels from the OV parser only
            logger.warning("emotion wheels unavailable (%s); labels come from the OV-answer parser only", error)

    def transcribe(self, video: str | None, audio: str | None) -> tuple[str, str]:
        """The clip's speech as text (the audio file's, else the video's track) and its source; ValueError when
        speech recognition is off or the clip cannot be read."""
        if not video and not audio:
            raise ValueError("no video or audio: upload a clip to transcribe")
        if self.recognizer is None:
            raise ValueError("speech recognition is off in this app (started with --asr none): type the subtitle")
        transcript = self.recognizer(audio or video)
        return transcript.text, transcript.source + (f" ({transcript.note})" if transcript.note else "")

    def analyze(self, video: str | None, audio: str | None, subtitle: str | None, task: str | None) -> dict:
        """One clip -> {"text", "labels", "sectors", "subtitle", "subtitle_source"}; an empty subtitle is filled from
        the clip's speech when the app has a recogniser. ValueError names a bad input."""
        (result,) = self.analyze_many([(video, audio, subtitle, task)])
        if isinstance(result, Exception):
            raise result
        return result

    def analyze_many(self, requests: Sequence[tuple]) -> list[dict | ValueError]:
        """Requests (video, audio, subtitle, task) answered as :meth:`analyze` answers each, the clips of one question
        described in one batch; a request that cannot be answered gets its ValueError in its place."""
        from ..inference.arguments import InferenceArguments
        from ..inference.batch import Clip, describe

        results: list[dict | ValueError | None] = [None] * len(requests)
        groups: dict[tuple[str, str | None], list[tuple[int, Clip, str]]] = {}
        for index, (video, audio, subtitle, task) in enumerate(requests):
            try:
                if not video:
                    raise ValueError("no video: upload a video clip (mp4, avi, mkv, mov, webm)")
                task = (task or "ov_labels").strip()
                question = None
                if task not in TASKS:
                    question, task = task, "description"  # a free question
                source = "given" if (subtitle or "").strip() else "none"
                if source == "none" and self.recognizer is not None:
                    subtitle, source = self.transcribe(video, audio)
            except ValueError as error:
                results[index] = error
                continue
            clip = Clip(str(index), video=video, audio=audio or None, faces=self.faces, subtitle=subtitle or "")
            groups.setdefault((task, question), []).append((index, clip, source))
        extract = self.extractor.extract_labels if self.extractor is not None else None
        for (task, question), members in groups.items():
            described = describe(
                self.model,
                self.processor,
                [clip for _, clip, _ in members],
                InferenceArguments(batch_size=len(members), max_new_tokens=self.max_new_tokens, num_workers=0),
                task=task,
                question=question,
                label_extractor=extract,
                progress=False,
                on_no_face="frames",  # an upload without a face still gets an answer; face_source says "frames"
            )
            for (index, clip, source), result in zip(members, described, strict=True):
                results[index] = (
                    ValueError(result.error)
                    if result.error
                    else {
                        "text": result.text,
                        "labels": result.labels,
                        "sectors": self.sectors(result.labels),
                        "face_source": result.face_source,
                        "subtitle": clip.subtitle,
                        "subtitle_source": source,
                    }
                )
        return results

    def about(self, limits: Limits) -> str:
        """The page's account of what runs here: the model (a toy or not), speech recognition, and the limits."""
        parameters = self.model.num_parameters()
        size = f"{parameters / 1e9:.1f}B" if parameters >= 1e9 else f"{parameters / 1e6:.1f}M"
        kind = (
            f"a **toy** ({size} parameters, trained on generated clips): its answers show the pipeline at work, not "
            "emotion understanding"
            if parameters < 100e6
            else f"{size} parameters"
        )
        speech = (
            f"An empty subtitle is filled from the clip's speech by `{self.recognizer.model_id}` (after a voice-"
            "activity check; edit it and analyse again, or use **Transcribe**)."
            if self.recognizer is not None
            else "Speech recognition is off here: type the subtitle."
        )
        return (
            f"**Model:** `{self.source}`, {kind}; it reads {self.processor.input_mode}. {speech}\n\n"
            f"**Limits:** {limits.max_upload_mb:g} MB per upload, {limits.max_seconds:g} s per clip, "
            f"{limits.max_text_chars:g} characters of subtitle or question, {limits.request_timeout_s:g} s per request."
        )

    def face_note(self) -> str:
        """What the model sees of the face, for the page: OpenFace crops are not made here."""
        from ..prompt import FACE_TOKEN, visual_token_of

        if self.faces == "auto":
            return (
                " This model reads face crops: they are made here (MTCNN + OpenFace-style alignment), an "
                "approximation of the OpenFace crops it was trained on."
            )
        if self.faces is None and visual_token_of(self.processor.input_mode) == FACE_TOKEN:
            return (
                " This model reads face crops, but facenet-pytorch's MTCNN weights are not installed: it sees video "
                "frames."
            )
        return ""

    def sectors(self, labels: list[str]) -> list[dict[str, object]]:
        """Per wheel: its level-1 sectors and which of them the labels fall in (empty without wheel files)."""
        if self.extractor is None or not hasattr(self.extractor, "wheels"):
            return []
        from ..unibench import map_to_sectors

        wheels = self.extractor.wheels
        return [
            {
                "wheel": k + 1,
                "sectors": list(wheels.wheel_sectors[k]),
                "hit": sorted(map_to_sectors(labels, wheels, k + 1)),
            }
            for k in range(len(wheels.wheel_sectors))
        ]


def wheel_chart(sectors: list[dict[str, object]], labels: list[str]) -> np.ndarray | None:
    """An RGB image: one pie per emotion wheel, its level-1 sectors as equal wedges, the hit ones coloured."""
    if not sectors:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = -(-len(sectors) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows))
    axes = np.atleast_1d(axes).ravel()
    for ax in axes[len(sectors) :]:
        ax.axis("off")
    palette = plt.get_cmap("tab10")
    for ax, wheel in zip(axes, sectors, strict=False):
        names = list(wheel["sectors"])
        hit = set(wheel["hit"])
        colours = [palette(i % 10) if name in hit else (0.9, 0.9, 0.9) for i, name in enumerate(names)]
        ax.pie(
            [1] * len(names),
            labels=names,
            colors=colours,
            startangle=90,
            counterclock=False,
            wedgeprops={"edgecolor": "white"},
            textprops={"fontsize": 8},
        )
        ax.set_title(f"wheel {wheel['wheel']}: {', '.join(sorted(hit)) or '-'}", fontsize=9)
    fig.suptitle(f"Emotion-wheel sectors of: {', '.join(labels) or '(no labels)'}", fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def chart_file(image: np.ndarray | None) -> str | None:
    """``image`` as a PNG file named by its content, written whole under a temporary name and then renamed. Gradio
    copies a returned file into its cache atomically, but writes a returned array there in place, and two requests
    answered at the same time with the same chart then read each other's half-written file."""
    if image is None:
        return None
    import hashlib
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    data = buffer.getvalue()
    folder = Path(tempfile.gettempdir()) / "affectgpt_charts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.png"
    if not path.exists():
        staging = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}"
        staging.write_bytes(data)
        os.replace(staging, path)
    return str(path)


def example_clips(folder: str | os.PathLike | None = None) -> list[list[object]]:
    """Four toy clips (one per emotion, every cue present), written once, as Gradio example rows."""
    from ..data.toy import EMOTIONS, SUBTITLES, face_frames, synth_voice
    from ..data.writers import write_video

    folder = Path(folder or Path(tempfile.gettempdir()) / "affectgpt_space_examples")
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, emotion in enumerate(EMOTIONS):
        path = folder / f"{emotion}.mp4"
        frames = face_frames(emotion, 20, 64, seed=1000 + index)  # rewritten each start: the toy design may change
        voice = synth_voice(emotion, 2.0, 16000, seed=1000 + index)
        write_video(path, frames, fps=10, audio=voice, sampling_rate=16000)
        rows.append([str(path), None, SUBTITLES[emotion][0][0], "ov_labels"])
    rows.append([rows[0][0], None, SUBTITLES[None][0][0], EXAMPLE_QUESTION])
    return rows


EXAMPLE_QUESTION = "Why does the person feel this way?"
WHEELS_NOTE = (
    "**The chart:** MER-UniBench scores open-vocabulary labels by mapping each onto five emotion wheels, five ways "
    "of grouping emotion words into level-1 sectors. One pie per wheel: its wedges are the sectors, coloured where one "
    "of the labels falls; a wheel whose sectors none of the labels reach stays grey."
)


def build_demo(
    model: str | os.PathLike | None = None,
    analyzer: Analyzer | None = None,
    limits: Limits | None = None,
    asr: str | None = None,
    max_batch_size: int = 8,
):
    """The Gradio Blocks app (queue enabled). Endpoints: ``/analyze`` (video, audio=None, subtitle="",
    task="ov_labels") -> answer, labels, chart, subtitle, subtitle source; ``/transcribe`` (video, audio=None) ->
    subtitle, source. ``limits``: the upload and time caps (default: ``Limits.from_env()``); ``asr``: the speech
    recogniser for empty subtitles (Analyzer's). Requests that arrive together, up to ``max_batch_size``, are
    described in one batch (apps/batcher.py); each still gets its own refusal."""
    import gradio as gr

    limits = limits or Limits.from_env()
    analyzer = analyzer or Analyzer(model, asr=asr, max_transcript_chars=int(limits.max_text_chars))
    worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="affectgpt-transcription")
    batcher = Batcher(gpu(analyzer.analyze_many), max_size=max_batch_size)  # requests arriving together: one batch

    def timed(future: concurrent.futures.Future, names: dict[str, str], timeout: float | None = None):
        """``future``'s result, awaited at most ``timeout`` (default ``limits.request_timeout_s``); its bad-input
        errors become refusals naming uploads by file name, anything else a logged internal error."""
        timeout = timeout or limits.request_timeout_s
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise refused(
                f"the analysis took longer than the {timeout:g} s limit per request; "
                "try a shorter clip or try again later"
            ) from None
        except (ValueError, FileNotFoundError) as error:
            raise refused(public_message(str(error), names)) from None
        except Exception:
            logger.exception("the analysis failed")
            raise gr.Error("the analysis failed with an internal error (logged on the server)") from None

    def respond(video, audio, subtitle, task, names: dict[str, str]):
        """The analysis of one checked request, in a batch with those that arrive at the same time."""
        result = timed(batcher.submit((video, audio, subtitle, task)), names)
        chart = chart_file(wheel_chart(result["sectors"], result["labels"]))
        return result["text"], ", ".join(result["labels"]), chart, result["subtitle"], result["subtitle_source"]

    def checked(video, audio, subtitle, task) -> dict[str, str]:
        for what, text in (("subtitle", subtitle), ("question", None if task in TASKS else task)):
            if text and len(text) > limits.max_text_chars:
                raise refused(f"the {what} has {len(text)} characters; the limit is {limits.max_text_chars:g}")
        return {path: check_upload(path, limits) for path in (video, audio) if path}

    def analyze(video, audio=None, subtitle="", task="ov_labels"):
        return respond(video, audio, subtitle, task, checked(video, audio, subtitle, task))

    @gpu
    def transcribe(video, audio=None):
        names = checked(video, audio, "", "ov_labels")
        return timed(worker.submit(analyzer.transcribe, video, audio), names)

    timelines = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="affectgpt-timeline")

    def timeline_in_time(call, names: dict[str, str], timeout: float):
        return timed(timelines.submit(call), names, timeout)

    space_blocks = _gradio_classes()
    with space_blocks(title="AffectGPT") as demo:
        gr.Markdown(
            "# AffectGPT\nMultimodal emotion understanding (Lian et al., ICML 2025), on the Hugging Face stack. "
            "Upload a video (its audio track is used unless you add a separate audio file), give its subtitle, and "
            "pick a task or type your own question; the Timeline tab describes each utterance of a longer video."
            + analyzer.face_note()
            + "\n\n"
            + analyzer.about(limits)
        )
        with gr.Tab("Clip"):
            with gr.Row():
                with gr.Column():
                    # format=None and include_audio=True: Gradio hands the upload over as stored, running no FFmpeg
                    video = gr.Video(label="Video", sources=["upload"], format=None, include_audio=True)
                    audio = gr.Audio(label="Audio (optional; default: the video's track)", type="filepath", format=None)
                    speech = analyzer.recognizer is not None
                    subtitle = gr.Textbox(
                        label="Subtitle (left empty: filled from the clip's speech)" if speech else "Subtitle",
                        placeholder="What the person says",
                        value="",
                    )
                    transcribe_button = gr.Button("Transcribe", visible=speech)
                    task = gr.Dropdown(
                        choices=[(label, key) for key, label in TASKS.items()] + [(EXAMPLE_QUESTION, EXAMPLE_QUESTION)],
                        value="ov_labels",
                        allow_custom_value=True,
                        label="Task, or type a free question",
                    )
                    task.api_info = _free_text  # API clients: any text, not only the listed choices
                    button = gr.Button("Analyze", variant="primary")
                with gr.Column():
                    answer = gr.Textbox(label="Answer", lines=4)
                    labels = gr.Textbox(label="Emotion labels")
                    chart = gr.Image(label="Emotion-wheel sectors", type="numpy")
                    gr.Markdown(WHEELS_NOTE)
                    source = gr.Textbox(label="Subtitle source", interactive=False)
            examples = example_clips()
            gr.Examples(examples, inputs=[video, audio, subtitle, task], cache_examples=False)
            outputs = [answer, labels, chart, subtitle, source]
            button.click(analyze, inputs=[video, audio, subtitle, task], outputs=outputs, api_name=API_NAME)
            transcribe_button.click(
                transcribe, inputs=[video, audio], outputs=[subtitle, source], api_name="transcribe"
            )
        add_timeline_tab(analyzer, limits, timeline_in_time, gpu)

        def on_load(request: gr.Request):
            """`/?example=N` fills in example N and analyses it (links and headless screenshots)."""
            chosen = (request.query_params.get("example") if request is not None else None) or ""
            if not chosen.isdigit() or int(chosen) >= len(examples):
                return [gr.skip()] * 8
            row = examples[int(chosen)]
            return [row[0], row[1], row[3], *respond(*row, {})]  # the app's own example files

        on_load.__annotations__["request"] = gr.Request  # resolved here: this module's annotations are strings
        demo.load(
            on_load,
            inputs=None,
            outputs=[video, audio, task, answer, labels, chart, subtitle, source],
            api_visibility="private",
        )
    demo.queue(default_concurrency_limit=max_batch_size)  # concurrent requests meet in the batcher
    demo.batcher = batcher
    return demo


def _free_text() -> dict:
    return {"type": "string", "description": "ov_labels, description, or a free question (any text)"}


def _gradio_classes():
    """The app's Blocks class (made on first use: this module imports Gradio lazily). A Component subclass would
    make Gradio write a .pyi stub beside this module, so the task box is a plain Dropdown (see build_demo)."""
    import gradio as gr
    from gradio.exceptions import InvalidPathError

    class SpaceBlocks(gr.Blocks):
        """Blocks whose refusal of a file the client names without uploading it comes back as a message (Gradio's
        own says ``{"error": null}``) and is logged in one line."""

        async def preprocess_data(self, *args, **kwargs):
            try:
                return await super().preprocess_data(*args, **kwargs)
            except InvalidPathError:
                raise refused(
                    "the request names a file that was not uploaded to this app; upload it (gradio_client: "
                    "handle_file(path)) and pass what the upload returns"
                ) from None

    return SpaceBlocks


def launch(args: DemoArguments, **kwargs):
    """Build the demo and serve it (blocks unless ``prevent_thread_lock=True`` is passed). Gradio itself stops an
    upload over the size cap while it streams in (``max_file_size``)."""
    limits = args.limits()
    demo = build_demo(args.model, limits=limits, asr=args.asr, max_batch_size=args.max_batch_size)
    kwargs.setdefault("max_file_size", limits.max_upload_bytes)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **kwargs)
    return demo


__all__ = [
    "API_NAME",
    "Analyzer",
    "build_demo",
    "check_upload",
    "example_clips",
    "launch",
    "resolve_model",
    "wheel_chart",
]
