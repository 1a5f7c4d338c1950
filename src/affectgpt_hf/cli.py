"""`affectgpt <command>`: a thin command line over the package's modules (README.md, "The command line").

Each command's options come from dataclasses through transformers' `HfArgumentParser` (`train`: TRL's `TrlParser`),
their help from the fields' metadata; options several commands share come from one dataclass (`InferenceArguments`,
`ScoringArguments`, `PublishArguments`). A command's modules (and dataclasses) are imported only when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Command name ("describe", or two words: "dataset build") -> (help, run). `run(argv)` parses the command's own
# arguments (the top-level parser only picks the command) and returns the exit status.
COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {}
GROUPS = {
    "dataset": "MER-Caption / MER-UniBench datasets",
    "faces": "OpenFace-style face crops made in-process (MTCNN weights from facenet-pytorch)",
}


def command(name: str, help: str):
    """Register `run(argv) -> int` as `affectgpt <name>`."""

    def register(run: Callable[[list[str]], int]):
        COMMANDS[name] = (help, run)
        return run

    return register


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help with each option's default appended, unless it is required, None/False or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parse(name: str, argv: list[str], *types: type, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    """`affectgpt <name>`'s arguments -> one instance of each dataclass in ``types``, then, when ``extra`` added
    arguments that no dataclass holds (a positional PATH...), their Namespace. Options read `--field-name` (or
    `--field_name`); bad arguments exit with argparse's usage error."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        types, prog=f"affectgpt {name}", description=COMMANDS[name][0], formatter_class=HelpFormatter
    )
    if extra is not None:
        extra(parser)
    for action in parser._actions:  # --field-name first: usage and help show the form the README uses
        action.option_strings.sort(key=lambda option: "_" in option)
    *parsed, rest = parser.parse_args_into_dataclasses(argv, return_remaining_strings=True, look_for_args_file=False)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return tuple(parsed)


