"""Seeded fuzzing of what reads untrusted files: the processor over 200 mutations of a valid mp4 and wav, and the
data-set builder over mutated releases. Every input either works or raises a ValueError naming the file. The
processor runs in a worker subprocess watched with a per-case timeout, so a hang or a crash of the native decoder is
counted (and the worker restarted after it), not fatal to the suite.

Run by hand: ``python tests/test_fuzz.py CASES_DIR`` works through CASES_DIR's files, one JSON line per case.
"""

from __future__ import annotations

import json
import queue
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SEED = 3
CASES = 200
CASE_TIMEOUT_S = 20.0  # one clip; the worker's start-up (imports, processor) has its own allowance


def mutate(data: bytes, other: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutation of ``data`` (``other``: the other container, for swaps): its kind and the bytes."""
    kind = rng.choice(["truncate", "flip", "zero_header", "zero_block", "swap"])
    if kind == "truncate":
        return kind, data[: rng.randrange(0, len(data))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 32)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return kind, bytes(out)
    if kind == "zero_header":
        size = rng.choice([4, 8, 12, 16, 32, 44, 64, 128])
        return kind, bytes(size) + data[size:]
    if kind == "zero_block":
        start, size = rng.randrange(len(data)), rng.randint(1, 4096)
        return kind, data[:start] + bytes(min(size, len(data) - start)) + data[start + size :]
    # swapped containers: the other format's bytes under this name, or its header spliced onto this body
    cut = rng.randrange(8, 200)
    return kind, other if rng.random() < 0.5 else other[:cut] + data[cut:]


def write_cases(folder: Path, sources: list[tuple[str, bytes]], count: int = CASES, seed: int = SEED) -> list[Path]:
    """``count`` mutated files, cycling through ``sources`` (suffix, bytes), named case_NNN_KIND.SUFFIX,
    deterministic in ``seed``; a swap takes the next source's bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        rng = random.Random(seed * 100_003 + index)
        suffix, data = sources[index % len(sources)]
        kind, mutated = mutate(data, sources[(index + 1) % len(sources)][1], rng)
        path = folder / f"case_{index:03d}_{kind}{suffix}"
        path.write_bytes(mutated)
        paths.append(path)
    return paths


AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".aac")


def _classify(path: Path, call) -> dict:
    try:
        call()
    except ValueError as error:
        named = path.name in str(error)
        return {"case": path.name, "outcome": "named-error" if named else "unnamed-error", "message": str(error)}
    except Exception as error:  # noqa: BLE001 - anything but ValueError is a finding
        return {"case": path.name, "outcome": "other-exception", "message": f"{type(error).__name__}: {error}"}
    return {"case": path.name, "outcome": "ok", "message": ""}


def worker(folder: Path, start: int) -> None:
    """Run the processor over the cases from ``start`` on: audio files as the audio beside a valid video's frames,
    the rest as the video (audio from its track). One JSON line per case on stdout; 'ready' once loaded."""
    from affectgpt_hf import AffectGPTProcessor
    from affectgpt_hf.media import sample_video_frames

    processor = AffectGPTProcessor.from_pretrained(Path(__file__).resolve().parents[1] / "hub_configs" / "tiny")
    valid_frames = sample_video_frames(folder / "valid.mp4")  # decoded once: wav cases fuzz the audio only
    print(json.dumps({"ready": True}), flush=True)
    for path in sorted(folder.glob("case_*"))[start:]:
        if path.suffix in AUDIO_SUFFIXES:
            videos, audio = [valid_frames], [str(path)]
        else:
            videos, audio = [str(path)], [None]
        result = _classify(
            path, lambda v=videos, a=audio: processor(videos=v, audio=a, subtitles=[""], task="ov_labels")
        )
        print(json.dumps(result), flush=True)


