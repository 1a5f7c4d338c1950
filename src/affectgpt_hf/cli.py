"""`affectgpt <command>`: a thin command line over the package's modules (DESIGN.md's CLI table)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

# Each entry: command name -> function that adds its sub-parser and sets `func`. Commands import their module lazily so
# that `affectgpt --help` stays fast.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def command(name: str):
    """Register the function that builds the sub-parser of `affectgpt <name>`."""

    def register(build: Callable[[argparse._SubParsersAction], None]):
        COMMANDS[name] = build
        return build

    return register


@command("dataset")
def _build_dataset_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt dataset build`: an upstream release -> a Hub-ready folder (Parquet + README configs)."""
    parser = sub.add_parser("dataset", help="MER-Caption / MER-UniBench datasets")
    actions = parser.add_subparsers(dest="dataset_command", required=True)
    build = actions.add_parser("build", help="upstream release -> Hub-ready folder (Parquet + README.md)")
    build.add_argument("--data-dir", required=True, help="an upstream release folder, or a root holding several")
    build.add_argument("--out", required=True, help="output folder (load it with datasets.load_dataset(OUT, NAME))")
    build.add_argument("--config", action="append", help="config to build (repeatable; default: all found)")
    build.add_argument("--annotations", help="annotation CSV of mer_caption (name, reason[, openset])")
    build.add_argument("--embed-media", action="store_true", help="embed video/audio/face bytes (default: tables only)")
    build.add_argument(
        "--media",
        nargs="+",
        choices=["video", "audio", "face"],
        help="embed only these kinds (e.g. --media video audio)",
    )
    build.add_argument("--skip-missing", action="store_true", help="skip rows with bad media, with a warning")
    build.add_argument("--num-proc", type=int, default=None, help="worker processes for building")
    build.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the folder as a private dataset repo")

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.data.hub import push_to_hub, write_hub_folder

        out = write_hub_folder(
            args.data_dir,
            args.out,
            configs=args.config,
            annotations=args.annotations,
            embed_media=args.embed_media,
            skip_missing=args.skip_missing,
            num_proc=args.num_proc,
            media=args.media,
        )
        print(f"wrote {out}")
        if args.push_to_hub:
            print(f"pushed: {push_to_hub(out, args.push_to_hub)}")
        return 0

    build.set_defaults(func=run)