def add_paths(parser: argparse.ArgumentParser) -> None:
    """The positional PATH... of `describe` and `faces extract`."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="video files or folders of videos")


# ---------------------------------------------------------------------------------------------------------- describe
@command("describe", "describe the emotions in clips (JSONL out)")
def _describe(argv: list[str]) -> int:
    import json

    from .inference.arguments import DescribeArguments, InferenceArguments

    arguments, runtime, extra = parse("describe", argv, DescribeArguments, InferenceArguments, extra=add_paths)
    from .inference.batch import describe_files
    from .inference.prefetch import WorkerError
    from .utils.jsonl import write_jsonl

    if arguments.output:  # a place for the JSONL before the model runs
        output = Path(arguments.output)
        if output.is_dir():
            raise ValueError(f"--output {output} is a folder; expected the path of a JSONL file")
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"--output {output}: its folder cannot be made ({error})") from None
    try:
        results = describe_files(extra.paths, arguments, runtime)
    except WorkerError as error:  # a media worker died or hung: the message names the batch; no traceback
        print(f"affectgpt describe: error: {error}", file=sys.stderr)
        return 1
    if arguments.output:
        write_jsonl(Path(arguments.output), (result.to_dict() for result in results))
    else:
        sys.stdout.write("".join(json.dumps(result.to_dict(), ensure_ascii=False) + "\n" for result in results))
    failed = [result.name for result in results if result.error]
    if failed:
        print(f"skipped {len(failed)} clip(s) that could not be read: {', '.join(failed)}", file=sys.stderr)
    if len(failed) == len(results):
        print("affectgpt describe: error: no clip could be read", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------------------- timeline
def add_videos(parser: argparse.ArgumentParser) -> None:
    """The positional VIDEO... of `timeline`."""
    parser.add_argument("paths", nargs="+", metavar="VIDEO", help="long video files, or folders of them")


@command("timeline", "long videos -> an emotion timeline per utterance (JSONL, SRT/VTT captions, plot, summary)")
def _timeline(argv: list[str]) -> int:
    from .inference.arguments import InferenceArguments, TimelineArguments

    arguments, runtime, extra = parse("timeline", argv, TimelineArguments, InferenceArguments, extra=add_videos)
    from .inference.prefetch import WorkerError
    from .inference.timeline import run_timeline

    try:
        results, not_made = run_timeline(extra.paths, arguments, runtime)
    except WorkerError as error:  # a media worker died or hung: the message names the batch; no traceback
        print(f"affectgpt timeline: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # rows are written as each batch finishes: nothing finished is lost
        print(
            f"affectgpt timeline: interrupted; the finished rows are in {arguments.out}/<video>/timeline.jsonl, and "
            "the same command continues from there",
            file=sys.stderr,
        )
        return 130
    for result in results:
        failed = f", {len(result.failed)} failed" if result.failed else ""
        skipped = f", {len(result.plan.skipped)} left out" if result.plan.skipped else ""
        written = f"{result.folder}/timeline.jsonl, .srt, .vtt, .png, .md"
        print(f"{result.video}: {len(result.rows)} segment(s){failed}{skipped} -> {written}")
        for note in result.plan.notes:
            print(f"  {note}")
    for video, why in not_made.items():
        print(f"affectgpt timeline: {video} was not made: {why}", file=sys.stderr)
    return 1 if not_made else 0


# --------------------------------------------------------------------------------------------------------- benchmark
@command("benchmark", "MER-UniBench end to end: describe the 9 test sets, extract, score")
def _benchmark(argv: list[str]) -> int:
    from .benchmark.arguments import BenchmarkConfig

    (config,) = parse("benchmark", argv, BenchmarkConfig)
    from .benchmark.runner import run_benchmark

    report = run_benchmark(config)
    if report is not None:
        mean = report["mean"] if report["complete"] else report["mean_of_run"]
        which = "MER-UniBench mean" if report["complete"] else f"mean of {len(report['datasets'])} sets"
        print(f"{which}: {mean:.2f} (x100; {report['protocol']}; extraction: {report['extraction_mode']})")
        print(f"wrote {config.output_dir}/benchmark.json, benchmark.md, benchmark.png")
    return 0


# ---------------------------------------------------------------------------------------------------------- evaluate
@dataclass
class EvaluateArguments:
    """`affectgpt evaluate`: which predictions, scored on which set against which references, reported where."""

    predictions: str = field(
        metadata={
            "help": "JSONL (name + text|labels|sentiment), an upstream npz, or an upstream results folder (every "
            "epoch scored, best epoch reported)"
        }
    )
    dataset: str = field(
        metadata={
            "help": "MER2023, MER2024, IEMOCAPFour, MELD, CMUMOSI, CMUMOSEI, SIMS, SIMSv2 or OVMERDPlus (or their "
            "config names: mer2023 ... ov_merd_plus)"
        }
    )
    references: str = field(
        metadata={
            "help": "upstream label npz / ovlabel.csv, a table, or a built data set folder (Parquet/JSONL with name, "
            "ov_labels, emotion, valence)"
        }
    )
    output_dir: str = field(default="runs/evaluate", metadata={"help": "where to write DATASET.json/.md/.png"})


@command("evaluate", "score predictions on one MER-UniBench data set -> report")
def _evaluate(argv: list[str]) -> int:
    from .unibench.arguments import ScoringArguments

    args, scoring = parse("evaluate", argv, EvaluateArguments, ScoringArguments)
    from .unibench.evaluation import evaluate_dataset, write_report
    from .unibench.extraction import get_extractor

    extractor = get_extractor(scoring.judge, sampling=scoring.judge_sampling) if scoring.judge else None
    report = evaluate_dataset(args.predictions, args.dataset, args.references, extractor, scoring.wheel_dir)
    paths = write_report(report, args.output_dir)
    scores = ", ".join(f"{k} {v:.2f}" for k, v in report["scores_x100"].items())
    print(f"{report['dataset']}: {scores} (x100; {report['protocol']}; extraction: {report['extraction_mode']})")
    print(f"wrote {paths['json']}, {paths['md']}, {paths['png']}")
    return 0


# ------------------------------------------------------------------------------------------------------------- train
@command("train", "TRL SFT: --config CONFIG.yaml [--field value ...] (train --help lists the fields)")
def _train(argv: list[str]) -> int:
    from .training.sft import main, parse_train_args

    print(f"wrote {main(*parse_train_args(argv))}")  # TrlParser: DataArguments, AffectGPTSFTConfig, ModelArguments
    return 0


# ---------------------------------------------------------------------------------------------------- cache-features
@command("cache-features", "run the frozen CLIP/HuBERT towers once -> cached feature columns")
def _cache_features(argv: list[str]) -> int:
    from .training.cache_arguments import CacheFeaturesArguments

    (args,) = parse("cache-features", argv, CacheFeaturesArguments)
    from .training.features import cache_features_command

    print(f"wrote {cache_features_command(args)}")
    return 0


# ----------------------------------------------------------------------------------------------------- dataset build
@dataclass
class DatasetBuildArguments:
    """`affectgpt dataset build`: which upstream release(s) become which Hub-ready configs, with which media."""

    data_dir: str = field(metadata={"help": "an upstream release folder, or a root holding several"})
    out: str = field(metadata={"help": "output folder (load it with datasets.load_dataset(OUT, NAME))"})
    config: list[str] | None = field(
        default=None, metadata={"help": "config(s) to build (repeatable; default: all found)", "action": "extend"}
    )
    annotations: str | None = field(
        default=None, metadata={"help": "annotation CSV of mer_caption (name, reason[, openset])"}
    )
    embed_media: bool = field(default=False, metadata={"help": "embed video/audio/face bytes (default: tables only)"})
    media: list[str] | None = field(
        default=None,
        metadata={"help": "embed only these kinds (e.g. --media video audio)", "choices": ["video", "audio", "face"]},
    )
    skip_missing: bool = field(
        default=False,
        metadata={"help": "skip rows whose media are missing, empty or not media (see --verify-media), with a warning"},
    )
    verify_media: bool = field(
        default=False, metadata={"help": "decode each embedded file too, so damage past its first bytes is found"}
    )
    num_proc: int | None = field(default=None, metadata={"help": "worker processes for building"})
    push_to_hub: str | None = field(
        default=None, metadata={"help": "upload the folder as a private dataset repo", "metavar": "REPO_ID"}
    )


@command("dataset build", "upstream release -> Hub-ready folder (Parquet + README.md)")
def _dataset_build(argv: list[str]) -> int:
    (args,) = parse("dataset build", argv, DatasetBuildArguments)
    from .data.hub import push_to_hub, write_hub_folder

    out = write_hub_folder(
        args.data_dir,
        args.out,
        configs=args.config,
        annotations=args.annotations,
        embed_media=args.embed_media,
        skip_missing=args.skip_missing,
        num_proc=args.num_proc,
        media=args.media,
        verify_media=args.verify_media,
    )
    print(f"wrote {out}")
    if args.push_to_hub:
        print(f"pushed: {push_to_hub(out, args.push_to_hub)}")
    return 0


# ------------------------------------------------------------------------------------------------------ convert, card
@dataclass
class PublishArguments:
    """A benchmark.json's scores for the model card, and the upload of the folder (`convert` and `card`)."""

    results: str | None = field(
        default=None, metadata={"help": "benchmark.json of this model (affectgpt benchmark): scores into the card"}
    )
    push_to_hub: str | None = field(
        default=None, metadata={"help": "upload the folder (card included) to this repo", "metavar": "REPO_ID"}
    )
    public: bool = field(default=False, metadata={"help": "with --push-to-hub: a public repo (default private)"})

    def push(self, folder) -> None:
        if self.push_to_hub:
            from .hub.push import push_folder

            print(f"pushed: {push_folder(folder, self.push_to_hub, private=not self.public)}")