def _pump(stream, lines: queue.Queue) -> None:
    """The worker's stdout lines into ``lines``, then None when it closes."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_watched(folder: Path, budget_s: float = 110.0) -> list[dict]:
    """Every case of ``folder`` through ``worker`` subprocesses: a case with no answer within CASE_TIMEOUT_S is a
    'hang', a worker that dies mid-case a 'crash' (exit code kept); the next worker resumes after it."""
    cases = sorted(folder.glob("case_*"))
    results: list[dict] = []
    deadline = time.monotonic() + budget_s
    while len(results) < len(cases) and time.monotonic() < deadline:
        process = subprocess.Popen(
            [sys.executable, __file__, str(folder), str(len(results))],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        ready_by = time.monotonic() + 60.0
        ready = False
        while len(results) < len(cases):
            wait = (ready_by if not ready else time.monotonic() + CASE_TIMEOUT_S) - time.monotonic()
            try:
                line = lines.get(timeout=max(0.1, min(wait, deadline - time.monotonic())))
            except queue.Empty:
                process.kill()
                process.wait()
                if ready:
                    results.append({"case": cases[len(results)].name, "outcome": "hang", "message": ""})
                break
            if line is None:  # the worker ended: a crash in the current case
                code = process.wait()
                if ready and len(results) < len(cases):
                    results.append({"case": cases[len(results)].name, "outcome": "crash", "message": f"exit {code}"})
                break
            record = json.loads(line)
            if record.get("ready"):
                ready = True
            else:
                results.append(record)
        if process.poll() is None:
            process.kill()
            process.wait()
        if not ready:
            raise RuntimeError("the fuzz worker did not start")
    return results


# ----------------------------------------------------------------------------------------------------------------------
# The data-set builder over mutated releases (in process: it parses tables and checks files, it decodes nothing).

RELEASE_CONFIGS = ("mer_caption_plus", "mer2023", "ov_merd_plus")
GARBAGE_CELLS = ("", "[[[", "nan", "\x00\x01", "[happy, {sad}]", "ｎａｍｅ", "x" * 5000, '"unterminated')


RELEASE_MUTATIONS = ("delete_media", "csv_cell", "non_utf8", "truncate_table", "drop_column", "flip_table")


def mutate_release(root: Path, kind: str, rng: random.Random) -> str:
    """Damage the release at ``root`` by ``kind`` (where and how: ``rng``); the file or clip name an error must
    mention."""
    tables = sorted(p for p in root.iterdir() if p.suffix in (".csv", ".npz"))
    media = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".mp4", ".avi", ".wav", ".npy"))
    if kind == "delete_media":
        victim = rng.choice(media)
        victim.unlink()
        return victim.stem
    table = rng.choice(
        [t for t in tables if t.suffix == ".csv"] if kind in ("csv_cell", "non_utf8", "drop_column") else tables
    )
    data = table.read_bytes()
    if kind == "csv_cell":
        lines = data.decode("utf-8").splitlines()
        row = rng.randrange(1, len(lines))
        cells = lines[row].split(",")
        cells[rng.randrange(len(cells))] = rng.choice(GARBAGE_CELLS)
        lines[row] = ",".join(cells)
        table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif kind == "non_utf8":
        table.write_bytes(data.replace(b"\n", "\n\u00e9t\u00e9 ".encode("cp1252"), 2))
    elif kind == "truncate_table":
        table.write_bytes(data[: rng.randrange(0, len(data))])
    elif kind == "drop_column":
        lines = data.decode("utf-8").splitlines()
        table.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n", encoding="utf-8")
    else:
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 16)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        table.write_bytes(bytes(flipped))
    return table.name


if __name__ == "__main__":
    worker(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)


# ----------------------------------------------------------------------------------------------------------------------
# The tests.


# Containers the fuzzer mutates (each one an allowed demuxer): (suffix, PyAV container, video codec, audio codec).
FUZZ_CONTAINERS = [
    (".mkv", "matroska", "libx264", "aac"),
    (".ts", "mpegts", "libx264", "aac"),
    (".avi", "avi", "mpeg4", "pcm_s16le"),
    (".flv", "flv", "libx264", "aac"),
    (".webm", "webm", "libvpx-vp9", "libopus"),
    (".mp3", "mp3", None, "mp3"),
    (".flac", "flac", None, "flac"),
    (".ogg", "ogg", None, "libopus"),
    (".aac", "adts", None, "aac"),
]


def fuzz_sources(folder: Path) -> list[tuple[str, bytes]]:
    """The valid mp4 and wav, one clip per other allowed container, and files that point at another file (HLS
    playlists under .m3u8 and .mp4 names, an ffconcat list, an SDP file aimed at the loopback)."""
    from utils import make_clip, playlist, remux, write_container

    from affectgpt_hf.data.toy import synth_voice
    from affectgpt_hf.data.writers import write_audio

    mp4 = make_clip(folder / "valid.mp4", seconds=2.0, size=(32, 32), fps=8)
    write_audio(folder / "voice.wav", synth_voice("happy", seconds=2.0), 16000)
    target = remux(mp4, folder / "target.ts", "mpegts")
    sources = [(".mp4", mp4.read_bytes()), (".wav", (folder / "voice.wav").read_bytes())]
    for suffix, container, video, audio in FUZZ_CONTAINERS:
        sources.append((suffix, write_container(folder / f"source{suffix}", container, video, audio).read_bytes()))
    sdp = "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 9 RTP/AVP 96\n"
    pointers = [playlist(str(target)), playlist(str(target)), f"ffconcat version 1.0\nfile {target}\n", sdp]
    return sources + [
        (s, text.encode()) for s, text in zip((".m3u8", ".mp4", ".ffconcat", ".sdp"), pointers, strict=True)
    ]


@pytest.mark.timeout(150)
def test_processor_fuzz_works_or_names_the_file(tmp_path):
    from collections import Counter

    write_cases(tmp_path, fuzz_sources(tmp_path))
    results = run_watched(tmp_path)
    assert len(results) == CASES, f"only {len(results)} of {CASES} cases ran within the budget"
    counts = Counter(r["outcome"] for r in results)
    print(f"processor fuzz (seed {SEED}): {dict(counts)}")
    findings = [r for r in results if r["outcome"] not in ("ok", "named-error")]
    assert not findings, findings
    assert counts["ok"] and counts["named-error"]  # the mutations both break files and leave some readable
    suffixes = {Path(r["case"]).suffix for r in results if r["outcome"] == "ok"}
    assert {".mkv", ".ts", ".avi", ".flv", ".webm", ".mp3", ".flac", ".ogg", ".aac"} <= suffixes, suffixes
    pointers = [r for r in results if Path(r["case"]).suffix in (".m3u8", ".ffconcat", ".sdp")]
    assert pointers and all(r["outcome"] == "named-error" for r in pointers), pointers


@pytest.mark.timeout(150)
def test_builder_fuzz_names_errors_and_skip_missing_reports(tmp_path):
    import shutil
    import warnings
    from collections import Counter

    from affectgpt_hf.cli import main
    from affectgpt_hf.data.mini_release import write_mini_release

    pristine = {config: write_mini_release(tmp_path / "pristine", config, count=3) for config in RELEASE_CONFIGS}
    summary = []
    for index in range(len(RELEASE_MUTATIONS) * len(RELEASE_CONFIGS)):  # every mutation on every layout
        rng = random.Random(SEED * 7919 + index)
        kind, config = RELEASE_MUTATIONS[index % 6], RELEASE_CONFIGS[index // 6]
        root = tmp_path / f"case{index:02d}" / pristine[config].name
        shutil.copytree(pristine[config], root)
        culprit = mutate_release(root, kind, rng)
        args = ["dataset", "build", "--data-dir", str(root), "--out", str(tmp_path / f"out{index:02d}")]
        args += ["--config", config, "--embed-media"]  # media checked and embedded (annotation-only reads none)
        code, err = _run_cli(main, args)
        case = (index, config, kind, culprit, code, err)
        summary.append(f"{kind}:{'ok' if code == 0 else 'named-error'}")
        # works, or a named error: the damaged file, or (a table cut short or edited) each bad row by its clip name
        assert code == 0 or (code == 2 and (culprit in err or "bad row(s):\n  " in err)), case
        if kind == "delete_media":  # refused naming the clip; --skip-missing builds the rest and says what it skipped
            assert code == 2, case
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                code, err = _run_cli(main, [*args, "--skip-missing"])
            reports = [str(w.message) for w in caught if "skipping 1 row" in str(w.message)]
            assert code == 0 and reports and culprit in reports[0], (case, code, err, [str(w.message) for w in caught])
    print(f"builder fuzz (seed {SEED}): {dict(Counter(summary))}")


def _run_cli(main, args: list[str]) -> tuple[int, str]:
    """`affectgpt` in process: (exit code, stderr); an exception other than the CLI's named errors propagates."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(args)
    return code, err.getvalue()