@command("evaluate")
def _build_evaluate_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt evaluate`: score predictions (JSONL or upstream npz outputs) on one MER-UniBench set -> report."""
    parser = sub.add_parser("evaluate", help="score predictions on one MER-UniBench data set -> report")
    parser.add_argument(
        "--predictions",
        required=True,
        help="JSONL (name + text|labels|sentiment), an upstream npz, "
        "or an upstream results folder (every epoch scored, best epoch reported)",
    )
    parser.add_argument(
        "--dataset",
        required=True,
        help="MER2023, MER2024, IEMOCAPFour, MELD, CMUMOSI, CMUMOSEI, SIMS, SIMSv2 or OVMERDPlus "
        "(or their config names: mer2023 ... ov_merd_plus)",
    )
    parser.add_argument(
        "--references",
        required=True,
        help="upstream label npz / ovlabel.csv, a table, or a built "
        "data set folder (Parquet/JSONL with name, ov_labels, emotion, valence)",
    )
    parser.add_argument("--judge", help="chat model id or folder for LLM label extraction (default: offline lexicon)")
    parser.add_argument(
        "--judge-sampling",
        choices=["greedy", "upstream"],
        default="greedy",
        help="judge decoding: greedy (default) or upstream's temperature 0.7 / top_p 0.8 sampling",
    )
    parser.add_argument(
        "--wheel-dir",
        help="folder with the emotion-wheel files (default: $MER_UNIBENCH_WHEEL_DIR or the pinned download)",
    )
    parser.add_argument(
        "--output-dir", default=None, help="where to write DATASET.json/.md/.png (default: runs/evaluate)"
    )

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.unibench.extraction import get_extractor
        from affectgpt_hf.unibench.report import evaluate_dataset, write_report

        extractor = None
        if args.judge:
            extractor = get_extractor(args.judge, sampling=args.judge_sampling)
        report = evaluate_dataset(args.predictions, args.dataset, args.references, extractor, args.wheel_dir)
        paths = write_report(report, args.output_dir or "runs/evaluate")
        scores = ", ".join(f"{k} {v:.2f}" for k, v in report["scores_x100"].items())
        print(f"{report['dataset']}: {scores} (x100; {report['protocol']}; extraction: {report['extraction_mode']})")
        print(f"wrote {paths['json']}, {paths['md']}, {paths['png']}")
        return 0

    parser.set_defaults(func=run)


@command("describe")
def _build_describe_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt describe`: clips or folders -> JSONL (name, text, labels)."""
    parser = sub.add_parser("describe", help="describe the emotions in clips (JSONL out)")
    parser.add_argument("paths", nargs="+", help="video files or folders of videos")
    parser.add_argument("--model", default="runs/quickstart", help="a saved AffectGPT folder or Hub id")
    parser.add_argument("--task", default="ov_labels", choices=["ov_labels", "description"])
    parser.add_argument("--question", help="a free question instead of the task's")
    parser.add_argument("--subtitles", help="CSV with columns name, subtitle (name = file stem)")
    parser.add_argument(
        "--faces",
        help="folder of OpenFace crops (NAME.npy or NAME/NAME.npy), or 'auto': crops made from the video (default "
        "for face models when the faces extra is installed)",
    )
    parser.add_argument(
        "--on-no-face",
        default="error",
        choices=["error", "frames"],
        help="face models, built-in crops: a clip without any face is skipped with an error, or gets video frames",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--upstream-sampling", action="store_true", help="upstream's top_p 0.9 / T 1.0 / top_k 20")
    parser.add_argument("--seed", type=int, default=None, help="seed for --upstream-sampling")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16 (default: as saved)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ...")
    parser.add_argument("--output", help="JSONL file (default: stdout)")
    parser.add_argument("--num-workers", type=int, help="media decoding processes (default min(4, CPUs-1); 0: none)")
    parser.add_argument("--clip-timeout", type=float, help="seconds per clip before it is skipped (120; 0: none)")

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.describe_cli import run_describe

        return run_describe(args)

    parser.set_defaults(func=run)


@command("quickstart")
def _build_quickstart_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt quickstart`: the main job (toy data -> train the tiny model -> describe held-out clips -> scores)."""
    parser = sub.add_parser(
        "quickstart", help="the main job: train a tiny AffectGPT on generated clips, describe held-out ones, score"
    )
    parser.add_argument("--output-dir", default="runs/quickstart", help="model, report.json/.md/.png (and work/)")
    parser.add_argument("--reduced", action="store_true", help="a small, quick run (fewer clips and epochs)")
    parser.add_argument("--n", type=int, default=None, help="number of toy clips (default 360; --reduced 64)")
    parser.add_argument("--epochs", type=float, default=None, help="training epochs over the training clips")
    parser.add_argument("--seed", type=int, default=None, help="seed of the toy data and the random towers")

    def run(args: argparse.Namespace) -> int:
        import dataclasses

        from affectgpt_hf.quickstart import QuickstartSettings, run_quickstart

        settings = QuickstartSettings.reduced() if args.reduced else QuickstartSettings()
        overrides = {key: getattr(args, key) for key in ("n", "epochs", "seed") if getattr(args, key) is not None}
        run_quickstart(args.output_dir, dataclasses.replace(settings, **overrides))
        return 0

    parser.set_defaults(func=run)


@command("toy-data")
def _build_toy_data_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt toy-data`: the generated toy emotion set, in the MER-Caption+ release layout."""
    parser = sub.add_parser("toy-data", help="generate the toy emotion set (MER-Caption+ layout)")
    parser.add_argument("--out", required=True, help="output folder (the release lands in OUT/mer2025-dataset)")
    parser.add_argument("--n", type=int, default=200, help="number of clips (default 200)")
    parser.add_argument("--seed", type=int, default=0)

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.data.toy import write_toy_release

        root = write_toy_release(args.out, n=args.n, seed=args.seed)
        print(f"wrote {args.n} clips to {root}; read it with affectgpt_hf.data.load_mer_caption({str(root)!r})")
        return 0

    parser.set_defaults(func=run)


@command("demo")
def _build_demo_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt demo`: the Space's Gradio app, locally."""
    parser = sub.add_parser("demo", help="the Gradio demo (the Space) on this machine")
    parser.add_argument("--model", default=None, help="folder or Hub id (default: $AFFECTGPT_MODEL or runs/quickstart)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all interfaces)")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860 or the next free one)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    from affectgpt_hf.demo import add_limit_arguments

    add_limit_arguments(parser)  # --max-upload-mb, --max-seconds, --request-timeout

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.demo import launch

        launch(args)
        return 0

    parser.set_defaults(func=run)


