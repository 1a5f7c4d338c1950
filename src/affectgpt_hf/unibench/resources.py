"""MER-UniBench emotion-wheel resources: locate (folder, env var or pinned download), verify, parse once, cache.

The seven upstream files (``format.csv``, ``synonym.xlsx``, ``wheel1..5.xlsx``) are parsed with upstream's exact
rules into one lookup table per wheel: word form -> level-1 sector. The parse is cached in memory (once per process)
and on disk as JSON keyed by the files' SHA-256 and this module's code, so the xlsx files are read only the first time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..cache import cache_root, file_sha256, source_digest
from ..prompt import parse_label_string

UPSTREAM_REPO = "zeroQiaoba/AffectGPT"
UPSTREAM_COMMIT = "fffca794c6792023234565370e3f69f0488aede9"
RAW_URL = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/{UPSTREAM_COMMIT}/AffectGPT/emotion_wheel/{{name}}"
ENV_WHEEL_DIR = "MER_UNIBENCH_WHEEL_DIR"
N_WHEELS = 5
SHA256 = {
    "format.csv": "ba6de7d61db8e129d1d7ef8a2aae22a9e93a2c2e3e683e6f2735d04455f016f2",
    "synonym.xlsx": "23f81f9ab1d2418aaf96775304fb5dc52c62bb5d5ef652a97471d045fc9d2e29",
    "wheel1.xlsx": "e70485d354b82a7491ff24648273182a5f4f13f92c76e6b3e4f9033f5e6afcc1",
    "wheel2.xlsx": "acc001e076a8e60440361f58dd8c05ed900c4890c84bb7d8d1df93708a7d9c87",
    "wheel3.xlsx": "d62f30bf88c17c55876634cd088eacaef98278fc25457474364439872f9dbf83",
    "wheel4.xlsx": "660260561b7fe15550f3679a01e7c783608ce3403d4c28db0a88520f68d83aea",
    "wheel5.xlsx": "2dd4595b2cf8e7628ca06a416a8e38ac831614b244f23d1ae613dc34007649f1",
}


@dataclass(frozen=True)
class EmotionWheels:
    """Parsed wheel resources. ``sectors[k][form]`` is the level-1 sector of a word form on wheel k+1 (absent: dropped).

    ``format2raws`` (word form -> base words) and ``raw2wheel`` (base word -> wheel words) are upstream's two
    mapping levels, ``wheel_words[k]`` maps each word of wheel k+1 to its sector; ``source`` says where the files
    came from.
    """

    sectors: tuple[dict[str, str], ...]
    format2raws: dict[str, list[str]]
    raw2wheel: dict[str, list[str]]
    wheel_sectors: tuple[tuple[str, ...], ...]
    wheel_words: tuple[dict[str, str], ...]
    source: str
    digest: str
    vocabulary: frozenset[str] = field(init=False)

    bits: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocabulary", frozenset(self.format2raws))
        # form -> its sectors on all wheels as one int: byte k holds a one-hot bit of the sector on wheel k+1 (0 if
        # dropped there), so a label set is an OR, an intersection an AND, a set size a popcount
        bits: dict[str, int] = {}
        for k, table in enumerate(self.sectors):
            index = {sector: i for i, sector in enumerate(self.wheel_sectors[k])}
            for form, sector in table.items():
                bits[form] = bits.get(form, 0) | (1 << (8 * k + index[sector]))
        object.__setattr__(self, "bits", bits)

    def sector(self, label: str, wheel: int) -> str | None:
        """Level-1 sector of one label (lower-cased and stripped as upstream does) on wheel 1..5; None if dropped."""
        return self.sectors[wheel - 1].get(label.lower().strip())


def _combined_digest(sums: list[str]) -> str:
    """One digest of the seven files: SHA-256 of their hex checksums in SHA256's order (keys the parse cache)."""
    return hashlib.sha256("".join(sums).encode()).hexdigest()


def verify_wheel_dir(folder: str | os.PathLike) -> str:
    """Check that ``folder`` holds the seven pinned files; returns a digest of their checksums.

    Raises FileNotFoundError for a missing file and ValueError for a checksum mismatch.
    """
    folder = Path(folder)
    sums = []
    for name, expected in SHA256.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(
                f"emotion-wheel folder {folder} has no {name}; expected the seven files {sorted(SHA256)}"
            )
        actual = file_sha256(path)
        if actual != expected:
            raise ValueError(
                f"{path} has SHA-256 {actual}, expected {expected} (upstream {UPSTREAM_REPO}@{UPSTREAM_COMMIT[:7]})"
            )
        sums.append(actual)
    return _combined_digest(sums)


