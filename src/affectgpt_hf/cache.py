"""Where the package keeps what it builds or downloads once (the tokenizer JSON, the emotion wheels and their parse),
and the keys that tie a cached result to what it was made from: a file's checksum, and a cheap fingerprint of files
by name, size and modification time.

The root is ``$AFFECTGPT_HF_CACHE``, else ``$XDG_CACHE_HOME/affectgpt_hf``, else ``~/.cache/affectgpt_hf``. The older
name ``AFFECTGPT_CACHE`` (once read by the tokenizer alone) is still read when ``AFFECTGPT_HF_CACHE`` is unset.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
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


def stat_fingerprint(paths: Iterable[str | os.PathLike]) -> str:
    """A cheap key of files and folders, as ``datasets`` keys local files: each path with its size and modification
    time (nanoseconds), in the order given; a missing path counts as missing. A folder's time moves when an entry is
    added, removed or renamed in it, not when a file inside is rewritten: list such files themselves."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{os.path.abspath(path)}:missing\n".encode())
    return digest.hexdigest()[:16]


def source_digest(*files: str | os.PathLike) -> str:
    """SHA-256 (16 hex digits) of source files' bytes: keys a cache by the code that made it, so an upgraded package
    never reads what an older one built."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:16]


__all__ = ["ENV_CACHE_DIR", "LEGACY_ENV_CACHE_DIR", "cache_root", "file_sha256", "source_digest", "stat_fingerprint"]
