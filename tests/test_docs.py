"""Every `affectgpt_hf...` name the README and docs/ mention exists: a module, or an attribute of one. A renamed or
moved module fails here before a reader meets the stale path."""

from __future__ import annotations

import importlib
import re

import pytest
from utils import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
NAME = re.compile(r"\baffectgpt_hf(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
FROM_IMPORT = re.compile(r"from (affectgpt_hf[\w.]*) import ([\w, ]+)")


def mentioned() -> list[tuple[str, str]]:
    """(page, dotted name) of every `affectgpt_hf.x.y` and every name a `from affectgpt_hf... import` line takes."""
    found = set()
    for page in PAGES:
        text = page.read_text()
        found |= {(page.name, name) for name in NAME.findall(text)}
        for module, names in FROM_IMPORT.findall(text):
            found |= {(page.name, f"{module}.{name.strip()}") for name in names.split(",") if name.strip()}
    return sorted(found)


def resolve(dotted: str) -> object:
    """The module ``dotted`` names, or the attribute of the longest importable module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize(("page", "dotted"), mentioned(), ids=[f"{p}:{d}" for p, d in mentioned()])
def test_the_names_the_docs_give_exist(page, dotted):
    assert resolve(dotted) is not None


def test_the_pages_mention_names():
    assert len(mentioned()) >= 7