@dataclass
class ConvertArguments:
    """`affectgpt convert`: which upstream checkpoint, on which architecture and components, written where."""

    checkpoint: str = field(metadata={"help": "upstream checkpoint (.pth from _save_checkpoint)"})
    base: str = field(metadata={"help": "hub_configs folder: architecture, processor and generation"})
    output_dir: str = field(metadata={"help": "folder to write"})
    llm: str | None = field(
        default=None, metadata={"help": "causal LM id or folder (default: upstream's Qwen/Qwen2.5-7B-Instruct)"}
    )
    vision: str | None = field(
        default=None, metadata={"help": "CLIP id or folder (default: upstream's openai/clip-vit-large-patch14)"}
    )
    audio: str | None = field(
        default=None,
        metadata={"help": "HuBERT id or folder (default: upstream's TencentGameMate/chinese-hubert-large)"},
    )
    merge_lora: bool = field(default=False, metadata={"help": "merge the LoRA (default: PEFT adapter in adapter/)"})
    dtype: str | None = field(
        default=None, metadata={"help": "float32, bfloat16, float16 (default: the components' own)"}
    )


@command("convert", "upstream AffectGPT .pth -> from_pretrained folder")
def _convert(argv: list[str]) -> int:
    import logging

    args, publish = parse("convert", argv, ConvertArguments, PublishArguments)
    from .convert_affectgpt_checkpoint import convert_checkpoint

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    components = {name: getattr(args, name) for name in ("llm", "vision", "audio") if getattr(args, name)}
    out = convert_checkpoint(
        args.checkpoint,
        args.base,
        args.output_dir,
        merge_lora=args.merge_lora,
        dtype=args.dtype,
        results=publish.results,
        model_id=publish.push_to_hub,
        **components,
    )
    print(f"wrote {out}")
    publish.push(out)
    return 0


@dataclass
class CardArguments:
    """`affectgpt card`: the saved folder whose model card is rewritten."""

    model: str = field(metadata={"help": "folder written by affectgpt train, convert or quickstart"})


