"""Where upstream's pinned environment is, for the scripts that run code in it (golden files, perf comparisons).

The environment (tests/golden/upstream/make.sh builds it) is one folder holding ``venv/``, ``src/AffectGPT`` and
``shims/``; ``$AFFECTGPT_UPSTREAM_ENV`` names it, and each part can be given on its own instead.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

PARTS = (("upstream_python", "venv/bin/python"), ("upstream_src", "src/AffectGPT"), ("shims", "shims"))


def add_upstream_env_options(parser: argparse.ArgumentParser) -> None:
    """``--upstream-python``, ``--upstream-src`` and ``--shims``, defaulting to the parts of $AFFECTGPT_UPSTREAM_ENV."""
    env = os.environ.get("AFFECTGPT_UPSTREAM_ENV")
    for name, inside in PARTS:
        parser.add_argument(
            "--" + name.replace("_", "-"),
            default=str(Path(env) / inside) if env else None,
            help=f"default: $AFFECTGPT_UPSTREAM_ENV/{inside}",
        )


def check_upstream_env(args: argparse.Namespace) -> None:
    """Exit with a message naming what is missing unless every part of the environment was given and exists."""
    paths = [getattr(args, name) for name, _ in PARTS]
    if None in paths:
        raise SystemExit(
            "give --upstream-python, --upstream-src and --shims, or set $AFFECTGPT_UPSTREAM_ENV "
            "(tests/golden/README.md)"
        )
    for path in paths:
        if not Path(path).exists():
            raise SystemExit(f"{path} does not exist; build upstream's environment (tests/golden/upstream/make.sh)")
