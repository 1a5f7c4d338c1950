"""`affectgpt serve`: transformers' own OpenAI-compatible server (`transformers serve`, transformers/cli/serving) for an
AffectGPT model, with what AffectGPT needs and no more (docs/serving.md).

transformers builds the app, its routes, the generation thread and the streaming; this module hands it:
- a model manager that loads AffectGPT's classes (transformers' looks the class name up in transformers itself) and
  calls the model multimodal (transformers' picks the modality from its own mappings), so `video_url`, `audio_url`
  and `input_audio` parts reach the processor as video and audio blocks;
- a chat handler that admits a request first (serve_requests.py: the message's shape, the limits, the fetch rules of
  media_fetch.py; at most ``max_pending`` requests at once), releases a streamed answer as `processor.decode` cuts it
  (prompt.AnswerStream), and adds the answer's emotion labels (`labels`, on the message or on the last chunk);
- a processor whose media errors are refusals (400) rather than server errors;
- only the routes a client of AffectGPT needs: /v1/chat/completions, /v1/models and /health.
Refusals are 4xx JSON errors in OpenAI's shape ({"error": {"message", "type", "code"}}); the server stays up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from transformers.cli.serving.chat_completion import ChatCompletionHandler
from transformers.cli.serving.model_manager import ModelManager
from transformers.cli.serving.server import build_server
from transformers.cli.serving.utils import GenerationState, Modality, split_revision

from ..faces import default_faces
from ..inference.batch import answers_are_free_text, model_source
from ..modeling_affectgpt import AffectGPTForConditionalGeneration
from ..processing_affectgpt import AffectGPTProcessor
from ..prompt import AnswerStream
from .arguments import Limits, ServeArguments
from .media_fetch import MediaRules, Refusal
from .serve_requests import Admitted, admit

logger = logging.getLogger(__name__)

ROUTES = ("/v1/chat/completions", "/v1/models", "/health")
"""The routes kept of transformers' app. The others would read media without the fetch rules (/v1/responses), load
other models (/load_model), unload this one (/reset), or take inputs AffectGPT has no use for."""


class ServedProcessor(AffectGPTProcessor):
    """AffectGPTProcessor whose chat-template errors (media that do not decode, inputs the prompt cannot take) are
    refusals: transformers' handler calls `apply_chat_template` inside the request, where a ValueError would be a 500.
    The handler's `num_frames=32` (its default for every video) is dropped: the processor samples upstream's frames by
    its own `num_frames`; the server's `faces` goes to the processor call, where it belongs."""

    def apply_chat_template(self, conversation, chat_template=None, **kwargs):
        kwargs.pop("num_frames", None)
        if "faces" in kwargs:
            kwargs["processor_kwargs"] = {**(kwargs.get("processor_kwargs") or {}), "faces": kwargs.pop("faces")}
        try:
            return super().apply_chat_template(conversation, chat_template, **kwargs)
        except ValueError as error:
            raise Refusal("unreadable_media", f"the clip could not be read: {error}") from None


class AffectGPTModelManager(ModelManager):
    """transformers' model manager, loading AffectGPT's own classes (through `AffectGPTForConditionalGeneration.
    from_pretrained`, so `--quantization` leaves the towers and heads unquantized) and calling the model multimodal."""

    def _load_processor(self, model_id_and_revision: str, gguf_file: str | None = None) -> ServedProcessor:
        model_id, revision = split_revision(model_id_and_revision)
        with model_source(model_id):
            return ServedProcessor.from_pretrained(model_id, revision=revision)

    def _load_model(self, model_id_and_revision: str, tqdm_class=None, progress_callback=None, gguf_file=None):
        if gguf_file is not None:
            raise ValueError(f"{model_id_and_revision}: AffectGPT is served from a saved folder, not a GGUF file")
        model_id, revision = split_revision(model_id_and_revision)
        kwargs = {"revision": revision, "device_map": self.device, "quantization": self.quantization}
        if self.dtype not in (None, "auto"):
            kwargs["dtype"] = self.dtype
        with model_source(model_id):
            return AffectGPTForConditionalGeneration.from_pretrained(model_id, **kwargs).eval()

    @staticmethod
    def get_model_modality(model, processor=None) -> Modality:
        """MULTIMODAL for AffectGPT (text, video and audio parts are read); transformers' own rule otherwise."""
        if isinstance(model, AffectGPTForConditionalGeneration):
            return Modality.MULTIMODAL
        return ModelManager.get_model_modality(model, processor)


