"""Helpers the test files share (a plain module: conftest.py holds only fixtures and hooks).

`from utils import ...` works in every test file (pytest puts tests/ on sys.path) and in scripts a test launches
after `sys.path.insert(0, <tests folder>)`.
"""

from __future__ import annotations

import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "hub_configs" / "tiny"
WHEEL_DIR = REPO.parent / "shared" / "emotion_wheel"  # CI's layout; MER_UNIBENCH_WHEEL_DIR wins when set
ROWS = 6  # clips in conftest's mini MER-Caption+ release (`release`, `rows`, `feature_cache`)


# ------------------------------------------------------------------------------------------------- the tiny model
def tiny_config(sensitive: bool = False, **overrides):
    """The tiny AffectGPT config of hub_configs/tiny, with AffectGPTConfig fields overridden.

    At the hub config's 0.02 init the random model gives every clip the same answer, so comparing batched with
    one-by-one answers compares equal things; `sensitive` draws Qwen2 and CLIP weights wider, and the answer follows
    the clip's media and subtitle (tests using it first assert that their clips' answers differ).
    """
    from affectgpt_hf import AffectGPTConfig

    config = AffectGPTConfig.from_pretrained(TINY)
    if sensitive:
        text = {**config.text_config.to_dict(), "initializer_range": 0.3}
        vision = {**config.vision_config.to_dict(), "initializer_factor": 10.0}  # CLIP scales its init by this factor
        overrides = {"text_config": text, "vision_config": vision, **overrides}
    return AffectGPTConfig(**{**config.to_dict(), **overrides}) if overrides else config


def tiny_model(seed: int = 0, sensitive: bool = False, **overrides):
    """A tiny AffectGPT with random weights drawn after `torch.manual_seed(seed)`, in eval mode."""
    from affectgpt_hf import AffectGPTForConditionalGeneration

    torch.manual_seed(seed)
    return AffectGPTForConditionalGeneration(tiny_config(sensitive, **overrides)).eval()


def save_tiny_folder(folder: Path, processor, seed: int = 0, sensitive: bool = False) -> Path:
    """A from_pretrained folder of the tiny model (random weights, tiny generation config) and its processor.

    Tests that only read such a folder take conftest's session fixture `tiny_folder` instead (built once per seed).
    """
    from affectgpt_hf.hub.variants import VARIANTS, generation_config

    model = tiny_model(seed=seed, sensitive=sensitive)
    model.generation_config = generation_config(VARIANTS["tiny"][1])
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


# ----------------------------------------------------------------------------------------------------------- prompt
# The default face model's prompt as upstream's `get_prompt_for_multimodal` (my_affectgpt/datasets/datasets/
# base_dataset.py, fffca79) writes it, verbatim (note the trailing space).
UPSTREAM_FACE_PROMPT = (
    "###Human: The audio and video merged info is: <Multi><MultiHere></Multi>. The audio content is as follows: "
    "<Audio><AudioHere></Audio>. Meanwhile, we uniformly sample raw frames from the video and extract faces from these "
    "frames: <Video><FaceHere></Video>. The subtitle of this video is: <Subtitle>I told you already.</Subtitle>. Now, "
    "please answer my question based on all the provided information. Please recognize all possible emotional states "
    "of the character. ###Assistant: "
)


# ------------------------------------------------------------------------------------------------------------ media
def make_clip(
    path: Path,
    seconds: float = 3.0,
    fps: int = 10,
    size=(48, 64),
    sampling_rate: int = 16000,
    channels: int = 1,
    audio: bool = True,
    seed: int = 0,
) -> Path:
    """An h264/aac mp4 whose frames and tone differ by seed."""
    from affectgpt_hf.data.writers import write_video

    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, size=(max(1, int(seconds * fps)), *size, 3), dtype=np.uint8)
    track = None
    if audio:
        t = np.arange(int(seconds * sampling_rate)) / sampling_rate
        tone = (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t)).astype(np.float32)
        track = np.stack([tone] * channels) if channels > 1 else tone
    write_video(path, frames, fps=fps, audio=track, sampling_rate=sampling_rate)
    return path


def remux(source: Path, path: Path, container: str) -> Path:
    """``source``'s packets copied into ``container`` (no re-encoding)."""
    with av.open(str(source)) as reader, av.open(str(path), "w", format=container) as writer:
        streams = {s.index: writer.add_stream_from_template(s) for s in reader.streams}
        for packet in reader.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                writer.mux(packet)
    return path


