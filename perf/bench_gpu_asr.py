"""Speech recognition's cost on a GPU, with a model of the default Whisper's shape (openai/whisper-large-v3-turbo:
32 encoder and 4 decoder layers of width 1280, 128 mel bins, 51,866 tokens; 809M parameters; random weights made on
the device in float16, since the device machine reaches no Hub), measured side by side in one run (no asserts):

1. one 30 s window (what a clip of up to 30 s costs): the log-mel features of 30 s (WhisperFeatureExtractor, CPU),
   the encoder, and decoding exactly ``--tokens`` tokens (a clip's transcript; min = max new tokens, so a random model
   does the same work as a trained one), greedy and with the ASR pipeline's default 5 beams; best of 3 each;
2. long audio: ``--windows`` 30 s windows decoded as one batch (the pipeline's ``chunk_length_s=30, batch_size=N``)
   against one after another;
3. silero-vad over 30 s of audio on this machine's CPU (what each clip pays before any ASR).

Figures go to stdout and to ``--out`` (JSON) as they come.

    python perf/bench_gpu_asr.py [--tokens 40] [--windows 8] [--out asr.json]
    # on the CPU with a small width, to check the script (figures meaningless; 1-2 minutes):
    python perf/bench_gpu_asr.py --device cpu --dtype float32 --width 256 --encoder-layers 2 --tokens 8 --windows 2

How to run it on the device machine: perf/README.md, "GPU".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

TURBO = {  # openai/whisper-large-v3-turbo's config.json
    "d_model": 1280,
    "encoder_layers": 32,
    "decoder_layers": 4,
    "encoder_attention_heads": 20,
    "decoder_attention_heads": 20,
    "encoder_ffn_dim": 5120,
    "decoder_ffn_dim": 5120,
    "num_mel_bins": 128,
    "vocab_size": 51866,
    "max_source_positions": 1500,
    "max_target_positions": 448,
    "decoder_start_token_id": 50258,
    "pad_token_id": 50257,
    "bos_token_id": 50257,
    "eos_token_id": 50257,
}


def synchronized(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best_ms(work, device: str, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        synchronized(device)
        started = time.perf_counter()
        work()
        synchronized(device)
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--tokens", type=int, default=40, help="decoded tokens per window (a short utterance)")
    parser.add_argument("--windows", type=int, default=8, help="30 s windows of the long-audio comparison")
    parser.add_argument("--width", type=int, default=None, help="d_model override (CPU check)")
    parser.add_argument("--encoder-layers", type=int, default=None, help="override (CPU check)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    figures: dict = {"device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"}

    def record(key: str, value) -> None:
        figures[key] = value
        print(f"{key}: {value}", flush=True)
        if args.out is not None:
            args.out.write_text(json.dumps(figures, indent=2))

    shape = dict(TURBO)
    if args.width:
        shape.update(d_model=args.width, encoder_ffn_dim=4 * args.width, decoder_ffn_dim=4 * args.width)
        shape.update(encoder_attention_heads=4, decoder_attention_heads=4)
    if args.encoder_layers:
        shape["encoder_layers"] = args.encoder_layers
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    with torch.device(args.device):
        model = WhisperForConditionalGeneration(WhisperConfig(**shape)).to(dtype).eval()
    record("parameters_M", round(model.num_parameters() / 1e6, 1))
    extractor = WhisperFeatureExtractor(feature_size=shape["num_mel_bins"])
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(30 * 16000)).astype(np.float32)
    record("features_ms_per_window_cpu", round(best_ms(lambda: extractor(audio, sampling_rate=16000), "cpu"), 1))
    features = extractor(audio, sampling_rate=16000, return_tensors="pt").input_features.to(args.device, dtype)
    prompt = torch.tensor([[50258, 50259, 50360, 50364]], device=args.device)  # sot, <|en|>, transcribe, notimestamps

    def decode(batch: torch.Tensor, beams: int):
        return lambda: model.generate(
            input_features=batch,
            decoder_input_ids=prompt.expand(batch.shape[0], -1),
            min_new_tokens=args.tokens,
            max_new_tokens=args.tokens,
            num_beams=beams,
            do_sample=False,
        )

    with torch.inference_mode():
        decode(features, 1)()  # warm-up
        record("encoder_ms_per_window", round(best_ms(lambda: model.model.encoder(features), args.device), 1))
        record(f"window_{args.tokens}_tokens_greedy_ms", round(best_ms(decode(features, 1), args.device), 1))
        record(f"window_{args.tokens}_tokens_5_beams_ms", round(best_ms(decode(features, 5), args.device), 1))
        many = features.expand(args.windows, -1, -1).contiguous()
        batched = best_ms(decode(many, 1), args.device, repeats=2)
        one_by_one = best_ms(lambda: [decode(features, 1)() for _ in range(args.windows)], args.device, repeats=2)
        record(f"{args.windows}_windows_batched_ms", round(batched, 1))
        record(f"{args.windows}_windows_one_by_one_ms", round(one_by_one, 1))
        record("batched_speed_up", round(one_by_one / batched, 2))

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from affectgpt_hf.speech import detect_speech

    detect_speech(audio[:16000])
    record("vad_ms_per_30s_cpu", round(best_ms(lambda: detect_speech(audio), "cpu"), 1))
    record("torch_threads", torch.get_num_threads())


if __name__ == "__main__":
    main()