@dataclass
class _Answer:
    """One request in flight: what it asked, and its streamed answer."""

    admitted: Admitted
    stream: AnswerStream


class AffectGPTChatHandler(ChatCompletionHandler):
    """transformers' /v1/chat/completions handler, with requests admitted first and answers given their labels.
    ``processor`` is the served model's (its eos token ends answers, its parser reads OV labels); a request may ask for
    at most ``max_new_tokens`` tokens (None: any number)."""

    def __init__(
        self,
        model_manager,
        generation_state,
        processor: AffectGPTProcessor,
        rules: MediaRules,
        limits: Limits,
        max_pending: int,
        max_new_tokens: int | None = None,
        **kwargs,
    ):
        super().__init__(model_manager, generation_state, **kwargs)
        self.processor, self.rules, self.limits, self.max_pending = processor, rules, limits, max_pending
        self.max_new_tokens = max_new_tokens
        self._in_flight: dict[str, _Answer | None] = {}  # request id -> its answer (None while it is admitted)
        self._extractor = None

    async def handle_request(self, body: dict, request_id: str):
        if len(self._in_flight) >= self.max_pending:
            raise Refusal(
                "server_busy",
                f"{len(self._in_flight)} requests are being answered or waiting, the most this server holds "
                f"(--max-pending {self.max_pending}); try again later",
                429,
            )
        if request_id in self._in_flight:
            raise Refusal("duplicate_request_id", f"a request with id {request_id!r} is in flight already", 409)
        self._in_flight[request_id] = None
        try:
            admitted = await asyncio.to_thread(admit, body, self.rules, self.limits, self.max_new_tokens)
            self._in_flight[request_id] = _Answer(admitted, AnswerStream(self.processor.tokenizer.eos_token))
            response = await super().handle_request(body, request_id)
        except BaseException:
            self._in_flight.pop(request_id, None)
            raise
        if isinstance(response, StreamingResponse):
            response.body_iterator = self._forgotten_after(response.body_iterator, request_id)
        else:
            self._in_flight.pop(request_id, None)
        return response

    async def _forgotten_after(self, chunks, request_id: str):
        """The streamed chunks; the request leaves the in-flight set when they end (or the client leaves)."""
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            self._in_flight.pop(request_id, None)

    def labels(self, admitted: Admitted, answer: str) -> list[str]:
        """The answer's emotion labels as `affectgpt describe` gives them: the OV answer parser for upstream's label
        question, unibench's offline extractor for free descriptions and free questions."""
        if answers_are_free_text(admitted.task, admitted.question):
            if self._extractor is None:
                from ..unibench import get_extractor

                self._extractor = get_extractor()
            return self._extractor.extract_labels([answer])[0]
        return self.processor.post_process(answer)[0]

    def _build_completion(self, request_id: str, content: str, model_id: str, finish_reason: str, **kwargs) -> dict:
        result = super()._build_completion(request_id, content, model_id, finish_reason, **kwargs)
        answer = self._in_flight.get(request_id)
        if answer is not None:
            result["choices"][0]["message"]["labels"] = self.labels(answer.admitted, content)
        return result

    def _build_chunk_sse(self, request_id: str = "", content: str | None = None, finish_reason=None, **kwargs) -> str:
        """Content released as `processor.decode` would cut the whole answer; the last chunk brings the rest and the
        labels."""
        answer = self._in_flight.get(request_id)
        if answer is None:
            return super()._build_chunk_sse(request_id, content=content, finish_reason=finish_reason, **kwargs)
        if content is not None:
            content = answer.stream.feed(content)
            if not content and finish_reason is None:
                return ""
        if finish_reason is None:
            return super()._build_chunk_sse(request_id, content=content, **kwargs)
        content = (content or "") + answer.stream.finish()
        if answer.stream.diverged:
            logger.warning(
                "request %s: streamed text differs from the decoded answer (###Assistant: in it)", request_id
            )
        sse = super()._build_chunk_sse(request_id, content=content or None, finish_reason=finish_reason, **kwargs)
        chunk = json.loads(sse.removeprefix("data: "))
        chunk["choices"][0]["delta"]["labels"] = self.labels(answer.admitted, answer.stream.released)
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


