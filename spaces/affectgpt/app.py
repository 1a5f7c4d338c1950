"""AffectGPT Space: a clip (video, optional separate audio) + subtitle + a task or free question -> the answer, its
emotion labels and their emotion-wheel sectors.

The app itself lives in the package (`affectgpt_hf.demo`, also behind `affectgpt demo`); this file picks the model
(`--model`, else $AFFECTGPT_MODEL, else the quickstart's `runs/quickstart`) and serves it. On a Space the host comes
from $GRADIO_SERVER_NAME (0.0.0.0); elsewhere it listens on 127.0.0.1 unless `--host` says otherwise.
"""

from __future__ import annotations

import argparse
import os

from affectgpt_hf.demo import Limits, add_demo_arguments, build_demo, limits_from_args


def build(model: str | None = None, limits: Limits | None = None):
    """The Gradio Blocks of this Space (model loaded once, queue enabled; endpoint `/analyze`). Upload, duration and
    time limits: ``limits``, else $AFFECTGPT_MAX_UPLOAD_MB, $AFFECTGPT_MAX_SECONDS, $AFFECTGPT_REQUEST_TIMEOUT_S."""
    return build_demo(model or os.environ.get("AFFECTGPT_MODEL"), limits=limits)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_demo_arguments(parser)
    args = parser.parse_args(argv)
    limits = limits_from_args(args)
    build(args.model, limits).launch(
        server_name=args.host, server_port=args.port, share=args.share, max_file_size=limits.max_upload_bytes
    )


if __name__ == "__main__":
    main()
