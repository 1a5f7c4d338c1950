"""AffectGPT Space: a clip (video, optional separate audio) + subtitle + a task or free question -> the answer, its
emotion labels and their emotion-wheel sectors.

The app itself lives in the package (`affectgpt_hf.apps.demo`, also behind `affectgpt demo`); this file picks the model
(`--model`, else $AFFECTGPT_MODEL, else the quickstart's `runs/quickstart`) and serves it. On a Space the host comes
from $GRADIO_SERVER_NAME (0.0.0.0); elsewhere it listens on 127.0.0.1 unless `--host` says otherwise.
"""

from __future__ import annotations

import os

from transformers import HfArgumentParser

from affectgpt_hf.apps.arguments import DemoArguments, Limits
from affectgpt_hf.apps.demo import build_demo

# The Hub models this Space names: README.md's `models:` lists exactly these (tests/test_model_card.py checks it).
# On the Space (where $SPACE_ID is set) the first is served unless $AFFECTGPT_MODEL says otherwise; upload them with
# `affectgpt convert ... --push-to-hub ID` and `affectgpt quickstart` + `affectgpt card --model runs/quickstart
# --push-to-hub ID`.
MODELS = ("affectgpt-hf/affectgpt-qwen2.5-7b", "affectgpt-hf/affectgpt-tiny-quickstart")


def build(model: str | None = None, limits: Limits | None = None, asr: str | None = None, max_batch_size: int = 8):
    """The Gradio Blocks of this Space (model loaded once, queue enabled; endpoints `/analyze`, `/transcribe` and
    `/timeline`, the Timeline tab's).
    Upload, duration and time limits: ``limits``, else $AFFECTGPT_MAX_UPLOAD_MB, $AFFECTGPT_MAX_SECONDS,
    $AFFECTGPT_REQUEST_TIMEOUT_S; speech recognition for empty subtitles: ``asr``, else $AFFECTGPT_ASR, else the
    multilingual Whisper of affectgpt_hf.speech. Requests arriving together are described in batches of up to
    ``max_batch_size``."""
    on_space = MODELS[0] if os.environ.get("SPACE_ID") else None
    chosen = model or os.environ.get("AFFECTGPT_MODEL") or on_space
    return build_demo(chosen, limits=limits, asr=asr, max_batch_size=max_batch_size)


def main(argv: list[str] | None = None) -> None:
    (args,) = HfArgumentParser(DemoArguments, description=__doc__.splitlines()[0]).parse_args_into_dataclasses(argv)
    limits = args.limits()
    build(args.model, limits, args.asr, args.max_batch_size).launch(
        server_name=args.host, server_port=args.port, share=args.share, max_file_size=limits.max_upload_bytes
    )


if __name__ == "__main__":
    main()
