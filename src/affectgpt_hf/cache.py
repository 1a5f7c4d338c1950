"""Where the package keeps what it builds or downloads once (the tokenizer JSON, the emotion wheels and their parse),
and the file checksum that keys and verifies such files.

The root is ``$AFFECTGPT_HF_CACHE``, else ``$XDG_CACHE_HOME/affectgpt_hf``, else ``~/.cache/affectgpt_hf``. The older
name ``AFFECTGPT_CACHE`` (once read by the tokenizer alone) is still read when ``AFFECTGPT_HF_CACHE`` is unset.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ENV_CACHE_DIR = "AFFECTGPT_HF_CACHE"
LEGACY_ENV_CACHE_DIR = "AFFECTGPT_CACHE"


def cache_root() -> Path:
    """The package's cache folder (not created here): $AFFECTGPT_HF_CACHE, $AFFECTGPT_CACHE, or the XDG default."""
    for name in (ENV_CACHE_DIR, LEGACY_ENV_CACHE_DIR):
        if os.environ.get(name):
            return Path(os.environ[name])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "affectgpt_hf"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (checkpoints are several GB)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["ENV_CACHE_DIR", "LEGACY_ENV_CACHE_DIR", "cache_root", "file_sha256"]
