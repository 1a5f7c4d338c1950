"""MER-UniBench end to end: the 9 test sets -> batched inference -> label extraction -> scores -> report.

`affectgpt benchmark` runs this. Each clip is described with upstream's OV question (upstream's ``--zeroshot``; the
subtitle upstream feeds, Chinese for MER2024) through :func:`inference.describe`; labels come from unibench's offline
extractor or an LLM judge; OV lists become sentiment for the 4 sentiment sets; unibench scores them. Protocols: one
checkpoint (default) or upstream's best epoch per data set over ``checkpoints``. Everything is cached per data set
and checkpoint under ``output_dir`` (an interrupted run continues, a re-score runs no inference):

    OUT/predictions/<ckpt>/run.json                  settings the cached answers were made with
    OUT/predictions/<ckpt>/<Dataset>.jsonl           name, text (error) per clip, appended batch by batch
    OUT/predictions/<ckpt>/<Dataset>.<mode>.jsonl    name, labels (sentiment) per clip from one extraction mode
    OUT/upstream/results-<dataset>/checkpoint_XXXXXX[-openset[-sentiment]].npz   upstream's layout, on request
    OUT/samples/<Dataset>.jsonl                      per clip: gold, text, labels (sentiment) of the reported ckpt
    OUT/benchmark.json, benchmark.md, benchmark.png  the report

Under ``accelerate launch`` (or torchrun) the pending clips of each set are split across processes, each appends
to its own part file, and the main process merges the parts before extraction and scoring.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import re
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .data import LAYOUTS, load_unibench
from .inference import Clip, InferenceArguments, describe, generation_kwargs, load_model
from .unibench import DATASETS, PAPER_TABLE2, get_benchset, get_extractor, score_predictions, unibench_mean
from .unibench.benchsets import PAPER_AFFECTGPT_ROWS, PAPER_SECONDARY, BenchSet
from .unibench.extraction import ScoringArguments
from .unibench.files import LABELS, SENTIMENT, Predictions

logger = logging.getLogger(__name__)

# MER-UniBench set (upstream key, unibench's name) -> data builder config.
CONFIG_OF: dict[str, str] = {
    layout.upstream_key: layout.name for layout in LAYOUTS.values() if layout.upstream_key in DATASETS
}
SINGLE = "single checkpoint"
BEST_EPOCH = "upstream best epoch per data set (argmax of the primary metric over the checkpoints)"


@dataclass
class BenchmarkConfig(InferenceArguments, ScoringArguments):
    """What one benchmark run does (also the options of `affectgpt benchmark`): these fields, plus how clips run
    through the model (:class:`InferenceArguments`) and how answers are scored (:class:`ScoringArguments`).
    ``checkpoints`` (folders, or names under ``model``) turn on the best-epoch protocol; ``limit`` keeps the first N
    clips of each set (smoke runs; the report says so)."""

    model: str | None = field(
        default=None, metadata={"help": "a saved AffectGPT folder or Hub id (or the folder holding --checkpoints)"}
    )
    data_root: str = field(
        default="", metadata={"help": "folder holding the upstream test-set releases", "required": True}
    )
    datasets: list[str] | None = field(
        default=None, metadata={"help": "subset, e.g. MER2023 OVMERDPlus or mer2023 ov_merd_plus (default: all 9)"}
    )
    checkpoints: list[str] | None = field(
        default=None,
        metadata={
            "help": "several checkpoint folders (paths or names under --model): upstream's best epoch per data set"
        },
    )
    output_dir: str = field(default="runs/benchmark", metadata={"help": "report and caches (reruns continue here)"})
    upstream_npz: bool = field(default=False, metadata={"help": "also write upstream's result npz files"})
    cache_dir: str | None = field(default=None, metadata={"help": "datasets cache for the built test sets"})
    limit: int | None = field(default=None, metadata={"help": "first N clips of each set (smoke runs)"})
    progress: bool = field(default=True, metadata={"help": "progress bars (--no-progress: none)"})


# ----------------------------------------------------------------------------------------------------------------------
# Processes: one, or several under accelerate launch / torchrun (one GPU each, or CPU processes over gloo).


class _Processes:
    def __init__(self, device: str | None) -> None:
        self.state = None
        self.rank, self.world = 0, 1
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch
            from accelerate import PartialState

            cpu = device == "cpu" or not torch.cuda.is_available()
            self.state = PartialState(cpu=cpu)
            self.rank, self.world = self.state.process_index, self.state.num_processes
            device = "cpu" if cpu else str(self.state.device)
        self.device = device or _default_device()
        self.is_main = self.rank == 0

    def barrier(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()

    def gather(self, item: object) -> list:
        if self.state is None:
            return [item]
        from accelerate.utils import gather_object

        return gather_object([item])

    @contextmanager
    def main_first(self) -> Iterator[None]:
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


def _free_accelerator_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# ----------------------------------------------------------------------------------------------------------------------
# Small helpers.


def resolve_datasets(names: Sequence[str] | None) -> list[BenchSet]:
    """``--datasets`` values (upstream keys such as MER2023, or config names such as mer2023) -> specs, in Table 2
    order; None -> all 9."""
    if not names:
        return list(DATASETS.values())
    chosen = []
    for name in names:
        spec = get_benchset(name)
        if spec not in chosen:
            chosen.append(spec)
    return [spec for spec in DATASETS.values() if spec in chosen]


def resolve_checkpoints(model: str | None, checkpoints: Sequence[str] | None) -> list[tuple[str, str]]:
    """(tag, path) per checkpoint: ``checkpoints`` as paths or names under ``model``; else ``model`` alone."""
    if not checkpoints:
        if not model:
            raise ValueError("benchmark needs --model (a saved AffectGPT folder or Hub id) or --checkpoints")
        return [(_slug(Path(str(model).rstrip("/")).name) or "model", str(model))]
    out: list[tuple[str, str]] = []
    for item in checkpoints:
        path = Path(item)
        if not path.exists() and model and (Path(model) / item).exists():
            path = Path(model) / item
        if not path.exists():
            where = f" or under {model}" if model else ""
            raise FileNotFoundError(f"checkpoint {item} does not exist{where}; expected a saved AffectGPT folder")
        tag = _slug(path.name) or "checkpoint"
        tags = [t for t, _ in out]
        if tag in tags:
            tag = f"{tag}_{len(out)}"
        out.append((tag, str(path)))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")


def _read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL cache; a line cut short by an interrupted run is dropped (its clip runs again)."""
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