def download_wheel_files(target: str | os.PathLike | None = None, url: str = RAW_URL) -> Path:
    """Download the seven files from the upstream repository at the pinned commit into ``target``, SHA-256 checked."""
    target = Path(target) if target is not None else cache_root() / "emotion_wheel" / UPSTREAM_COMMIT[:7]
    target.mkdir(parents=True, exist_ok=True)
    for name, expected in SHA256.items():
        path = target / name
        if path.is_file() and file_sha256(path) == expected:
            continue
        source = url.format(name=name)
        with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310 (fixed https URL)
            data = response.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ValueError(f"download of {source} has SHA-256 {actual}, expected {expected}")
        with tempfile.NamedTemporaryFile(dir=target, delete=False) as tmp:
            tmp.write(data)
        shutil.move(tmp.name, path)
    return target


def _checkout_copy() -> Path | None:
    """A verified copy beside a source checkout (``<checkout>/../shared/emotion_wheel``, as CI lays it out)."""
    candidate = Path(__file__).resolve().parents[3].parent / "shared" / "emotion_wheel"
    try:
        verify_wheel_dir(candidate)
    except (OSError, ValueError):
        return None
    return candidate


def resolve_wheel_dir(wheel_dir: str | os.PathLike | None = None) -> Path:
    """The folder to read: ``wheel_dir``, else $MER_UNIBENCH_WHEEL_DIR, else the pinned download (cached); offline,
    a SHA-256-verified copy beside a source checkout is used when the download cannot be made."""
    if wheel_dir is None:
        wheel_dir = os.environ.get(ENV_WHEEL_DIR) or None
    if wheel_dir is None:
        try:
            return download_wheel_files()
        except OSError as error:
            local = _checkout_copy()
            if local is None:
                raise OSError(
                    f"could not download the emotion-wheel files ({error}); pass wheel_dir= or set ${ENV_WHEEL_DIR} "
                    "to a folder holding format.csv, synonym.xlsx and wheel1-5.xlsx"
                ) from error
            return local
    folder = Path(wheel_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"emotion-wheel folder {folder} does not exist (from wheel_dir= or ${ENV_WHEEL_DIR})")
    return folder


# ----------------------------------------------------------------------------------------------------------------------
# Parsing with upstream's rules (my_affectgpt/evaluation/wheel.py at fffca79), written anew.


def _norm(text: str) -> str:
    return text.lower().strip()


def _read_wheel(path: Path) -> dict[str, dict[str, list[str]]]:
    """level1 -> level2 -> [level3], blank cells continuing the cell above (each column on its own)."""
    import pandas as pd

    tree: dict[str, dict[str, list[str]]] = {}
    current = ["", "", ""]
    frame = pd.read_excel(path)
    for row in zip(frame["level1"], frame["level2"], frame["level3"], strict=True):
        for i, cell in enumerate(row):
            if not pd.isna(cell):
                current[i] = cell
        level1, level2, level3 = (_norm(cell) for cell in current)
        tree.setdefault(level1, {}).setdefault(level2, []).append(level3)
    return tree


def _wheel_to_level1(tree: dict[str, dict[str, list[str]]]) -> dict[str, str]:
    """Every wheel word -> its level-1 sector, later rows overwriting earlier ones as upstream's loop does."""
    mapping: dict[str, str] = {}
    for level1, children in tree.items():
        mapping[level1] = level1
        for level2, leaves in children.items():
            mapping[level2] = level1
            for level3 in leaves:
                mapping[level3] = level1
    return mapping


def _read_format2raws(path: Path) -> dict[str, list[str]]:
    """Word form -> base words (format.csv), in upstream's order; the base word maps to itself."""
    import pandas as pd

    frame = pd.read_csv(path)
    mapping: dict[str, list[str]] = {}
    for raw, forms in zip(frame["name"], frame["format"], strict=True):
        raw = "" if pd.isna(raw) else raw
        forms = "" if pd.isna(forms) else forms
        for form in parse_label_string(forms):
            mapping.setdefault(form, []).append(raw)
        mapping.setdefault(raw, []).append(raw)
    return mapping


def _read_raw2wheel(path: Path) -> dict[str, list[str]]:
    """Base word / synonym -> wheel words, merged over the 8 GPT runs of synonym.xlsx (a set per key)."""
    import pandas as pd

    frame = pd.read_excel(path)
    runs = sorted({int(m.group(1)) for c in frame.columns if (m := re.fullmatch(r"word_run(\d+)", str(c)))})
    merged: dict[str, set[str]] = {}
    for run in runs:
        for word, synonyms in zip(frame[f"word_run{run}"], frame[f"synonym_run{run}"], strict=True):
            word = _norm(word)
            merged.setdefault(word, set()).add(word)
            synonyms = [] if not isinstance(synonyms, str) else parse_label_string(synonyms)
            for synonym in synonyms:
                merged.setdefault(_norm(synonym), set()).add(word)
    return {key: sorted(value) for key, value in merged.items()}


