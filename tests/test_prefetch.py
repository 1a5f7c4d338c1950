"""The prefetching of clips (inference/prefetch.py) behind describe, the benchmark and cache-features: workers give the
serial outputs in the serial order; a bad clip in a worker is reported and skipped; a dead worker is a named error,
not a hang; a clip whose read stalls hits the per-clip timeout; Ctrl-C leaves no worker behind."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from utils import make_clip, tiny_model

from affectgpt_hf.cli import main
from affectgpt_hf.inference.arguments import InferenceArguments
from affectgpt_hf.inference.batch import Clip, _ClipBatches, describe
from affectgpt_hf.inference.prefetch import (
    ClipTimeout,
    Prefetcher,
    Prepared,
    WorkerError,
    deadline,
    default_num_workers,
)

pytestmark = pytest.mark.timeout(180)
SEED = 6  # a tiny random model that answers these clips with 6 different texts (asserted before relying on it)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Four short clips (different frames, tones, lengths) and, fourth in name order, a file that is no video."""
    root = tmp_path_factory.mktemp("videos")
    for i in range(4):
        make_clip(root / f"c{i}.mp4", seconds=1.0 + 0.5 * (i % 3), seed=i)
    (root / "c2x.mp4").write_bytes(b"this is not a video")
    lines = [f"c{i},{'line ' * (i + 1)}{i}" for i in range(4)]
    (root.parent / f"{root.name}.csv").write_text("name,subtitle\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def items(folder) -> list[Clip]:
    paths = sorted(folder.glob("*.mp4"))
    return [Clip(p.stem, video=str(p), subtitle=f"line {i} " * (i + 1)) for i, p in enumerate(paths)]


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir) -> Path:
    return tiny_model_dir(seed=SEED)