@command("convert")
def _build_convert_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt convert`: an upstream checkpoint (.pth) -> one from_pretrained folder (model, processor, card)."""
    parser = sub.add_parser("convert", help="upstream AffectGPT .pth -> from_pretrained folder")
    parser.add_argument("--checkpoint", required=True, help="upstream checkpoint (.pth from _save_checkpoint)")
    parser.add_argument("--base", required=True, help="hub_configs folder: architecture, processor and generation")
    parser.add_argument("--llm", help="causal LM id or folder (default: upstream's Qwen/Qwen2.5-7B-Instruct)")
    parser.add_argument("--vision", help="CLIP id or folder (default: upstream's openai/clip-vit-large-patch14)")
    parser.add_argument(
        "--audio", help="HuBERT id or folder (default: upstream's TencentGameMate/chinese-hubert-large)"
    )
    parser.add_argument("--merge-lora", action="store_true", help="merge the LoRA (default: PEFT adapter in adapter/)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16 (default: the components' own)")
    parser.add_argument("--output-dir", required=True, help="folder to write")
    _add_card_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        import logging

        from affectgpt_hf.convert_affectgpt_checkpoint import convert_checkpoint

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        components = {name: getattr(args, name) for name in ("llm", "vision", "audio") if getattr(args, name)}
        out = convert_checkpoint(
            args.checkpoint,
            args.base,
            args.output_dir,
            merge_lora=args.merge_lora,
            dtype=args.dtype,
            results=args.results,
            model_id=args.push_to_hub,
            **components,
        )
        print(f"wrote {out}")
        _push(out, args)
        return 0

    parser.set_defaults(func=run)


def _add_card_arguments(parser: argparse.ArgumentParser) -> None:
    """--results / --push-to-hub / --public: a benchmark.json for the card, and the upload of the folder."""
    parser.add_argument("--results", help="benchmark.json of this model (affectgpt benchmark): scores into the card")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the folder (card included) to this repo")
    parser.add_argument("--public", action="store_true", help="with --push-to-hub: a public repo (default private)")


def _push(folder, args: argparse.Namespace) -> None:
    if args.push_to_hub:
        from affectgpt_hf.push import push_folder

        print(f"pushed: {push_folder(folder, args.push_to_hub, private=not args.public)}")


@command("card")
def _build_card_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt card`: rewrite a saved folder's model card, with a benchmark.json's scores, and upload the folder."""
    parser = sub.add_parser("card", help="model card of a saved folder: add MER-UniBench results, push to the Hub")
    parser.add_argument("--model", required=True, help="folder written by affectgpt train, convert or quickstart")
    _add_card_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.model_card import add_results, read_card_facts, write_model_card

        if args.results:
            path = add_results(args.model, args.results, args.push_to_hub)
        else:
            path = write_model_card(args.model, read_card_facts(args.model), args.push_to_hub)
        print(f"wrote {path}")
        _push(args.model, args)
        return 0

    parser.set_defaults(func=run)


@command("faces")
def _build_faces_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt faces extract`: videos -> OpenFace-style crops (built-in, faces.py) in upstream's layouts."""
    parser = sub.add_parser("faces", help="OpenFace-style face crops made in-process (faces extra)")
    actions = parser.add_subparsers(dest="faces_command", required=True)
    extract = actions.add_parser("extract", help="videos -> openface_face/{name}.npy or {name}/{name}.npy")
    extract.add_argument("paths", nargs="+", help="video files or folders of videos")
    extract.add_argument("--out", required=True, help="the openface_face folder to write")
    extract.add_argument("--layout", default="flat", choices=["flat", "nested"], help="NAME.npy or NAME/NAME.npy")
    extract.add_argument("--preview", action="store_true", help="also write a contact-sheet PNG beside each .npy")
    extract.add_argument("--num-frames", type=int, default=8, help="frames cropped per clip (upstream's sampling)")
    extract.add_argument("--device", default="cpu", help="cpu, cuda ... (detector)")

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.faces_extract import run_extract

        return run_extract(args)

    extract.set_defaults(func=run)