def playlist(entry: str) -> str:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3.0,\n{entry}\n#EXT-X-ENDLIST\n"


def write_container(path: Path, container: str, video_codec: str | None, audio_codec: str | None) -> Path:
    """A 2 s clip (random 32x32 frames at 8 fps, a 440 Hz tone at 48 kHz) in ``container``."""
    rng = np.random.default_rng(0)
    rate = 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate)).astype(np.float32)
    with av.open(str(path), "w", format=container) as writer:
        video = writer.add_stream(video_codec, rate=8) if video_codec else None
        if video is not None:
            video.width = video.height = 32
            video.pix_fmt = "yuv420p"
        audio = writer.add_stream(audio_codec, rate=rate, layout="mono") if audio_codec else None
        for _ in range(16 if video is not None else 0):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), format="rgb24")
            writer.mux(video.encode(frame))
        if video is not None:
            writer.mux(video.encode(None))
        if audio is not None:
            writer.mux(_encode_all(audio, tone, rate))
    return path


def _encode_all(stream, tone: np.ndarray, rate: int) -> list:
    """Every packet of ``tone`` encoded by ``stream`` (frames of the encoder's size, then the flush)."""
    size = stream.codec_context.frame_size or 1024
    fifo = av.AudioFifo()
    frame = av.AudioFrame.from_ndarray(tone[None], format="flt", layout="mono")
    frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), 0
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
    for converted in resampler.resample(frame):
        fifo.write(converted)
    packets = []
    while fifo.samples:
        packets += stream.encode(fifo.read(min(size, fifo.samples)))
    return packets + stream.encode(None)


def spy_on_opens(monkeypatch) -> list[bool]:
    """Record ``probe_decodes`` of every ``media.open_media`` call (whether FFmpeg's stream probe decoded frames)."""
    from affectgpt_hf import media

    probes, real = [], media.open_media
    monkeypatch.setattr(
        media, "open_media", lambda *a, probe_decodes=True: probes.append(probe_decodes) or real(*a, probe_decodes)
    )
    return probes


# ---------------------------------------------------------------------------------------- upstream checkpoints
LORA_MODULES = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj") + (
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)
RANK = 4