def _describe_cli(folder: Path, model_dir: Path, out: Path, workers: int) -> list[dict]:
    args = ["describe", str(folder), "--model", str(model_dir), "--batch-size", "2", "--max-new-tokens", "12"]
    args += ["--subtitles", str(folder.parent / f"{folder.name}.csv")]
    assert main([*args, "--num-workers", str(workers), "--output", str(out)]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_workers_give_the_serial_jsonl(folder, model_dir, tmp_path, capsys):
    serial = _describe_cli(folder, model_dir, tmp_path / "serial.jsonl", workers=0)
    texts = [r["text"] for r in serial if "error" not in r]
    assert len(set(texts)) == 4, texts  # the answers depend on the clip, so an order slip would show
    _describe_cli(folder, model_dir, tmp_path / "workers.jsonl", workers=2)
    assert (tmp_path / "workers.jsonl").read_bytes() == (tmp_path / "serial.jsonl").read_bytes()
    assert [r["name"] for r in serial] == ["c0", "c1", "c2", "c2x", "c3"]
    assert "c2x.mp4" in serial[3]["error"] and serial[3]["text"] is None  # batch 2 of 3: worker 2's
    assert capsys.readouterr().err.count("skipped 1 clip(s) that could not be read: c2x") == 2


def test_prepared_batches_equal_in_order(items, tiny_processor):
    """The model inputs themselves: the same tensors, batch by batch, with 0 and 2 workers; different per clip."""

    def prepared(workers: int) -> list:
        prepare = _ClipBatches(tiny_processor, items, {"task": "ov_labels", "question": None}, 30.0)
        with Prefetcher(len(items), 2, prepare, num_workers=workers) as batches:
            assert batches.num_workers == workers
            return list(batches)

    serial, parallel = prepared(0), prepared(2)
    assert [b.indices for b in parallel] == [[0, 1], [2, 3], [4]]
    assert [b.kept for b in parallel] == [[0, 1], [2], [4]] and list(parallel[1].errors) == [3]
    for one, other in zip(serial, parallel, strict=True):
        assert (one.number, one.indices, one.kept, one.errors) == (
            other.number,
            other.indices,
            other.kept,
            other.errors,
        )
        assert one.inputs.keys() == other.inputs.keys() == {"input_ids", "attention_mask", "pixel_values_videos",
                                                            "input_values"}  # fmt: skip
        for key in one.inputs:
            assert torch.equal(one.inputs[key], other.inputs[key]), key
    pixels = torch.cat([b.inputs["pixel_values_videos"] for b in serial])
    assert all(not torch.equal(pixels[i], pixels[i + 1]) for i in range(len(pixels) - 1))


def test_bad_clip_in_a_worker_is_reported_and_skipped(items, tiny_processor, caplog):
    model = tiny_model(seed=SEED)
    clips = items[1:]  # c1 c2 | c2x c3: the bad clip in the second worker's batch
    runtime = InferenceArguments(batch_size=2, max_new_tokens=3, num_workers=2)
    with caplog.at_level(logging.WARNING, logger="affectgpt_hf.inference.batch"):
        results = describe(model, tiny_processor, clips, runtime, progress=False)
    assert [r.name for r in results] == ["c1", "c2", "c2x", "c3"]
    bad = results[2]
    assert bad.error.startswith(f"{clips[2].video} is not a readable media file") and bad.text is None
    assert all(r.error is None and isinstance(r.text, str) for i, r in enumerate(results) if i != 2)
    assert [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()] == [f"skipping c2x: {bad.error}"]
    with pytest.raises(ValueError, match="c2x.mp4 is not a readable media file"):
        describe(model, tiny_processor, clips, runtime, skip_errors=False, progress=False)


class _Served(io.RawIOBase):
    """A seekable file object over ``data``, served 1 KiB a read, whose reads call ``when_read(position)`` first (to
    stall or die there)."""

    def __init__(self, data: bytes, when_read) -> None:
        self.data, self.position, self.when_read = data, 0, when_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = [offset, self.position + offset, len(self.data) + offset][whence]
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        self.when_read(self.position)
        chunk = self.data[self.position : self.position + min(len(buffer), 1024)]
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


def _killer(position: int) -> None:
    """Dies like a worker the OOM killer takes; in the main process (no workers) it is an ordinary bad read."""
    if torch.utils.data.get_worker_info() is None:
        raise ValueError("the killer clip was read in the main process; expected a worker")
    os.kill(os.getpid(), signal.SIGKILL)


def test_dead_worker_is_an_error_naming_the_batch(items, tiny_processor):
    model = tiny_model(seed=SEED)
    good = [c for c in items if c.name != "c2x"]
    killer = Clip("killer", video=_Served(Path(good[0].video).read_bytes(), _killer))
    clips = [*good[:2], killer, *good[2:]]  # c0 c1 | killer c2 | c3: the second worker dies on batch 2
    with pytest.raises(WorkerError, match=r"died while preparing batch 2 of 3 \(clips killer, c2\): DataLoader worker"):
        describe(model, tiny_processor, clips, InferenceArguments(batch_size=2, max_new_tokens=3, num_workers=2))


@pytest.mark.parametrize("workers", [0, 2])
def test_stalled_read_hits_the_clip_timeout(items, tiny_processor, workers):
    """A read that never returns (an empty pipe: what a stalled mount or a dead stream does) is skipped after
    ``clip_timeout`` like a corrupt clip, in a worker and in the main process."""
    model = tiny_model(seed=SEED)
    read_end, write_end = os.pipe()
    data = Path(items[0].video).read_bytes()

    def stall(position: int) -> None:
        if position >= 2048:  # the demuxer has started
            os.read(read_end, 1)

    stalled = Clip("stalled", video=_Served(data, stall), audio=items[0].video)
    clips = [items[3], stalled]  # c2x | stalled: one batch each, the second worker's the stalled one
    try:
        runtime = InferenceArguments(batch_size=1, num_workers=workers, clip_timeout=1.0)
        results = describe(model, tiny_processor, clips, runtime, progress=False)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert [r.name for r in results] == ["c2x", "stalled"]
    assert results[1].error.startswith("stalled was not ready after 1 s (per-clip timeout") and results[1].text is None


class _TheirTimeout(Exception):
    pass


def test_deadline_keeps_another_timer_running():
    """pytest-timeout (and others) use SIGALRM too: their timer goes on with the time it had left, and fires even
    while a clip is stuck in code that swallows the deadline's exception."""
    fired = []

    def theirs(*_) -> None:
        fired.append(time.monotonic())
        raise _TheirTimeout

    previous = signal.signal(signal.SIGALRM, theirs)
    try:
        signal.setitimer(signal.ITIMER_REAL, 50.0)
        with deadline(5.0, "x"):
            pass
        with pytest.raises(ClipTimeout, match="x was not ready after 0.2 s"), deadline(0.2, "x"):
            time.sleep(5)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 40 < left <= 50 and signal.getsignal(signal.SIGALRM) is theirs and not fired

        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with pytest.raises(_TheirTimeout), deadline(0.2, "stuck"):
            while True:  # a library that eats every exception
                try:
                    time.sleep(5)
                except ClipTimeout:
                    pass
        time.sleep(0.1)  # their one-shot timer, once fired, is not armed again (it was, 1 ms ahead, and fired twice)
        assert len(fired) == 1 and signal.getsignal(signal.SIGALRM) is theirs
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_each_batch_seeded_as_the_benchmark_seeded_it(items, tiny_processor):
    """seed_each_batch (the benchmark's): batch k is sampled after torch.manual_seed(seed + k), also in workers; each
    batch's results reach on_batch as it is done."""
    model = tiny_model(seed=SEED)
    good = [c for c in items if c.name != "c2x"]
    runtime = InferenceArguments(batch_size=2, max_new_tokens=4, upstream_sampling=True, seed=7, num_workers=2)
    streamed = []
    whole = describe(model, tiny_processor, good, runtime, seed_each_batch=True, on_batch=streamed.append,
                     progress=False)  # fmt: skip
    assert streamed == [whole[0:2], whole[2:4]]
    alone = InferenceArguments(batch_size=2, max_new_tokens=4, upstream_sampling=True, seed=8, num_workers=0)
    assert describe(model, tiny_processor, good[2:4], alone, progress=False) == whole[2:4]


def test_cache_features_with_workers_equals_without(tmp_path, tiny_processor):
    from affectgpt_hf.data import load_mer_caption
    from affectgpt_hf.data.mini_release import write_mini_release
    from affectgpt_hf.training.collator import AUDIO_FEATURES, VIDEO_FEATURES
    from affectgpt_hf.training.features import cache_features

    rows = load_mer_caption(write_mini_release(tmp_path, "mer_caption_plus", count=4))
    model = tiny_model(seed=SEED)
    serial = cache_features(model, tiny_processor, rows, batch_size=2, num_workers=0)
    parallel = cache_features(model, tiny_processor, rows, batch_size=2, num_workers=2)
    assert parallel["name"] == serial["name"] == rows["name"]
    for column in (VIDEO_FEATURES, AUDIO_FEATURES):
        one, other = np.asarray(serial[column]), np.asarray(parallel[column])
        assert one.shape[0] == 4 and np.array_equal(one, other), column
        assert all(not np.array_equal(one[i], one[i + 1]) for i in range(3)), column


def test_default_workers_leave_a_core_per_process_and_none_beside_a_cpu_model(monkeypatch):
    for cpus, processes, expected in ((1, 1, 0), (2, 1, 1), (3, 1, 2), (16, 1, 4), (16, 8, 1), (8, 8, 0)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, n=cpus: set(range(n)))
        monkeypatch.setenv("LOCAL_WORLD_SIZE", str(processes))
        assert default_num_workers("cuda:0") == expected, (cpus, processes)
        assert default_num_workers(torch.device("cpu")) == 0


def test_prefetcher_takes_its_settings_from_the_device_and_warns_when_workers_and_threads_share_cores(
    monkeypatch, caplog
):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    nothing = lambda n, i: None  # noqa: E731
    gpu = Prefetcher(8, 2, nothing, num_workers=None, device="cuda:0")
    assert (gpu.num_workers, gpu.pin_memory) == (1, True)
    cpu = Prefetcher(8, 2, nothing, num_workers=None, device=torch.device("cpu"))
    assert (cpu.num_workers, cpu.pin_memory) == (0, False)
    threads = torch.get_num_threads()
    try:
        for torch_threads, workers, device, warned in (
            (2, 2, "cpu", True),
            (2, 1, "cpu", True),
            (1, 2, "cpu", False),  # the model on the one core the workers leave (at least one)
            (2, 0, "cpu", False),
            (2, 2, "cuda", False),
        ):
            torch.set_num_threads(torch_threads)
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="affectgpt_hf.inference.prefetch"):
                Prefetcher(8, 2, nothing, num_workers=workers, device=device)
            assert ("slow each other down" in caplog.text) is warned, (torch_threads, workers, device)
            if warned:
                assert f"{workers} media workers and the model's 2 torch threads share 2 CPUs" in caplog.text
                assert "torch.set_num_threads(1)" in caplog.text
    finally:
        torch.set_num_threads(threads)


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_leaves_no_worker_behind(folder, model_dir, tmp_path):
    """SIGINT to `affectgpt describe` while its workers decode: the command stops and no worker outlives it."""
    many = tmp_path / "many"
    many.mkdir()
    for i in range(24):
        os.symlink(folder / f"c{i % 4}.mp4", many / f"m{i:02d}.mp4")
    command = [sys.executable, "-m", "affectgpt_hf.cli", "describe", str(many), "--model", str(model_dir)]
    command += ["--batch-size", "1", "--max-new-tokens", "64", "--num-workers", "2", "--output", str(tmp_path / "o")]
    # SIGINT as a terminal delivers it: a pytest run as a background job (`pytest &`) ignores SIGINT, and a child
    # that starts with it ignored keeps it so (Python then raises no KeyboardInterrupt)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        workers: set[int] = set()
        started = time.monotonic()
        while len(workers) < 2 and process.poll() is None and time.monotonic() - started < 120:
            workers = _children(process.pid)
            time.sleep(0.05)
        assert len(workers) >= 2, f"no workers seen; the command ended with {process.poll()}"
        time.sleep(0.5)  # the workers are decoding
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0 and "KeyboardInterrupt" in err
    time.sleep(0.5)  # a worker's own watchdog would end it only after 5 s: what is still running now was left behind
    assert not [pid for pid in workers if _running(pid)]


