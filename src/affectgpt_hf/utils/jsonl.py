"""JSONL files that survive interruption: read past a line cut short, append durably, replace atomically.

The benchmark's answer and label caches grow batch by batch and must continue after a crash; the report writers
write per-clip rows the same way."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL cache ([] when there is no file); a line cut short by an interrupted run is dropped (its clip
    runs again)."""
    if not path.is_file():
        return []
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                logger.warning("%s:%d is not complete JSON (interrupted write?); dropped", path, number)
    return rows


def append_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Append rows and sync them to disk; a partial last line left by an interrupted write is cut off first."""
    if path.is_file() and path.stat().st_size:
        with path.open("rb+") as handle:
            data = handle.read()
            if not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Replace ``path`` with ``rows`` (written to a temporary file first, so a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


__all__ = ["append_jsonl", "read_jsonl", "write_jsonl"]
