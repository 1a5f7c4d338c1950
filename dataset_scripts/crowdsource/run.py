"""Crowdsource MER-Caption descriptions for a folder of clips; shard across processes with ``accelerate launch``.

    accelerate launch --num_processes 8 dataset_scripts/crowdsource/run.py --data-dir mer2025-dataset \\
        --out mer2025-dataset --audio-model Qwen/Qwen2-Audio-7B-Instruct \\
        --video-model llava-hf/llava-interleave-qwen-0.5b-hf --merge-model Qwen/Qwen2.5-7B-Instruct \\
        --classifier my_pkg.merbench:make_classifier

Which models stand in for the paper's (SALMONN, Chat-UniVi, GPT-3.5), and how each is loaded: README.md here.

On CPU only, launch the ranks with ``torchrun --nproc_per_node N run.py ...``.
Each rank runs its share of the clips (results cached per clip and stage; a rerun skips them), then rank 0 merges
the parts, filters, and writes the CSVs that ``affectgpt dataset build --config mer_caption_plus`` reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `crowdsource` importable when run as a script

from crowdsource.models import resolve_model  # noqa: E402
from crowdsource.pipeline import Models, find_clips, merge_results, run_clips  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="MER2025-layout folder (video/, audio/, subtitle_chieng.csv)")
    parser.add_argument("--out", required=True, help="where the CSVs go (may be --data-dir itself)")
    parser.add_argument("--cache-dir", help="per-clip results (default: OUT/crowdsource_cache)")
    parser.add_argument("--audio-model", required=True, help="audio LLM: transformers id/folder or module:attribute")
    parser.add_argument("--video-model", required=True, help="video LLM: transformers id/folder or module:attribute")
    parser.add_argument("--merge-model", required=True, help="text LLM: transformers id/folder or module:attribute")
    parser.add_argument("--classifier", action="append", default=[], help="module:attribute (repeatable)")
    parser.add_argument("--extractor", help="module:attribute (default: affectgpt_hf.unibench LexiconExtractor)")
    parser.add_argument("--speaker-check", help="module:attribute active-speaker hook")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per model call (batched in transformers)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="answer length of the transformers models")
    parser.add_argument(
        "--num-frames",
        type=int,
        help="frames per clip for the video LLM (default: 8 given as images where its processor has no video "
        "processor; the video processor's own sampling otherwise)",
    )
    parser.add_argument("--length-quantiles", type=float, nargs=2, default=(0.05, 0.95))
    parser.add_argument("--length-unit", choices=("words", "chars"), default="words")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    import torch
    from accelerate import PartialState

    # cpu=True lets torchrun's CPU ranks join a gloo group (accelerate treats CPU ranks as one process otherwise)
    state = PartialState(cpu=not torch.cuda.is_available())
    device = str(state.device)  # each rank's own GPU (or the CPU)
    models = Models(
        audio=resolve_model(args.audio_model, "audio", args.max_new_tokens, device=device),
        video=resolve_model(args.video_model, "video", args.max_new_tokens, args.num_frames, device=device),
        merge=resolve_model(args.merge_model, "text", args.max_new_tokens, device=device),
        classifiers=[resolve_model(spec, "object") for spec in args.classifier],
        extractor=resolve_model(args.extractor, "object"),
        speaker=resolve_model(args.speaker_check, "object"),
    )
    clips = find_clips(args.data_dir)
    cache_dir = args.cache_dir or str(Path(args.out) / "crowdsource_cache")
    run_clips(
        clips,
        models,
        cache_dir,
        rank=state.process_index,
        world_size=state.num_processes,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    state.wait_for_everyone()
    if state.is_main_process:
        counts = merge_results(clips, cache_dir, args.out, tuple(args.length_quantiles), args.length_unit)
        print(f"crowdsource: {counts}")
    state.wait_for_everyone()
    return 0


if __name__ == "__main__":
    sys.exit(main())
