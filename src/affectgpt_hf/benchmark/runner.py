"""MER-UniBench end to end: the 9 test sets -> batched inference -> label extraction -> scores -> report.

`affectgpt benchmark` runs this. Each clip is described with upstream's OV question (upstream's ``--zeroshot``; the
subtitle upstream feeds, Chinese for MER2024) through :func:`inference.batch`; labels come from unibench's offline
extractor or an LLM judge; OV lists become sentiment for the 4 sentiment sets; unibench scores them. Protocols: one
checkpoint (default) or upstream's best epoch per data set over ``checkpoints``. Everything is cached per data set
and checkpoint under ``output_dir`` (an interrupted run continues, a re-score runs no inference; the layout is in
benchmark_files.py), and the report lands there as benchmark.json, benchmark.md and benchmark.png
(benchmark_report.py).

Under ``accelerate launch`` (or torchrun) the pending clips of each set are split across processes, each appends
to its own part file, and the main process merges the parts before extraction and scoring.

This module is the runner; the test sets (benchmark_data.py), the cache files (benchmark_files.py), the processes
(processes.py) and the report (benchmark_report.py) are its parts.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..data.builder import release_fingerprint
from ..inference.arguments import generation_kwargs
from ..inference.batch import Clip, describe, load_model
from ..unibench import get_extractor, score_predictions
from ..unibench.benchsets import BenchSet
from ..unibench.files import LABELS, SENTIMENT, Predictions
from ..utils.distributed import Processes, free_accelerator_memory
from ..utils.jsonl import append_jsonl, read_jsonl
from .arguments import BenchmarkConfig
from .outputs import (
    answer_digest,
    answer_row,
    answered,
    check_manifest,
    checkpoint_fingerprint,
    labels_file,
    merge_answers,
    part_file,
    slug,
    write_upstream_npz,
)
from .summary import (
    DatasetResult,
    asr_entry,
    build_report,
    choose_checkpoint,
    dataset_entry,
    write_benchmark_report,
    write_samples,
)
from .testsets import CONFIG_OF, TestSet, load_testset, resolve_datasets

# ----------------------------------------------------------------------------------------------------------------------
# Checkpoints.


def resolve_checkpoints(model: str | None, checkpoints: Sequence[str] | None) -> list[tuple[str, str]]:
    """(tag, path) per checkpoint: ``checkpoints`` as paths or names under ``model``; else ``model`` alone."""
    if not checkpoints:
        if not model:
            raise ValueError("benchmark needs --model (a saved AffectGPT folder or Hub id) or --checkpoints")
        return [(slug(Path(str(model).rstrip("/")).name) or "model", str(model))]
    out: list[tuple[str, str]] = []
    for item in checkpoints:
        path = Path(item)
        if not path.exists() and model and (Path(model) / item).exists():
            path = Path(model) / item
        if not path.exists():
            where = f" (nor does {Path(model) / item})" if model else ""
            raise FileNotFoundError(f"checkpoint {item} does not exist{where}; expected a saved AffectGPT folder")
        tag = slug(path.name) or "checkpoint"
        tags = [t for t, _ in out]
        if tag in tags:
            tag = f"{tag}_{len(out)}"
        out.append((tag, str(path)))
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The run.


class BenchmarkRunner:
    """Runs a :class:`BenchmarkConfig`: inference per checkpoint and set (answers cached), then extraction and scores
    (main process), then the report. ``on_dataset_done(dataset, checkpoint_tag)`` is called once a set's answers are
    all cached (main process; tests stop there); ``describe_fn`` replaces :func:`inference.batch` (results it
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
        self.procs = Processes(config.device)
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
        manifest = {
            "checkpoint": where,
            "files": checkpoint_fingerprint(path),
            "decoding": self.decoding(),
            "dtype": self.config.dtype,
            # only when set: manifests of runs without it stay valid
            **({"quantization": self.config.quantization} if self.config.quantization else {}),
        }
        if tag.endswith(ASR_TAG):
            manifest["subtitles"] = self._asr_manifest()
        return manifest

    def _asr_manifest(self) -> dict[str, Any]:
        asr = self.config.asr
        return {"asr": str(Path(asr).resolve()) if Path(asr).exists() else asr, "files": checkpoint_fingerprint(asr)}

    def _transcribed(self, testsets: dict[str, TestSet]) -> tuple[dict[str, TestSet], dict[str, float]]:
        """Every set with its clips' subtitles replaced by their speech's transcripts (the main process transcribes
        and caches them under OUT/transcripts/, per set and keyed by the release and the ASR model; the others read
        the cache), and the seconds transcribing took per set in this run."""
        from ..inference.subtitles import load_recognizer

        procs, recognizer, seconds = self.procs, None, {}
        folder = self.out / "transcripts" / slug(self.config.asr)
        transcribed = {}
        with procs.main_first():
            for spec in self.specs:
                testset = testsets[spec.name]
                file = folder / f"{spec.name}.jsonl"
                release = release_fingerprint(testset.folder, CONFIG_OF[spec.name])
                check_manifest(folder / f"{spec.name}.inputs.json", {"release": release, **self._asr_manifest()})
                cached = {row["name"]: row for row in read_jsonl(file)}
                todo = [clip for clip in testset.clips if clip.name not in cached]
                if todo and procs.is_main:
                    recognizer = recognizer or load_recognizer(self.config.asr, device=self.procs.device)
                    started = time.perf_counter()
                    bar = tqdm(todo, desc=f"{spec.name} transcribe", unit="clip", disable=not self.config.progress)
                    rows = [_transcript_row(clip, recognizer) for clip in bar]
                    seconds[spec.name] = time.perf_counter() - started
                    append_jsonl(file, rows)
                    cached.update((row["name"], row) for row in rows)
                clips = [
                    replace(clip, subtitle=cached[clip.name]["subtitle"], subtitle_source=cached[clip.name]["source"])
                    for clip in testset.clips
                ]
                transcribed[spec.name] = replace(testset, clips=clips)
        del recognizer
        free_accelerator_memory()
        return transcribed, seconds

    def _check_manifests(self, folder: Path, tag: str, path: str, testsets: dict[str, TestSet]) -> None:
        """Cached answers are reused only for the same checkpoint (and its files), decoding, dtype and quantization, and
        for the same release of each test set (main process)."""
        if self.procs.is_main:
            check_manifest(folder / "run.json", self._manifest(tag, path))
            for spec in self.specs:
                release = release_fingerprint(testsets[spec.name].folder, CONFIG_OF[spec.name])
                check_manifest(folder / f"{spec.name}.inputs.json", {"release": release})

    @property
    def extractor(self):
        if self._extractor is None:
            if self.config.judge:
                self._extractor = get_extractor(self.config.judge, sampling=self.config.judge_sampling)
            else:
                from ..unibench import LexiconExtractor, load_wheels

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
        if config.asr:  # first: a speech-recognition model that cannot load is named before any inference
            transcribed, self.transcribe_seconds = self._transcribed(testsets)
        results: dict[str, dict[str, DatasetResult]] = {}
        for tag, path in self.checkpoints:
            self._answer_checkpoint(tag, path, testsets, results)
        heard: dict[str, dict[str, DatasetResult]] = {}  # --asr: the same checkpoints on subtitles from speech
        if config.asr:
            for tag, path in self.checkpoints:
                self._answer_checkpoint(tag + ASR_TAG, path, transcribed, heard)
        if not procs.is_main:
            return None
        # extraction after all inference: an LLM judge never shares the accelerator with an AffectGPT checkpoint
        for tag, _ in self.checkpoints:
            for spec in self.specs:
                self._extract_and_score(testsets[spec.name], tag, results[spec.name][tag])
                if config.asr:
                    self._extract_and_score(testsets[spec.name], tag + ASR_TAG, heard[spec.name][tag + ASR_TAG])
        report = self._report(testsets, results, heard)
        write_benchmark_report(report, self.out)
        return report

    def _answer_checkpoint(
        self, tag: str, path: str, testsets: dict[str, TestSet], results: dict[str, dict[str, DatasetResult]]
    ) -> None:
        """Describe every set's pending clips with one checkpoint (loaded only if a clip is pending), this process's
        share of them; the main process merges each set's answers into ``results``."""
        procs, config = self.procs, self.config
        folder = self.out / "predictions" / tag
        procs.barrier()
        self._check_manifests(folder, tag, path, testsets)
        procs.barrier()
        model = processor = None
        for spec in self.specs:
            testset = testsets[spec.name]
            done = answered(folder, spec.name)
            pending = [clip for clip in testset.clips if clip.name not in done]
            shard = pending[procs.rank :: procs.world]
            described, seconds = 0, 0.0
            if pending and model is None:
                model, processor = load_model(
                    path, dtype=config.dtype, device=procs.device, quantization=config.quantization
                )
            if shard:
                described, seconds = self._describe(model, processor, shard, spec, tag, folder)
            stats = procs.gather((described, seconds))
            procs.barrier()
            if procs.is_main:
                order = [clip.name for clip in testset.clips]
                result = DatasetResult(texts=merge_answers(folder, spec.name, order, f"{spec.name} [{tag}]"))
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
        free_accelerator_memory()

    def _describe(
        self, model, processor, shard: list[Clip], spec: BenchSet, tag: str, folder: Path
    ) -> tuple[int, float]:
        """Describe this process's clips (its own media workers preparing the next batches), appending each batch's
        answers to the cache as they come."""
        config, procs = self.config, self.procs
        file = part_file(folder, spec.name, procs.rank, procs.world)
        bar = tqdm(
            total=len(shard),
            desc=f"{spec.name} [{tag}]" + (f" rank {procs.rank}" if procs.world > 1 else ""),
            unit="clip",
            disable=not config.progress,
        )
        started = time.perf_counter()
        base_seed = None if config.seed is None else config.seed + zlib.crc32(spec.name.encode()) % 100_003
        if any(clip.faces is None for clip in shard):  # no OpenFace crops: face models crop faces from the video
            from ..faces import default_faces

            auto = default_faces(processor.input_mode)
            shard = [clip if clip.faces is not None else replace(clip, faces=auto) for clip in shard]
        written: set[str] = set()

        def append(answers: list) -> None:
            append_jsonl(file, [answer_row(answer) for answer in answers])
            written.update(answer.name for answer in answers)
            bar.update(len(answers))

        answers = self.describe_fn(
            model,
            processor,
            shard,
            runtime=replace(config, seed=base_seed),  # its InferenceArguments fields
            task="ov_labels",
            seed_each_batch=True,  # batch k: base_seed + k
            progress=False,
            on_batch=append,  # each batch cached as it comes
            on_no_face="frames",  # a clip without a face gets the frame input and is counted, not dropped
        )
        rest = [answer for answer in answers if answer.name not in written]  # a describe_fn that did not stream
        if rest:
            append(rest)
        bar.close()
        return len(shard), time.perf_counter() - started

    def _extract_and_score(self, testset: TestSet, tag: str, result: DatasetResult) -> None:
        """Extract what is not cached yet, score, and write upstream's npz files on request."""
        order = [clip.name for clip in testset.clips]
        result.extracted = self._extract(testset.spec, self.out / "predictions" / tag, order, result.texts)
        result.scored = self._score(testset, result.extracted)
        if self.config.upstream_npz:
            spec = testset.spec
            write_upstream_npz(
                self.out, spec.name, spec.task, self._epoch_number(tag), order, result.texts, result.extracted
            )

    def _extract(self, spec: BenchSet, folder: Path, order: list[str], texts: dict[str, dict]) -> dict[str, dict]:
        """Labels (and sentiment) per clip, cached per extraction mode; only clips not in the cache are extracted."""
        mode = self._extraction_mode()
        file = labels_file(folder, spec.name, mode)
        digests = {name: answer_digest(texts[name].get("text")) for name in order}
        cached = {row["name"]: row for row in read_jsonl(file) if row.get("answer") == digests.get(row["name"])}
        todo = [name for name in order if name not in cached]
        if todo:
            labels = self.extractor.extract_labels([texts[name].get("text") or "" for name in todo])
            rows = [
                {"name": name, "labels": list(items), "answer": digests[name]}
                for name, items in zip(todo, labels, strict=True)
            ]
            if spec.task == "sentiment":
                sentiments = self.extractor.extract_sentiment([row["labels"] for row in rows])
                for row, sentiment in zip(rows, sentiments, strict=True):
                    row["sentiment"] = sentiment
            append_jsonl(file, rows)
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

    def _epoch_number(self, tag: str) -> int:
        """The checkpoint's number in upstream's file name: the digits of its name when they are unique, else its
        position (1-based)."""
        tags = [t for t, _ in self.checkpoints]
        numbers = [int(m.group(1)) if (m := re.search(r"(\d+)$", t)) else None for t in tags]
        if None not in numbers and len(set(numbers)) == len(numbers):
            return numbers[tags.index(tag)]
        return tags.index(tag) + 1

    def _report(
        self,
        testsets: dict[str, TestSet],
        results: dict[str, dict[str, DatasetResult]],
        heard: dict[str, dict[str, DatasetResult]] | None = None,
    ) -> dict[str, Any]:
        """The report dict; each set's reported checkpoint also gets its per-clip samples file. With ``--asr``, each
        set's entry gets the reported checkpoint's scores on subtitles from speech beside those on its own."""
        tags = [tag for tag, _ in self.checkpoints]
        sets: dict[str, Any] = {}
        for spec in self.specs:
            per_checkpoint = results[spec.name]
            chosen = choose_checkpoint(spec, per_checkpoint, tags)
            sets[spec.name] = dataset_entry(spec, per_checkpoint, chosen, len(testsets[spec.name].clips), self.out)
            write_samples(self.out, testsets[spec.name], per_checkpoint[chosen])
            if heard:
                sets[spec.name]["asr"] = asr_entry(
                    spec,
                    per_checkpoint[chosen],
                    heard[spec.name][chosen + ASR_TAG],
                    self.config.asr,
                    getattr(self, "transcribe_seconds", {}).get(spec.name),
                )
        run = {
            "decoding": self.decoding(),
            "device": self.procs.device,
            "processes": self.procs.world,
            "extraction_mode": self._extraction_mode(),
        }
        return build_report(self.config, self.checkpoints, sets, run)


ASR_TAG = "+asr"  # predictions/<checkpoint>+asr/: the answers on subtitles from speech (--asr)


def _transcript_row(clip: Clip, recognizer) -> dict[str, Any]:
    """A clip's cached transcript: its text, source and note (a clip whose audio cannot be read: empty, noted)."""
    try:
        transcript = recognizer(clip.audio if clip.audio is not None else clip.video)
    except ValueError as error:
        return {"name": clip.name, "subtitle": "", "source": "none", "note": f"no transcript: {error}"}
    return {"name": clip.name, "subtitle": transcript.text, "source": transcript.source, "note": transcript.note}


def run_benchmark(
    config: BenchmarkConfig,
    on_dataset_done: Callable[[str, str], None] | None = None,
    describe_fn: Callable[..., list] | None = None,
) -> dict[str, Any] | None:
    """Run or continue a benchmark (see :class:`BenchmarkRunner`); the report on the main process."""
    return BenchmarkRunner(config, on_dataset_done, describe_fn).run()


__all__ = ["BenchmarkRunner", "resolve_checkpoints", "run_benchmark"]