@command("card", "model card of a saved folder: add MER-UniBench results, push to the Hub")
def _card(argv: list[str]) -> int:
    args, publish = parse("card", argv, CardArguments, PublishArguments)
    from .hub.model_card import add_results, read_card_facts, write_model_card

    if publish.results:
        path = add_results(args.model, publish.results, publish.push_to_hub)
    else:
        path = write_model_card(args.model, read_card_facts(args.model), publish.push_to_hub)
    print(f"wrote {path}")
    publish.push(args.model)
    return 0


# ----------------------------------------------------------------------------------------------------- faces extract
@command("faces extract", "videos -> openface_face/{name}.npy or {name}/{name}.npy")
def _faces_extract(argv: list[str]) -> int:
    from .data.face_crops import FacesExtractArguments, run_extract

    args, extra = parse("faces extract", argv, FacesExtractArguments, extra=add_paths)
    return run_extract(extra.paths, args)


# -------------------------------------------------------------------------------------- toy-data, quickstart, demo
@dataclass
class ToyDataArguments:
    """`affectgpt toy-data`: how many generated clips, from which seed, written where."""

    out: str = field(metadata={"help": "output folder (the release lands in OUT/mer2025-dataset)"})
    n: int = field(default=200, metadata={"help": "number of clips"})
    seed: int = field(default=0, metadata={"help": "seed of the generated clips and labels"})


@command("toy-data", "generate the toy emotion set (MER-Caption+ layout)")
def _toy_data(argv: list[str]) -> int:
    (args,) = parse("toy-data", argv, ToyDataArguments)
    from .data.toy import write_toy_release

    root = write_toy_release(args.out, n=args.n, seed=args.seed)
    print(f"wrote {args.n} clips to {root}; read it with affectgpt_hf.data.load_mer_caption({str(root)!r})")
    return 0


@dataclass
class QuickstartArguments:
    """`affectgpt quickstart`: where the run goes, and what of `QuickstartSettings` (or its reduced form) to change."""

    output_dir: str = field(default="runs/quickstart", metadata={"help": "model, report.json/.md/.png (and work/)"})
    reduced: bool = field(default=False, metadata={"help": "the test suite's quicker run (fewer clips and steps)"})
    n: int | None = field(default=None, metadata={"help": "toy clips (default: the full run's or --reduced's)"})
    epochs: float | None = field(default=None, metadata={"help": "training epochs over the training clips"})
    seed: int | None = field(default=None, metadata={"help": "seed of the toy data and the random towers"})
    threads: int | None = field(
        default=None, metadata={"help": "torch threads (default: torch's; the count changes float rounding)"}
    )


@command("quickstart", "the main job: train a tiny AffectGPT on generated clips, describe held-out ones, score")
def _quickstart(argv: list[str]) -> int:
    (args,) = parse("quickstart", argv, QuickstartArguments)
    from .apps.quickstart import QuickstartSettings, run_quickstart

    settings = QuickstartSettings.reduced() if args.reduced else QuickstartSettings()
    overrides = {key: getattr(args, key) for key in ("n", "epochs", "seed") if getattr(args, key) is not None}
    run_quickstart(args.output_dir, dataclasses.replace(settings, **overrides), threads=args.threads)
    return 0


@command("demo", "the Gradio demo (the Space) on this machine")
def _demo(argv: list[str]) -> int:
    from .apps.arguments import DemoArguments

    (args,) = parse("demo", argv, DemoArguments)  # the Space's app.py reads the same options

    from .apps import demo

    demo.launch(args)
    return 0


# ------------------------------------------------------------------------------------------------------------- serve
@command("serve", "transformers' OpenAI-compatible server (/v1/chat/completions) for the model")
def _serve(argv: list[str]) -> int:
    from .apps.arguments import ServeArguments

    (args,) = parse("serve", argv, ServeArguments)
    from .apps.serve import serve

    serve(args)
    return 0


# -------------------------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: picks the command (and its group: `dataset`, `faces`) and hands it the rest."""
    parser = argparse.ArgumentParser(prog="affectgpt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for name, (help, run) in COMMANDS.items():
        *group, word = name.split()
        actions = sub
        if group:
            if group[0] not in groups:
                group_parser = sub.add_parser(group[0], help=GROUPS[group[0]])
                groups[group[0]] = group_parser.add_subparsers(dest=f"{group[0]}_command", required=True)
            actions = groups[group[0]]
        # "+" as prefix: the command's own parser reads every option, --help included
        leaf = actions.add_parser(word, help=help, prefix_chars="+", add_help=False)
        leaf.add_argument("argv", nargs=argparse.REMAINDER)
        leaf.set_defaults(run=run, name=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args.argv)
    except (ValueError, FileNotFoundError) as error:
        print(f"affectgpt {args.name}: error: {error}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
