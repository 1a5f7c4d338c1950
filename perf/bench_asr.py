"""What speech recognition adds to describing a clip on the CPU, measured side by side in one run (no asserts).

Per clip, on espeak-ng speech clips and on clips without speech (a tone), each step timed separately:

  decode   media.load_audio: the clip's 16 kHz mono track (describe reads it anyway for the model)
  vad      speech.detect_speech: silero-vad over the track
  asr      the ASR pipeline call SpeechRecognizer makes (tiny random Whisper with Whisper's real vocabulary, greedy,
           ``--asr-tokens`` tokens at most): speech clips only, as the voice-activity gate skips the others
  describe inference.batch.describe of the clip with its subtitle given (tiny AffectGPT, batch 1, ``--new-tokens``
           tokens), the work ASR comes on top of

and prints milliseconds per clip and the ratios (vad + asr) / describe and the VAD's speed in seconds of audio per
second. The tiny models make the ratios an upper bound on the VAD's share and a lower bound on the ASR's: a real
Whisper's cost is measured by perf/bench_gpu_asr.py (GPU) and docs/speech.md discusses it.

    .venv/bin/python perf/bench_asr.py [--clips 4] [--repeats 3] [--new-tokens 16] [--asr-tokens 24]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tiny Whisper and the spoken clips

from utils import TINY, make_clip, save_tiny_folder, save_tiny_whisper, speech_clip  # noqa: E402

from affectgpt_hf import AffectGPTProcessor  # noqa: E402
from affectgpt_hf.inference.arguments import InferenceArguments  # noqa: E402
from affectgpt_hf.inference.batch import Clip, describe, load_model  # noqa: E402
from affectgpt_hf.media import load_audio  # noqa: E402
from affectgpt_hf.speech import SpeechRecognizer, detect_speech  # noqa: E402

SENTENCES = (
    "I told you already, I do not want to talk about it.",
    "This is wonderful, I am so glad you came.",
    "Why would you do that to me?",
    "Leave me alone, I need some time to think.",
)


def timed(work, repeats: int) -> tuple[float, object]:
    """The best of ``repeats`` wall times (ms) of ``work()``, and its last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--asr-tokens", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        whisper = save_tiny_whisper(root / "whisper", max_length=args.asr_tokens)
        folder = save_tiny_folder(root / "affectgpt", AffectGPTProcessor.from_pretrained(TINY), sensitive=True)
        spoken = [speech_clip(root / f"speech{i}.mp4", SENTENCES[i % 4], seed=i) for i in range(args.clips)]
        silent = [make_clip(root / f"tone{i}.mp4", seconds=3.0, seed=i) for i in range(args.clips)]
        recognizer = SpeechRecognizer(whisper)
        model, processor = load_model(folder)
        runtime = InferenceArguments(batch_size=1, max_new_tokens=args.new_tokens, num_workers=0)
        detect_speech(load_audio(str(silent[0])))  # silero's first call loads it
        rows = {}
        for kind, clips in (("speech", spoken), ("no speech", silent)):
            steps: dict[str, list[float]] = {"decode": [], "vad": [], "asr": [], "describe": []}
            seconds = []
            for clip in clips:
                ms, wave = timed(lambda clip=clip: load_audio(str(clip)), args.repeats)
                steps["decode"].append(ms)
                seconds.append(len(wave) / 16000)
                ms, found = timed(lambda wave=wave: detect_speech(wave), args.repeats)
                steps["vad"].append(ms)
                if found:
                    options = recognizer.call_options(len(wave) / 16000)
                    call = lambda wave=wave, options=options: recognizer.asr(  # noqa: E731
                        {"raw": wave, "sampling_rate": 16000}, **options
                    )
                    steps["asr"].append(timed(call, args.repeats)[0])
                else:
                    steps["asr"].append(0.0)
                one = [Clip(clip.stem, video=str(clip), subtitle="I told you already.")]
                ms, _ = timed(lambda one=one: describe(model, processor, one, runtime, progress=False), args.repeats)
                steps["describe"].append(ms)
            rows[kind] = ({step: statistics.mean(values) for step, values in steps.items()}, statistics.mean(seconds))
    print(f"torch threads {torch.get_num_threads()}; best of {args.repeats}; mean over {args.clips} clips per kind")
    print(f"{'clips':<10} {'audio s':>7} {'decode ms':>10} {'vad ms':>8} {'asr ms':>8} {'describe ms':>12} "
          f"{'(vad+asr)/describe':>19} {'vad x real time':>16}")  # fmt: skip
    for kind, (means, seconds) in rows.items():
        added = (means["vad"] + means["asr"]) / means["describe"]
        speed = seconds * 1000 / means["vad"]
        print(f"{kind:<10} {seconds:>7.2f} {means['decode']:>10.1f} {means['vad']:>8.1f} {means['asr']:>8.1f} "
              f"{means['describe']:>12.1f} {added:>18.2f}x {speed:>15.0f}x")  # fmt: skip


if __name__ == "__main__":
    main()
