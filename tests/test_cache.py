"""cache.py: which variable names the cache root, and the streamed file checksum."""

from __future__ import annotations

import hashlib
from pathlib import Path

from affectgpt_hf.cache import cache_root, file_sha256


def test_cache_root_prefers_the_documented_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("AFFECTGPT_HF_CACHE", str(tmp_path / "documented"))
    monkeypatch.setenv("AFFECTGPT_CACHE", str(tmp_path / "older"))
    assert cache_root() == tmp_path / "documented"
    monkeypatch.delenv("AFFECTGPT_HF_CACHE")
    assert cache_root() == tmp_path / "older"  # the tokenizer's earlier name is still read
    monkeypatch.delenv("AFFECTGPT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "affectgpt_hf"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert cache_root() == Path.home() / ".cache" / "affectgpt_hf"


def test_file_sha256_over_several_blocks(tmp_path):
    data = bytes(range(256)) * 10_000  # 2.5 MB: three 1 MiB reads
    (tmp_path / "blob").write_bytes(data)
    assert file_sha256(tmp_path / "blob") == hashlib.sha256(data).hexdigest()