def _sector_table(format2raws: dict[str, list[str]], raw2wheel: dict[str, list[str]], level1: dict[str, str]):
    """Upstream's rule: of all wheel words reachable from a form, the alphabetically first one on this wheel wins."""
    table: dict[str, str] = {}
    for form, raws in format2raws.items():
        candidates = sorted({word for raw in raws for word in raw2wheel[raw]})
        for word in candidates:
            if word in level1:
                table[form] = level1[word]
                break
    return table


def parse_wheel_dir(folder: str | os.PathLike, digest: str = "") -> EmotionWheels:
    """Read the seven files of ``folder`` (slow: xlsx) into an EmotionWheels."""
    folder = Path(folder)
    format2raws = _read_format2raws(folder / "format.csv")
    raw2wheel = _read_raw2wheel(folder / "synonym.xlsx")
    missing = sorted({raw for raws in format2raws.values() for raw in raws if raw not in raw2wheel})
    if missing:
        raise ValueError(f"{folder / 'format.csv'} names base words absent from synonym.xlsx: {missing[:5]}")
    sectors, wheel_sectors, wheel_words = [], [], []
    for k in range(1, N_WHEELS + 1):
        tree = _read_wheel(folder / f"wheel{k}.xlsx")
        wheel_words.append(_wheel_to_level1(tree))
        sectors.append(_sector_table(format2raws, raw2wheel, wheel_words[-1]))
        wheel_sectors.append(tuple(tree))
    return EmotionWheels(
        sectors=tuple(sectors),
        format2raws=format2raws,
        raw2wheel=raw2wheel,
        wheel_sectors=tuple(wheel_sectors),
        wheel_words=tuple(wheel_words),
        source=str(folder),
        digest=digest,
    )


_MEMORY: dict[tuple[str, str], EmotionWheels] = {}


def load_wheels(
    wheel_dir: str | os.PathLike | None = None, *, verify: bool = True, cache_dir: str | os.PathLike | None = None
) -> EmotionWheels:
    """The emotion wheels, parsed once per process and cached on disk (JSON next to other affectgpt_hf caches).

    ``wheel_dir``: a folder with the seven files; default $MER_UNIBENCH_WHEEL_DIR, else downloaded from upstream at
    the pinned commit. ``verify=False`` accepts files whose SHA-256 differs from the pinned ones (custom wheels).
    """
    folder = resolve_wheel_dir(wheel_dir)
    if verify:
        digest = verify_wheel_dir(folder)
    else:
        digest = _combined_digest([file_sha256(folder / name) for name in SHA256])
    key = (str(folder.resolve()), digest)  # files rewritten in place are parsed again
    if key in _MEMORY:
        return _MEMORY[key]
    parser = source_digest(__file__)[:8]  # the parse below: a changed parser never reads an older one's cache
    cache_file = Path(cache_dir or cache_root()) / "unibench" / f"wheels-{parser}-{digest[:16]}.json"
    wheels = None
    if cache_file.is_file():
        try:
            blob = json.loads(cache_file.read_text(encoding="utf-8"))
            wheels = EmotionWheels(
                sectors=tuple(blob["sectors"]),
                format2raws=blob["format2raws"],
                raw2wheel=blob["raw2wheel"],
                wheel_sectors=tuple(tuple(s) for s in blob["wheel_sectors"]),
                wheel_words=tuple(blob["wheel_words"]),
                source=str(folder),
                digest=digest,
            )
        except (OSError, ValueError, KeyError):
            wheels = None  # a damaged cache is re-parsed and rewritten
    if wheels is None:
        wheels = parse_wheel_dir(folder, digest)
        blob = {
            "sectors": list(wheels.sectors),
            "format2raws": wheels.format2raws,
            "raw2wheel": wheels.raw2wheel,
            "wheel_sectors": [list(s) for s in wheels.wheel_sectors],
            "wheel_words": list(wheels.wheel_words),
        }
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=cache_file.parent, delete=False, encoding="utf-8") as tmp:
                json.dump(blob, tmp)
            os.replace(tmp.name, cache_file)
        except OSError:
            pass  # a read-only cache location only costs the re-parse next time
    _MEMORY[key] = wheels
    return wheels