def upstream_state_dict(config, seed: int = 0) -> dict[str, torch.Tensor]:
    """What `_save_checkpoint` stores for a model of these sizes, written from upstream's module definitions."""
    g = torch.Generator().manual_seed(seed)
    V, A = config.vision_config.projection_dim, config.audio_config.hidden_size  # noqa: N806
    H, Fd = config.text_config.hidden_size, max(V, A)  # noqa: N806
    Q, I = config.qformer_hidden_size, config.qformer_intermediate_size  # noqa: E741, N806
    shapes: dict[str, tuple[int, ...]] = {}

    def linear(name, out_dim, in_dim):
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (out_dim, in_dim), (out_dim,)

    def qformer(prefix, width, tokens, positions_name, positions, queries):
        shapes[tokens] = (1, queries, Q)
        shapes[f"{positions_name}.weight"] = (positions, width)
        shapes[f"{prefix}.bert.embeddings.LayerNorm.weight"] = shapes[f"{prefix}.bert.embeddings.LayerNorm.bias"] = (Q,)
        for n in range(config.qformer_num_layers):
            layer = f"{prefix}.bert.encoder.layer.{n}"
            for block, kv in (("attention", Q), ("crossattention", width)):
                linear(f"{layer}.{block}.self.query", Q, Q)
                linear(f"{layer}.{block}.self.key", Q, kv)
                linear(f"{layer}.{block}.self.value", Q, kv)
                linear(f"{layer}.{block}.output.dense", Q, Q)
                shapes[f"{layer}.{block}.output.LayerNorm.weight"] = (Q,)
                shapes[f"{layer}.{block}.output.LayerNorm.bias"] = (Q,)
            linear(f"{layer}.intermediate_query.dense", I, Q)
            linear(f"{layer}.output_query.dense", Q, I)
            shapes[f"{layer}.output_query.LayerNorm.weight"] = shapes[f"{layer}.output_query.LayerNorm.bias"] = (Q,)

    linear("image_llama_proj", H, V)
    if config.video_pooling == "attention":
        linear("video_attention_mlp", 1, V)
    elif config.video_pooling == "qformer":
        qformer("video_Qformer", V, "video_query_tokens", "video_frame_position_embedding", 32, 1)
    linear("affectgpt_proj", H, Q if config.video_pooling == "qformer" else V)
    linear("audio_attention_mlp", 1, A)
    linear("audio_llama_proj", H, A)
    linear("multi_video_embs", Fd, V)
    linear("multi_audio_embs", Fd, A)
    if config.fusion == "qformer":
        qformer("multi_Qformer", Fd, "multi_query_tokens", "multi_position_embedding", 264, 1)
        linear("multi_llama_proj", H, Q)
    else:
        linear("attention_mlp", Fd, 2 * Fd)
        linear("fc_att", 2, Fd)
        linear("multi_llama_proj", H, Fd)
    text = config.text_config
    sizes = {
        "self_attn.q_proj": (text.hidden_size, text.hidden_size),
        "self_attn.k_proj": (text.hidden_size, text.num_key_value_heads * text.hidden_size // text.num_attention_heads),
        "self_attn.o_proj": (text.hidden_size, text.hidden_size),
        "mlp.gate_proj": (text.hidden_size, text.intermediate_size),
        "mlp.up_proj": (text.hidden_size, text.intermediate_size),
        "mlp.down_proj": (text.intermediate_size, text.hidden_size),
    }
    sizes["self_attn.v_proj"] = sizes["self_attn.k_proj"]
    for n in range(text.num_hidden_layers):
        for module in LORA_MODULES:
            in_dim, out_dim = sizes[module]
            prefix = f"llama_model.base_model.model.model.layers.{n}.{module}"
            shapes[f"{prefix}.lora_A.default.weight"] = (RANK, in_dim)
            shapes[f"{prefix}.lora_B.default.weight"] = (out_dim, RANK)
    state = {name: torch.randn(shape, generator=g) * 0.2 for name, shape in shapes.items()}
    if config.fusion == "qformer":
        state["multi_Qformer.bert.embeddings.position_ids"] = torch.arange(512).expand(1, -1)
    return state


# ------------------------------------------------------------------------------------------------------- benchmark
LABEL_EMOTIONS = ("happy", "sad", "angry", "worried", "surprised", "relaxed", "frustrated", "joyful")


def labelled(describe_fn):
    """`describe_fn` with emotions appended to each answer, picked by bits of a hash of the model's text: the tiny
    model's words mean nothing, but so the extracted labels, and the scores, follow what it answered for each clip."""

    def label(answers) -> None:
        for answer in answers:
            if answer.text is not None:
                bits = zlib.crc32(answer.text.encode())
                emotions = [e for i, e in enumerate(LABEL_EMOTIONS) if bits >> i & 1] or ["calm"]
                answer.text += f" The character's emotional state is {', '.join(emotions)}."

    def describe_and_label(model, processor, clips, on_batch=None, **kwargs):
        if on_batch is None:
            answers = describe_fn(model, processor, clips, **kwargs)
            label(answers)
            return answers

        def label_then_pass_on(answers):  # the runner caches each batch as it comes: label it first
            label(answers)
            on_batch(answers)

        return describe_fn(model, processor, clips, on_batch=label_then_pass_on, **kwargs)

    return describe_and_label


# ------------------------------------------------------------------------------------------------- speech
WHISPER_RANKS = (
    50257  # byte-level BPE ranks of Whisper's multilingual vocabulary (whisper/assets/multilingual.tiktoken)
)
WHISPER_LANGUAGES = 99  # whisper-small/medium/large-v2 layout: 99 language tokens, vocabulary of 51,865


def whisper_ranks() -> dict[bytes, int]:
    """Whisper's real multilingual BPE ranks, from the openai-whisper package's assets (installed with --no-deps by
    scripts/setup.sh; the package itself is never imported: its import needs numba)."""
    import base64
    import importlib.util

    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("openai-whisper's vocabulary is needed: pip install --no-deps openai-whisper==20250625")
    path = Path(spec.submodule_search_locations[0]) / "assets" / "multilingual.tiktoken"
    ranks = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    assert len(ranks) == WHISPER_RANKS, len(ranks)
    return ranks


def whisper_language_tokens() -> list[str]:
    """<|en|>, <|zh|>, ...: the first 99 of Whisper's languages, in its order."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return [f"<|{code}|>" for code in list(LANGUAGES)[:WHISPER_LANGUAGES]]


def whisper_tokenizer():
    """Whisper's multilingual tokenizer with its real ids: the BPE ranks, then <|endoftext|>, <|startoftranscript|>,
    the 99 languages, the task and marker tokens (special), then the 1501 timestamps <|0.00|>..<|30.00|> (not special,
    as transformers' Whisper tokenizer expects), in openai-whisper's order (whisper/tokenizer.py, get_encoding)."""
    import json

    from tokenizers import AddedToken, Tokenizer
    from transformers import WhisperTokenizer

    from affectgpt_hf.tokenizer import _bpe_from_ranks

    bpe = json.loads(Tokenizer(_bpe_from_ranks(whisper_ranks())).to_str())["model"]
    languages = whisper_language_tokens()
    markers = [
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]
    specials = ["<|endoftext|>", "<|startoftranscript|>", *languages, *markers]
    tokenizer = WhisperTokenizer(
        vocab=bpe["vocab"], merges=[tuple(m) for m in bpe["merges"]], extra_special_tokens=specials[1:]
    )
    tokenizer.add_tokens([AddedToken(f"<|{i * 0.02:.2f}|>", special=False, normalized=False) for i in range(1501)])
    expected = list(range(WHISPER_RANKS, WHISPER_RANKS + len(specials) + 1501))
    assert tokenizer.convert_tokens_to_ids(specials + ["<|0.00|>", "<|30.00|>"]) == expected[: len(specials) + 1] + [
        expected[-1]
    ], "Whisper's special tokens did not land on their ids"
    return tokenizer


def save_tiny_whisper(folder: Path, seed: int = 0, max_length: int = 24) -> Path:
    """A from_pretrained folder of a tiny random Whisper (2+2 layers of width 64, weights drawn wide so its text
    depends on the audio) with Whisper's real multilingual vocabulary and generation config (languages, tasks,
    timestamps), which `pipeline("automatic-speech-recognition")` loads offline. ``max_length`` tokens per 30 s window
    keep a random model's endless text short."""
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    tokenizer = whisper_tokenizer()
    token = tokenizer.convert_tokens_to_ids
    eot, sot = token("<|endoftext|>"), token("<|startoftranscript|>")
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        num_mel_bins=80,
        init_std=0.3,  # at Whisper's 0.02 a random model says the same for any clip; at 0.3 its text follows the audio
        decoder_start_token_id=sot,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    languages = whisper_language_tokens()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        bos_token_id=eot,
        max_length=max_length,
        num_beams=1,  # the ASR pipeline's own default is 5 beams (openai's); greedy keeps the tests quick
        is_multilingual=True,
        lang_to_id={language: token(language) for language in languages},
        task_to_id={"transcribe": token("<|transcribe|>"), "translate": token("<|translate|>")},
        no_timestamps_token_id=token("<|notimestamps|>"),
        prev_sot_token_id=token("<|startofprev|>"),
        max_initial_timestamp_index=50,
        begin_suppress_tokens=[220, eot],
    )
    model.save_pretrained(folder)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(
        folder
    )
    return folder


def speak(path: Path, text: str, voice: str = "en") -> Path:
    """``text`` spoken by espeak-ng (Debian's espeak-ng, offline) into a wav: real speech for voice-activity tests."""
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (scripts/setup.sh installs it: apt-get install espeak-ng)")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True, timeout=60)
    return path


def speech_clip(path: Path, text: str, voice: str = "en", pad_seconds: float = 0.5, seed: int = 0) -> Path:
    """An h264/aac mp4 whose audio track is ``text`` spoken by espeak-ng (16 kHz, ``pad_seconds`` of silence either
    side) under random frames."""
    from affectgpt_hf.data.writers import write_video
    from affectgpt_hf.media import load_audio

    wav = speak(path.with_suffix(".speech.wav"), text, voice)
    pad = np.zeros(int(pad_seconds * 16000), np.float32)
    track = np.concatenate([pad, load_audio(wav), pad])
    wav.unlink()
    frames = np.random.default_rng(seed).integers(0, 255, (max(1, int(len(track) / 16000 * 10)), 48, 64, 3), np.uint8)
    write_video(path, frames, fps=10, audio=track, sampling_rate=16000)
    return path