@command("train")
def _build_train_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt train --config CONFIG.yaml [--field value ...]`: TRL SFT (TrlParser: SFTConfig + model + data)."""
    # TrlParser owns every option (and --help), so this sub-parser only forwards them: "+" as its prefix keeps
    # argparse from reading "--config" itself.
    parser = sub.add_parser(
        "train",
        help="TRL SFT: --config CONFIG.yaml [--field value ...] (train --help lists the fields)",
        prefix_chars="+",
        add_help=False,
    )
    parser.add_argument("train_args", nargs=argparse.REMAINDER)

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.training import parse_train_args, train

        model_args, data_args, training_args = parse_train_args(args.train_args)
        out = train(model_args, data_args, training_args)
        print(f"wrote {out}")
        return 0

    parser.set_defaults(func=run)


@command("cache-features")
def _build_cache_features_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt cache-features`: run the frozen towers once over a data set -> a `save_to_disk` folder."""
    parser = sub.add_parser("cache-features", help="run the frozen CLIP/HuBERT towers once -> cached feature columns")
    parser.add_argument("--model", required=True, help="AffectGPT folder or Hub id (a hub_configs folder: random)")
    parser.add_argument("--dataset", required=True, help="upstream release, built Hub folder or save_to_disk folder")
    parser.add_argument("--output", required=True, help="output folder (datasets.save_to_disk)")
    parser.add_argument("--vision", help="CLIP id or folder (with --model a hub_configs folder: real towers)")
    parser.add_argument("--audio", help="HuBERT id or folder (as --vision)")
    parser.add_argument("--config", default="mer_caption_plus", help="data set config (default mer_caption_plus)")
    parser.add_argument("--split", default="train", help="split (default train)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per tower batch (default 8)")
    parser.add_argument("--seed", type=int, default=42, help="seed of a random init (keep it equal to training's)")
    parser.add_argument("--drop-media", action="store_true", help="drop the video/audio/face cells from the output")
    parser.add_argument("--num-workers", type=int, help="media decoding processes (default min(4, CPUs-1); 0: none)")

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.training.features import cache_features_command

        out = cache_features_command(
            args.model,
            args.dataset,
            args.output,
            vision=args.vision,
            audio=args.audio,
            config_name=args.config,
            split=args.split,
            batch_size=args.batch_size,
            seed=args.seed,
            keep_media=not args.drop_media,
            num_workers=args.num_workers,
        )
        print(f"wrote {out}")
        return 0

    parser.set_defaults(func=run)


@command("benchmark")
def _build_benchmark_command(sub: argparse._SubParsersAction) -> None:
    """`affectgpt benchmark`: MER-UniBench end to end (describe the test sets, extract, score, report)."""
    parser = sub.add_parser("benchmark", help="MER-UniBench end to end: describe the 9 test sets, extract, score")
    parser.add_argument("--model", help="a saved AffectGPT folder or Hub id (or the folder holding --checkpoints)")
    parser.add_argument("--data-root", required=True, help="folder holding the upstream test-set releases")
    parser.add_argument(
        "--datasets",
        nargs="+",
        help="subset, e.g. MER2023 OVMERDPlus or mer2023 ov_merd_plus (default: all 9)",
    )
    parser.add_argument(
        "--checkpoints",
        nargs="+",
        help="several checkpoint folders (paths or names under --model): upstream's best epoch per data set",
    )
    parser.add_argument("--judge", help="chat model id or folder for LLM label extraction (default: offline lexicon)")
    parser.add_argument("--judge-sampling", choices=["greedy", "upstream"], default="greedy")
    parser.add_argument("--output-dir", default="runs/benchmark", help="report and caches (reruns continue here)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--upstream-sampling", action="store_true", help="upstream's top_p 0.9 / T 1.0 / top_k 20")
    parser.add_argument("--seed", type=int, default=None, help="seed for --upstream-sampling")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16 (default: as saved)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (under accelerate: one per process)")
    parser.add_argument("--upstream-npz", action="store_true", help="also write upstream's result npz files")
    parser.add_argument("--wheel-dir", help="emotion-wheel files (default: $MER_UNIBENCH_WHEEL_DIR or the download)")
    parser.add_argument("--cache-dir", help="datasets cache for the built test sets")
    parser.add_argument("--limit", type=int, default=None, help="first N clips of each set (smoke runs)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--num-workers", type=int, help="media decoding processes per process (default min(4, CPUs-1))")
    parser.add_argument("--clip-timeout", type=float, help="seconds per clip before it is skipped (120; 0: none)")

    def run(args: argparse.Namespace) -> int:
        from affectgpt_hf.benchmark import BenchmarkConfig, run_benchmark
        from affectgpt_hf.pipeline import CLIP_TIMEOUT

        config = BenchmarkConfig(
            model=args.model,
            data_root=args.data_root,
            datasets=args.datasets,
            checkpoints=args.checkpoints,
            judge=args.judge,
            judge_sampling=args.judge_sampling,
            output_dir=args.output_dir,
            batch_size=args.batch_size,
            upstream_sampling=args.upstream_sampling,
            seed=args.seed,
            max_new_tokens=args.max_new_tokens,
            dtype=args.dtype,
            device=args.device,
            upstream_npz=args.upstream_npz,
            wheel_dir=args.wheel_dir,
            cache_dir=args.cache_dir,
            limit=args.limit,
            progress=not args.no_progress,
            num_workers=args.num_workers,
            clip_timeout=CLIP_TIMEOUT if args.clip_timeout is None else args.clip_timeout,
        )
        report = run_benchmark(config)
        if report is not None:
            mean = report["mean"] if report["complete"] else report["mean_of_run"]
            which = "MER-UniBench mean" if report["complete"] else f"mean of {len(report['datasets'])} sets"
            print(f"{which}: {mean:.2f} (x100; {report['protocol']}; extraction: {report['extraction_mode']})")
            print(f"wrote {args.output_dir}/benchmark.json, benchmark.md, benchmark.png")
        return 0

    parser.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="affectgpt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for build in COMMANDS.values():
        build(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"affectgpt {args.command}: error: {error}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