def _fail_first_then_sleep(number: int, indices: list[int]) -> Prepared:
    """Batch 0 fails; batch 2, which the same worker takes next, keeps it busy for a minute; batch 1 is quick, so the
    other worker is idle when the block is left."""
    if number == 0:
        raise RuntimeError("boom")
    if number == 2:
        time.sleep(60)
    return Prepared(number, indices)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_leaving_on_an_error_shuts_the_workers_down():
    """An error out of the pipeline (here a worker's, re-raised by the DataLoader) stops the other workers when the
    block is left, even while the caller keeps the exception (whose traceback holds the DataLoader's iterator)."""
    before = _children(os.getpid())
    with pytest.raises(RuntimeError, match="boom") as caught:
        with Prefetcher(3, 1, _fail_first_then_sleep, num_workers=2) as batches:
            workers: set[int] = set()
            while len(workers) < 2:
                workers = _children(os.getpid()) - before
            list(batches)
    assert caught.value.__traceback__ is not None and len(workers) == 2
    assert not [pid for pid in workers if _running(pid)]


def test_prefetcher_rejects_bad_settings():
    with pytest.raises(ValueError, match="num_workers=-1"):
        Prefetcher(4, 2, lambda n, i: None, num_workers=-1)
    with pytest.raises(ValueError, match="batch_size=0"):
        Prefetcher(4, 0, lambda n, i: None)
    assert Prefetcher(2, 2, lambda n, i: None, num_workers=4).num_workers == 0  # one batch: nothing to overlap
    assert Prefetcher(6, 2, lambda n, i: None, num_workers=8).num_workers == 3