class BodyLimit:
    """ASGI middleware refusing (413) a request body over ``max_bytes`` before the app holds it whole."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await JSONResponse(**_error(self._refusal(int(declared))))(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # a chunked body: the route's exception handler answers
                raise self._refusal(received)
            return message

        return await self.app(scope, counted, send)

    def _refusal(self, size: int) -> Refusal:
        return Refusal("body_too_large", f"the request body has {size} bytes; the limit is {self.max_bytes}", 413)


def _error(refusal: Refusal) -> dict:
    return {"content": refusal.to_json(), "status_code": refusal.status}


def body_limit(limits: Limits) -> int:
    """The largest request body: two media items as base64 (a clip and its audio), plus 1 MB for the rest."""
    return 2 * math.ceil(limits.max_upload_bytes * 4 / 3) + 1_000_000


def build_app(args: ServeArguments) -> FastAPI:
    """transformers' serving app for ``args.model`` (loaded now), set up for AffectGPT."""
    limits = args.limits()
    manager = AffectGPTModelManager(
        device=args.device, dtype=args.dtype, quantization=args.quantization, force_model=args.model
    )
    model, processor = manager.load_model_and_processor(manager.process_model_name(args.model))
    faces = default_faces(processor.input_mode)  # face models crop faces as describe does
    state = GenerationState()
    handler = AffectGPTChatHandler(
        manager,
        state,
        processor,
        rules=MediaRules(
            args.media_dir,
            args.allow_remote_media,
            limits.max_upload_bytes,
            args.remote_timeout,
            allow_private_hosts=args.allow_private_media_hosts,
        ),
        limits=limits,
        max_pending=args.max_pending,
        # the answer's length as transformers' handler sets it when a request does not: at least 1024 tokens
        max_new_tokens=max(1024, model.generation_config.max_new_tokens or 0),
        chat_template_kwargs={"faces": faces} if faces is not None else {},
    )
    # The other handlers serve routes removed below; none is built.
    app = build_server(manager, handler, None, None, None, None, generation_state=state)
    app.router.routes = [r for r in app.router.routes if not isinstance(r, APIRoute) or r.path in ROUTES]

    @app.exception_handler(Refusal)
    async def refused(_request: Request, refusal: Refusal) -> JSONResponse:
        return JSONResponse(**_error(refusal))

    app.add_middleware(BodyLimit, max_bytes=body_limit(limits))
    return app


def serve(args: ServeArguments) -> None:
    """Load the model, then answer on ``args.host``:``args.port`` until interrupted."""
    import uvicorn
    from transformers.utils import logging as transformers_logging

    transformers_logging.get_logger("transformers").setLevel(transformers_logging.log_levels[args.log_level.lower()])
    app = build_app(args)
    print(f"serving {args.model} at http://{args.host}:{args.port}/v1 (chat completions)", flush=True)
    uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level.lower())).run()


__all__ = ["ROUTES", "AffectGPTChatHandler", "AffectGPTModelManager", "ServedProcessor", "build_app", "serve"]
