"""AffectGPT Space: a clip (video, optional separate audio) + subtitle + a task or free question -> the answer, its
emotion labels and their emotion-wheel sectors.

The app itself lives in the package (`affectgpt_hf.demo`, also behind `affectgpt demo`); this file picks the model
(`--model`, else $AFFECTGPT_MODEL, else the quickstart's `runs/quickstart`) and serves it. On a Space the host comes
from $GRADIO_SERVER_NAME (0.0.0.0); elsewhere it listens on 127.0.0.1 unless `--host` says otherwise.
"""

from __future__ import annotations

import argparse
import os

from affectgpt_hf.demo import add_demo_arguments, build_demo


def build(model: str | None = None):
    """The Gradio Blocks of this Space (model loaded once, queue enabled; endpoint `/analyze`)."""
    return build_demo(model or os.environ.get("AFFECTGPT_MODEL"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_demo_arguments(parser)
    args = parser.parse_args(argv)
    build(args.model).launch(server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