def _append_jsonl(path: Path, rows: Sequence[dict]) -> None:
    """Append rows; a partial last line left by an interrupted write is cut off first."""
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


def _write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def versions() -> dict[str, str]:
    """Library versions, Python and the accelerator, for the report."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("affectgpt-hf", "torch", "transformers", "datasets", "accelerate", "peft", "av"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            pass
    import torch

    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Data sets.


@dataclass
class TestSet:
    """One loaded test set: its spec, clips (upstream's inputs) and gold values by name."""

    spec: BenchSet
    clips: list[Clip]
    references: dict[str, object]
    folder: str = ""


def load_testset(data_root: str | os.PathLike, spec: BenchSet, cache_dir: str | None = None, limit: int | None = None):
    """A test set from its upstream release under ``data_root`` (the data builders) -> clips and references.

    Upstream's OV-MERD+ reader turns an empty openset into ['neutral']; done here too ("neutral" maps to no wheel
    sector, so such samples count nowhere either way)."""
    config = CONFIG_OF[spec.name]
    kwargs = {"cache_dir": cache_dir} if cache_dir else {}
    if not _has_face_folder(data_root, config):  # a release without openface_face/: face models crop faces themselves
        kwargs["media"] = ("video", "audio")
    table = load_unibench(data_root, config, **kwargs)
    if limit is not None:
        table = table.select(range(min(limit, len(table))))
    column = {"ov": "ov_labels", "basic": "emotion", "sentiment": "valence"}[spec.task]
    clips, references = [], {}
    for row in table:
        clips.append(
            Clip(
                name=row["name"],
                video=(row.get("video") or {}).get("path"),
                audio=(row.get("audio") or {}).get("path"),
                faces=row.get("face"),
                subtitle=row.get("subtitle") or "",
            )
        )
        gold = row[column]
        if spec.task == "ov":
            gold = list(gold) or ["neutral"]
        references[row["name"]] = gold
    return TestSet(spec, clips, references, str(data_root))


def _has_face_folder(data_root: str | os.PathLike, config: str) -> bool:
    from .data.layouts import get_layout
    from .data.releases import resolve_release_dir

    layout = get_layout(config)
    return (resolve_release_dir(data_root, layout.name) / layout.face_pattern.split("/")[0]).is_dir()


# ----------------------------------------------------------------------------------------------------------------------
# The run.


@dataclass
class _DatasetResult:
    texts: dict[str, dict] = field(default_factory=dict)
    extracted: dict[str, dict] = field(default_factory=dict)
    scored: dict[str, Any] = field(default_factory=dict)
    described: int = 0
    seconds: float = 0.0


class BenchmarkRunner:
    """Runs a :class:`BenchmarkConfig`: inference per checkpoint and set (answers cached), then extraction and scores
    (main process), then the report. ``on_dataset_done(dataset, checkpoint_tag)`` is called once a set's answers are
    all cached (main process; tests stop there); ``describe_fn`` replaces :func:`inference.describe` (results it
    passes to ``on_batch`` are cached as they come, the rest of what it returns at the end)."""

    def __init__(
        self,
        config: BenchmarkConfig,
        on_dataset_done: Callable[[str, str], None] | None = None,
        describe_fn: Callable[..., list] | None = None,
    ) -> None:
        if config.batch_size < 1:
            raise ValueError(f"batch_size={config.batch_size}; expected a positive integer")
        if config.judge_sampling not in ("greedy", "upstream"):
            raise ValueError(f"judge_sampling={config.judge_sampling!r}; expected 'greedy' or 'upstream'")
        if not config.data_root:
            raise ValueError("benchmark needs --data-root (the folder holding the upstream test-set releases)")
        self.config = config
        self.specs = resolve_datasets(config.datasets)
        self.checkpoints = resolve_checkpoints(config.model, config.checkpoints)
        self.out = Path(config.output_dir)
        self.on_dataset_done = on_dataset_done
        self.describe_fn = describe_fn or describe
        self.procs = _Processes(config.device)
        self._extractor = None

    # settings that make cached answers reusable
    def decoding(self) -> dict[str, Any]:
        config = self.config
        return {
            "mode": "upstream-sampling" if config.upstream_sampling else "greedy",
            "seed": config.seed,
            "generate_kwargs": generation_kwargs(config.upstream_sampling, config.max_new_tokens),
            "task": "ov_labels",
        }

    def _manifest(self, tag: str, path: str) -> dict[str, Any]:
        where = str(Path(path).resolve()) if Path(path).exists() else path  # a folder, or a Hub id
        return {"checkpoint": where, "decoding": self.decoding(), "dtype": self.config.dtype}

    def _check_manifest(self, folder: Path, tag: str, path: str) -> None:
        """Cached answers are reused only for the same checkpoint, decoding, dtype and limit (main process)."""
        if not self.procs.is_main:
            return
        wanted = self._manifest(tag, path)
        file = folder / "run.json"
        if file.is_file():
            have = json.loads(file.read_text(encoding="utf-8"))
            if have != wanted:
                raise ValueError(
                    f"{folder} holds answers made with {have}; this run asks for {wanted}. "
                    "Use another --output-dir (or delete that folder) to run with new settings"
                )
        else:
            folder.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")

    @property
    def extractor(self):
        if self._extractor is None:
            if self.config.judge:
                self._extractor = get_extractor(self.config.judge, sampling=self.config.judge_sampling)
            else:
                from .unibench import LexiconExtractor, load_wheels

                self._extractor = LexiconExtractor(load_wheels(self.config.wheel_dir))
        return self._extractor

    def _extraction_mode(self) -> str:
        if not self.config.judge:
            return "offline-lexicon"
        sampling = "upstream-sampling" if self.config.judge_sampling == "upstream" else "greedy"
        return f"llm-judge:{self.config.judge}:{sampling}"

    def run(self) -> dict[str, Any] | None:
        """Run (or continue) the benchmark; the report dict on the main process, None on the others."""
        procs, config = self.procs, self.config
        with procs.main_first():
            testsets = {
                spec.name: load_testset(config.data_root, spec, config.cache_dir, config.limit) for spec in self.specs
            }
        results: dict[str, dict[str, _DatasetResult]] = {}
        for tag, path in self.checkpoints:
            folder = self.out / "predictions" / tag
            procs.barrier()
            self._check_manifest(folder, tag, path)
            procs.barrier()
            model = processor = None
            for spec in self.specs:
                testset = testsets[spec.name]
                file = folder / f"{spec.name}.jsonl"
                done = {row["name"] for part in self._answer_files(folder, spec.name) for row in _read_jsonl(part)}
                pending = [clip for clip in testset.clips if clip.name not in done]
                shard = pending[procs.rank :: procs.world]
                described, seconds = 0, 0.0
                if pending and model is None:
                    model, processor = load_model(path, dtype=config.dtype, device=procs.device)
                if shard:
                    described, seconds = self._describe(model, processor, shard, spec, tag, folder)
                stats = procs.gather((described, seconds))
                procs.barrier()
                if procs.is_main:
                    result = self._merge_answers(testset, tag, folder, file)
                    result.described = sum(n for n, _ in stats)
                    result.seconds = max(s for _, s in stats)
                    if result.described:
                        rate = result.described / max(result.seconds, 1e-9)
                        print(
                            f"{spec.name} [{tag}]: {result.described} clips in {result.seconds:.1f} s "
                            f"({rate:.2f} clips/s, {procs.world} process(es), batch {config.batch_size})"
                        )
                    results.setdefault(spec.name, {})[tag] = result
                    if self.on_dataset_done is not None:
                        self.on_dataset_done(spec.name, tag)
                procs.barrier()
            del model, processor
            _free_accelerator_memory()
        if not procs.is_main:
            return None
        # extraction after all inference: an LLM judge never shares the accelerator with an AffectGPT checkpoint
        for tag, _ in self.checkpoints:
            for spec in self.specs:
                self._extract_and_score(testsets[spec.name], tag, results[spec.name][tag])
        report = self._report(testsets, results)
        write_benchmark_report(report, self.out)
        return report

    @staticmethod
    def _answer_files(folder: Path, name: str) -> list[Path]:
        return [folder / f"{name}.jsonl", *sorted(folder.glob(f"{name}.rank*.jsonl"))]

    def _describe(
        self, model, processor, shard: list[Clip], spec: BenchSet, tag: str, folder: Path
    ) -> tuple[int, float]:
        """Describe this process's clips (its own media workers preparing the next batches), appending each batch's
        answers to the cache as they come."""
        config, procs = self.config, self.procs
        file = folder / (f"{spec.name}.jsonl" if procs.world == 1 else f"{spec.name}.rank{procs.rank}.jsonl")
        bar = tqdm(
            total=len(shard),
            desc=f"{spec.name} [{tag}]" + (f" rank {procs.rank}" if procs.world > 1 else ""),
            unit="clip",
            disable=not config.progress,
        )
        started = time.perf_counter()
        base_seed = None if config.seed is None else config.seed + zlib.crc32(spec.name.encode()) % 100_003
        if any(clip.faces is None for clip in shard):  # no OpenFace crops: face models crop faces from the video
            from .faces import default_faces

            auto = default_faces(processor.input_mode)
            shard = [clip if clip.faces is not None else replace(clip, faces=auto) for clip in shard]
        written: set[str] = set()

        def append(answers: list) -> None:
            rows = []
            for answer in answers:
                row = {"name": answer.name, "text": answer.text}
                if getattr(answer, "face_source", None) is not None:
                    row["face_source"] = answer.face_source
                    row["frames_without_face"] = answer.frames_without_face
                if answer.error is not None:
                    row["error"] = answer.error
                rows.append(row)
            _append_jsonl(file, rows)
            written.update(answer.name for answer in answers)
            bar.update(len(answers))

        answers = self.describe_fn(
            model,
            processor,
            shard,
            task="ov_labels",
            batch_size=config.batch_size,
            upstream_sampling=config.upstream_sampling,
            seed=base_seed,
            seed_each_batch=True,  # batch k: base_seed + k
            max_new_tokens=config.max_new_tokens,
            progress=False,
            num_workers=config.num_workers,
            clip_timeout=config.clip_timeout,
            on_batch=append,  # each batch cached as it comes
            on_no_face="frames",  # a clip without a face gets the frame input and is counted, not dropped
        )
        rest = [answer for answer in answers if answer.name not in written]  # a describe_fn that did not stream
        if rest:
            append(rest)
        bar.close()
        return len(shard), time.perf_counter() - started

    def _merge_answers(self, testset: TestSet, tag: str, folder: Path, file: Path) -> _DatasetResult:
        """Merge the processes' part files into the set's answer file (in the set's order)."""
        spec = testset.spec
        answers: dict[str, dict] = {}
        parts = self._answer_files(folder, spec.name)
        for part in parts:
            for row in _read_jsonl(part):
                answers[row["name"]] = row
        order = [clip.name for clip in testset.clips]
        missing = [name for name in order if name not in answers]
        if missing:
            raise RuntimeError(f"{spec.name} [{tag}]: no answer for {len(missing)} clip(s) (first: {missing[:3]})")
        known = set(order)
        merged = [answers[name] for name in order] + [row for name, row in answers.items() if name not in known]
        if len(parts) > 1 or not file.is_file():
            _write_jsonl(file, merged)
            for part in parts[1:]:
                part.unlink()
        return _DatasetResult(texts={name: answers[name] for name in order})

    def _extract_and_score(self, testset: TestSet, tag: str, result: _DatasetResult) -> None:
        """Extract what is not cached yet, score, and write upstream's npz files on request."""
        order = [clip.name for clip in testset.clips]
        result.extracted = self._extract(testset.spec, self.out / "predictions" / tag, order, result.texts)
        result.scored = self._score(testset, result.extracted)
        if self.config.upstream_npz:
            self._write_npz(testset.spec, tag, order, result)

    def _extract(self, spec: BenchSet, folder: Path, order: list[str], texts: dict[str, dict]) -> dict[str, dict]:
        """Labels (and sentiment) per clip, cached per extraction mode; only clips not in the cache are extracted."""
        mode = self._extraction_mode()
        file = folder / f"{spec.name}.{_slug(mode)}.jsonl"
        cached = {row["name"]: row for row in _read_jsonl(file)}
        todo = [name for name in order if name not in cached]
        if todo:
            labels = self.extractor.extract_labels([texts[name].get("text") or "" for name in todo])
            rows = [{"name": name, "labels": list(items)} for name, items in zip(todo, labels, strict=True)]
            if spec.task == "sentiment":
                sentiments = self.extractor.extract_sentiment([row["labels"] for row in rows])
                for row, sentiment in zip(rows, sentiments, strict=True):
                    row["sentiment"] = sentiment
            _append_jsonl(file, rows)
            cached.update({row["name"]: row for row in rows})
        return {name: cached[name] for name in order}

    def _score(self, testset: TestSet, extracted: dict[str, dict]) -> dict[str, Any]:
        spec = testset.spec
        mode = self._extraction_mode()
        if spec.task == "sentiment":
            values = {name: row["sentiment"] for name, row in extracted.items()}
            predictions = Predictions(values, SENTIMENT, f"{mode} -> {mode}")
        else:
            values = {name: row["labels"] for name, row in extracted.items()}
            predictions = Predictions(values, LABELS, mode)
        return score_predictions(predictions, testset.references, spec, wheel_dir=self.config.wheel_dir)

    def _write_npz(self, spec: BenchSet, tag: str, order: list[str], result: _DatasetResult) -> None:
        """Upstream's result files (unibench/files.py reads them; `affectgpt evaluate` scores the folder)."""
        import numpy as np

        folder = self.out / "upstream" / f"results-{spec.name.lower()}"
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"checkpoint_{self._epoch_number(tag):06d}"
        np.savez_compressed(f"{stem}.npz", name2reason={n: result.texts[n].get("text") or "" for n in order})
        items = ["[" + ", ".join(result.extracted[n]["labels"]) + "]" for n in order]
        np.savez_compressed(f"{stem}-openset.npz", filenames=np.array(order), fileitems=np.array(items))
        if spec.task == "sentiment":
            sentiments = [result.extracted[n]["sentiment"] for n in order]
            np.savez_compressed(
                f"{stem}-openset-sentiment.npz", filenames=np.array(order), fileitems=np.array(sentiments)
            )

    def _epoch_number(self, tag: str) -> int:
        """The checkpoint's number in upstream's file name: the digits of its name when they are unique, else its
        position (1-based)."""
        tags = [t for t, _ in self.checkpoints]
        numbers = [int(m.group(1)) if (m := re.search(r"(\d+)$", t)) else None for t in tags]
        if None not in numbers and len(set(numbers)) == len(numbers):
            return numbers[tags.index(tag)]
        return tags.index(tag) + 1

    # report -----------------------------------------------------------------------------------------------------------
    def _report(self, testsets: dict[str, TestSet], results: dict[str, dict[str, _DatasetResult]]) -> dict[str, Any]:
        config = self.config
        best_of = len(self.checkpoints) > 1
        sets: dict[str, Any] = {}
        for spec in self.specs:
            per_ckpt = results[spec.name]
            tags = [tag for tag, _ in self.checkpoints]
            if best_of:
                from .unibench import best_epoch

                keyed = {f"{i:04d}": per_ckpt[tag].scored["scores"] for i, tag in enumerate(tags)}
                key, _ = best_epoch(keyed, spec.primary)
                chosen = tags[int(key)]
            else:
                chosen = tags[0]
            result = per_ckpt[chosen]
            scores = result.scored["scores"]
            main = {k: scores[k] for k in (spec.primary, *spec.secondary)}
            failed = [n for n, row in result.texts.items() if row.get("error")]
            sets[spec.name] = {
                "task": spec.task,
                "primary_metric": spec.primary,
                "checkpoint": chosen,
                "scores": main,
                "scores_x100": {k: _x100(v) for k, v in main.items()},
                "details": scores,
                "per_checkpoint": {tag: {k: _x100(per_ckpt[tag].scored["scores"][k]) for k in main} for tag in tags},
                "extraction_mode": result.scored["extraction_mode"],
                "n_clips": len(testsets[spec.name].clips),
                "n_failed": len(failed),
                "failed": failed[:20],
                "face_sources": dict(
                    Counter(row["face_source"] for row in result.texts.values() if "face_source" in row)
                ),
                "throughput": {
                    tag: {
                        "clips": per_ckpt[tag].described,
                        "seconds": round(per_ckpt[tag].seconds, 3),
                        "clips_per_s": round(per_ckpt[tag].described / per_ckpt[tag].seconds, 3)
                        if per_ckpt[tag].seconds
                        else None,
                    }
                    for tag in tags
                },
                "predictions": {tag: str(self.out / "predictions" / tag / f"{spec.name}.jsonl") for tag in tags},
                "samples": str(self.out / "samples" / f"{spec.name}.jsonl"),
                "paper": {row: PAPER_TABLE2[row][spec.name] for row in PAPER_AFFECTGPT_ROWS},
                "paper_secondary": PAPER_SECONDARY["AffectGPT (A,V,T)"].get(spec.name, {}),
            }
            self._write_samples(testsets[spec.name], result)
        primary = {name: s["scores_x100"][s["primary_metric"]] for name, s in sets.items()}
        complete = len(sets) == len(DATASETS)
        mean = unibench_mean(primary) if complete else None
        return {
            "benchmark": "MER-UniBench",
            "protocol": BEST_EPOCH if best_of else SINGLE,
            "model": config.model,
            "checkpoints": [{"tag": tag, "path": path} for tag, path in self.checkpoints],
            "datasets": sets,
            "mean": None if mean is None else round(mean, 2),
            "mean_of_run": round(math.fsum(primary.values()) / len(primary), 2) if primary else None,
            "complete": complete,
            "limit": config.limit,
            "decoding": self.decoding(),
            "batch_size": config.batch_size,
            "dtype": config.dtype or "as saved",
            "device": self.procs.device,
            "processes": self.procs.world,
            "extraction_mode": self._extraction_mode(),
            "data_root": str(config.data_root),
            "versions": versions(),
            "command": " ".join(sys.argv),
        }

    def _write_samples(self, testset: TestSet, result: _DatasetResult) -> None:
        rows = []
        for clip in testset.clips:
            row = {"name": clip.name, "gold": testset.references[clip.name], "subtitle": clip.subtitle}
            row.update({k: v for k, v in result.texts[clip.name].items() if k != "name"})
            row.update({k: v for k, v in result.extracted[clip.name].items() if k != "name"})
            rows.append(row)
        folder = self.out / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        _write_jsonl(folder / f"{testset.spec.name}.jsonl", rows)


def _x100(value: float) -> float:
    return round(100 * value, 2) if value == value else value


def run_benchmark(
    config: BenchmarkConfig,
    on_dataset_done: Callable[[str, str], None] | None = None,
    describe_fn: Callable[..., list] | None = None,
) -> dict[str, Any] | None:
    """Run or continue a benchmark (see :class:`BenchmarkRunner`); the report on the main process."""
    return BenchmarkRunner(config, on_dataset_done, describe_fn).run()


# ----------------------------------------------------------------------------------------------------------------------
# The report files.


def strongest_peers() -> list[str]:
    """Per modality group of Table 2, the non-AffectGPT row with the highest mean."""
    best: dict[str, str] = {}
    for row, values in PAPER_TABLE2.items():
        if row.startswith("AffectGPT"):
            continue
        group = row[row.index("(") :]
        if group not in best or values["mean"] > PAPER_TABLE2[best[group]]["mean"]:
            best[group] = row
    return list(best.values())


def markdown_report(report: dict[str, Any]) -> str:
    """Table 2 rows (AffectGPT and the strongest peers) beside this run, then per-set details and the settings."""
    sets = report["datasets"]
    names = list(sets)
    complete = report["complete"]
    mean_header = "Mean" if complete else f"Mean ({len(names)} of 9 sets)"
    headers = [DATASETS[n].paper_column for n in names]
    lines = [
        f"# MER-UniBench: {report['model'] or report['checkpoints'][0]['path']}",
        "",
        f"- protocol: **{report['protocol']}**",
        f"- checkpoints: {', '.join(c['tag'] + ' (' + c['path'] + ')' for c in report['checkpoints'])}",
        f"- decoding: {report['decoding']['mode']}"
        + (f", seed {report['decoding']['seed']}" if report["decoding"]["seed"] is not None else "")
        + f"; generate {report['decoding']['generate_kwargs']}; batch {report['batch_size']}",
        f"- dtype {report['dtype']}, device {report['device']}, {report['processes']} process(es)",
        f"- extraction: {report['extraction_mode']}",
        *_face_source_line(sets),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
    ]
    if report["limit"] is not None:
        lines.append(f"- **limited run**: first {report['limit']} clips of each set; not comparable to the paper")
    lines += ["", "## Primary metrics (x100), paper Table 2 beside this run", ""]
    lines.append("| model | " + " | ".join(headers) + f" | {mean_header} |")
    lines.append("| --- " * (len(headers) + 2) + "|")
    for row in [*strongest_peers(), *PAPER_AFFECTGPT_ROWS]:
        values = PAPER_TABLE2[row]
        mean = values["mean"] if complete else math.fsum(values[n] for n in names) / len(names)
        lines.append(f"| {row} (paper) | " + " | ".join(f"{values[n]:.2f}" for n in names) + f" | {mean:.2f} |")
    ours = [sets[n]["scores_x100"][sets[n]["primary_metric"]] for n in names]
    mean = report["mean"] if complete else report["mean_of_run"]
    lines.append("| **this run** | " + " | ".join(_cell(v) for v in ours) + f" | **{_cell(mean)}** |")
    if len(report["checkpoints"]) > 1:
        tags = [c["tag"] for c in report["checkpoints"]]
        lines += ["", "## Primary metric per checkpoint (x100); the chosen one per set in bold", ""]
        lines.append("| data set | " + " | ".join(tags) + " |")
        lines.append("| --- " * (len(tags) + 1) + "|")
        for name in names:
            s = sets[name]
            cells = []
            for tag in tags:
                value = _cell(s["per_checkpoint"][tag][s["primary_metric"]])
                cells.append(f"**{value}**" if tag == s["checkpoint"] else value)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## All metrics (x100)", ""]
    lines.append("| data set | metric | this run | paper AffectGPT (A,V,T) | checkpoint | clips | failed | clips/s |")
    lines.append("| --- " * 8 + "|")
    for name in names:
        s = sets[name]
        rate = s["throughput"][s["checkpoint"]]["clips_per_s"]
        for metric, value in s["scores_x100"].items():
            paper = PAPER_TABLE2["AffectGPT (A,V,T)"][name] if metric == s["primary_metric"] else None
            paper = s["paper_secondary"].get(metric, paper)
            lines.append(
                f"| {name} | {metric} | {_cell(value)} | {_cell(paper)} | {s['checkpoint']} | {s['n_clips']} | "
                f"{s['n_failed']} | {_cell(rate)} |"
            )
    lines += ["", "Per-clip predictions: `samples/<data set>.jsonl`; cached answers: `predictions/<checkpoint>/`."]
    return "\n".join(lines) + "\n"


def _face_source_line(sets: dict[str, Any]) -> list[str]:
    """The report names where face crops came from: OpenFace .npy, built-in (faces.py) or frames (no face found)."""
    total = Counter()
    for entry in sets.values():
        total.update(entry.get("face_sources") or {})
    if not total:
        return []
    note = " (built-in crops approximate OpenFace's; not the paper's input)" if total.get("builtin") else ""
    return ["- face source: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())) + note]


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return "nan" if value != value else f"{value:.2f}"


def plot_benchmark(report: dict[str, Any], path: str | os.PathLike) -> None:
    """Grouped bars per data set (and the mean): this run, AffectGPT (A,V,T) and the strongest A,V,T peer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sets = report["datasets"]
    names = list(sets)
    ours = [sets[n]["scores_x100"][sets[n]["primary_metric"]] for n in names]
    ours.append(report["mean"] if report["complete"] else report["mean_of_run"])
    series = {"this run": ours}
    for row in ("AffectGPT (A,V,T)", strongest_peers()[-1]):
        values = [PAPER_TABLE2[row][n] for n in names]
        series[f"{row} (paper)"] = [*values, math.fsum(values) / len(values)]
    labels = [DATASETS[n].paper_column for n in names] + ["Mean"]
    x = np.arange(len(labels))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels)), 3.8))
    colors = ["#c44e52", "#4c72b0", "#8c8c8c"]
    for i, (label, values) in enumerate(series.items()):
        clean = [0.0 if v is None or v != v else v for v in values]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, clean, width, label=label, color=colors[i % len(colors)])
    ax.set_xticks(x, labels, rotation=20, fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("primary metric (x100)")
    ax.set_title(f"MER-UniBench ({report['protocol'].split(' (')[0]})", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", ncols=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_benchmark_report(report: dict[str, Any], output_dir: str | os.PathLike) -> dict[str, Path]:
    """benchmark.json, benchmark.md and benchmark.png under ``output_dir``; returns their paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: output_dir / f"benchmark.{k}" for k in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False, default=float) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown_report(report), encoding="utf-8")
    plot_benchmark(report, paths["png"])
    return paths


__all__ = [
    "BEST_EPOCH",
    "CONFIG_OF",
    "SINGLE",
    "BenchmarkConfig",
    "BenchmarkRunner",
    "TestSet",
    "load_testset",
    "markdown_report",
    "plot_benchmark",
    "resolve_checkpoints",
    "resolve_datasets",
    "run_benchmark",
    "strongest_peers",
    "versions",
    "write_benchmark_report",
]
