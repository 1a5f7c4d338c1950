"""AffectGPTProcessor: upstream prompt bytes, chat template, media to tensors, answers to text and labels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from utils import REPO, TINY, UPSTREAM_FACE_PROMPT, make_clip

from affectgpt_hf import AffectGPTProcessor
from affectgpt_hf.prompt import QUESTIONS, render_prompt

pytestmark = pytest.mark.timeout(120)


def test_apply_chat_template_on_saved_folder_decodes_with_media_py(tmp_path, clips, monkeypatch):
    processor = AffectGPTProcessor.from_pretrained(TINY)
    processor.save_pretrained(tmp_path)
    loaded = AffectGPTProcessor.from_pretrained(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("transformers' load_audio must not decode our media")

    monkeypatch.setattr("transformers.processing_utils.load_audio", refuse)
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "video", "path": str(clips[1])},
                {"type": "audio", "path": str(clips[2])},
                {"type": "text", "text": "I told you already."},
            ],
        }
    ]
    out = loaded.apply_chat_template(messages, tokenize=True, return_dict=True, task="description")
    direct = processor(
        videos=[str(clips[1])], audio=[str(clips[2])], subtitles=["I told you already."], task="description"
    )
    for key in ("input_ids", "attention_mask", "pixel_values_videos", "input_values"):
        torch.testing.assert_close(out[key], direct[key])


def test_batch_features_shapes_and_left_padding(tiny_processor, clips):
    out = tiny_processor(videos=[str(c) for c in clips[:2]], subtitles=["A much longer subtitle than the other.", ""])
    assert out["pixel_values_videos"].shape == (2, 8, 3, 224, 224)
    assert out["input_values"].shape == (2, 8, 32000)
    assert out["attention_mask"][1, 0] == 0 and out["attention_mask"][1, -1] == 1  # the shorter prompt is left-padded
    assert out["input_ids"][1, 0] == tiny_processor.tokenizer.pad_token_id


CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])  # OpenAI CLIP's, as upstream's processor normalises
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


def _clip_normalised(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, 3, H, W): x / 255, minus CLIP's mean, over CLIP's std, channel by channel."""
    return ((frames / 255.0 - CLIP_MEAN) / CLIP_STD).transpose(0, 3, 1, 2)


def test_pixel_values_are_clip_normalised_frames_in_channel_order(tiny_processor, clips, tmp_path):
    """Frames at 224x224 (no resize, no crop): each pixel is (x / 255 - mean) / std, channels as given; faces keep
    their stored (BGR) order, as upstream; a file's frames are media.py's frames."""
    from affectgpt_hf.media import sample_video_frames

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (8, 224, 224, 3), dtype=np.uint8)  # 8 frames: all picked, in order
    frames[..., 0] //= 2  # channels of different ranges, so a swap shows
    out = tiny_processor(videos=[frames], audio=[np.zeros(16000)], sampling_rate=16000, subtitles=["x"])
    np.testing.assert_allclose(out["pixel_values_videos"][0].numpy(), _clip_normalised(frames), atol=1e-5, rtol=0)

    face_processor = AffectGPTProcessor.from_pretrained(TINY, input_mode="multiface_audio_face_text")
    np.save(tmp_path / "faces.npy", frames)
    out = face_processor(faces=[str(tmp_path / "faces.npy")], audio=[np.zeros(16000)], sampling_rate=16000, text="x")
    np.testing.assert_allclose(out["pixel_values_videos"][0].numpy(), _clip_normalised(frames), atol=1e-5, rtol=0)

    out = tiny_processor(videos=[str(clips[0])], subtitles=["x"])
    expected = _clip_normalised(sample_video_frames(str(clips[0]), size=(224, 224)))
    np.testing.assert_allclose(out["pixel_values_videos"][0].numpy(), expected, atol=1e-5, rtol=0)


def test_right_padding_keeps_each_prompt_at_the_start(tiny_processor, clips):
    videos, subtitles = [str(c) for c in clips[:2]], ["A much longer subtitle than the other.", ""]
    left = tiny_processor(videos=videos, subtitles=subtitles)
    right = tiny_processor(videos=videos, subtitles=subtitles, padding_side="right")
    pad = tiny_processor.tokenizer.pad_token_id
    lengths = left["attention_mask"].sum(dim=1).tolist()
    assert lengths[1] < lengths[0] == right["input_ids"].shape[1]
    for i, n in enumerate(lengths):
        assert right["input_ids"][i, :n].tolist() == left["input_ids"][i, -n:].tolist()
        assert right["attention_mask"][i].tolist() == [1] * n + [0] * (lengths[0] - n)
        assert set(right["input_ids"][i, n:].tolist()) <= {pad}
    torch.testing.assert_close(right["pixel_values_videos"], left["pixel_values_videos"])
    with pytest.raises(ValueError, match="padding_side='middle'"):
        tiny_processor(videos=videos, subtitles=subtitles, padding_side="middle")


def test_one_question_is_asked_of_every_clip(tiny_processor, clips):
    videos, subtitles = [str(c) for c in clips[:2]], ["Hi.", "Go away."]
    question = "Is the person lying?"
    shared = tiny_processor(videos=videos, subtitles=subtitles, question=question)
    listed = tiny_processor(videos=videos, subtitles=subtitles, question=[question, question])
    assert torch.equal(shared["input_ids"], listed["input_ids"])
    prompts = tiny_processor.tokenizer.batch_decode(shared["input_ids"], skip_special_tokens=False)
    for prompt, subtitle in zip(prompts, subtitles, strict=True):
        expected = render_prompt(tiny_processor.input_mode, subtitle, question, tiny_processor.query_tokens)
        assert prompt.replace(tiny_processor.tokenizer.pad_token, "") == expected
    mixed = tiny_processor(videos=videos, subtitles=subtitles, question=["Why?", question])
    assert "Why?" in tiny_processor.tokenizer.decode(mixed["input_ids"][0])
    with pytest.raises(ValueError, match="different lengths"):
        tiny_processor(videos=videos, subtitles=subtitles, question=["Why?", "How?", "When?"])


def test_audio_clips_are_normalised_together_not_one_by_one(tiny_processor, tmp_path):
    """Upstream fed all 8 clips to Wav2Vec2FeatureExtractor as one sequence (my_affectgpt/models/encoder.py)."""
    sr = 16000
    t = np.arange(sr * 16) / sr
    loud_then_quiet = np.sin(2 * np.pi * 300 * t) * np.where(t < 8, 0.8, 0.05)
    out = tiny_processor(
        text=["x"], videos=[np.zeros((4, 32, 32, 3), np.uint8)], audio=[loud_then_quiet], sampling_rate=sr
    )
    values = out["input_values"][0].double()
    assert abs(values.mean().item()) < 1e-4 and abs(values.var(unbiased=False).item() - 1) < 1e-3
    per_clip_std = values.std(dim=1)
    assert per_clip_std[0] > 5 * per_clip_std[-1]  # a per-clip normalisation would make these equal
    assert torch.allclose(values.mean(dim=1), values.mean(dim=1)[0], atol=1e-4)  # each clip mean-removed first


def test_audio_is_taken_from_the_video_when_not_given(tiny_processor, clips):
    from affectgpt_hf.media import audio_clips, load_audio

    out = tiny_processor(videos=[str(clips[0])], subtitles=["hi"])
    clips_ = audio_clips(load_audio(str(clips[0])))
    expected = (clips_ - clips_.mean()) / np.sqrt(clips_.var() + 1e-7)
    np.testing.assert_allclose(out["input_values"][0].numpy(), expected, atol=1e-4)


def test_files_given_as_bytes_or_file_objects_equal_their_paths(tiny_processor, clips, tmp_path):
    """What a data set with embedded media holds (the files' bytes): the video's bytes carry its audio too."""
    import io

    from affectgpt_hf.data.writers import write_audio

    wav = tmp_path / "tone.wav"
    write_audio(wav, np.sin(np.arange(32000) / 10).astype(np.float32), 16000)
    by_path = tiny_processor(videos=[str(clips[0]), str(clips[1])], audio=[None, str(wav)], subtitles=["a", "b"])
    given = [clips[0].read_bytes(), clips[1].read_bytes()]
    for audio in ([None, wav.read_bytes()], [None, io.BytesIO(wav.read_bytes())]):
        by_bytes = tiny_processor(videos=given, audio=audio, subtitles=["a", "b"])
        for key in ("pixel_values_videos", "input_values"):
            np.testing.assert_array_equal(by_bytes[key].numpy(), by_path[key].numpy())
    # datasets' undecoded media dicts (Video()/Audio() cast with decode=False): the bytes when present, else the path
    videos = [{"bytes": given[0], "path": "ignored.mp4"}, {"bytes": None, "path": str(clips[1])}]
    by_dict = tiny_processor(
        videos=videos, audio=[None, {"bytes": wav.read_bytes(), "path": None}], subtitles=["a", "b"]
    )
    for key in ("pixel_values_videos", "input_values"):
        np.testing.assert_array_equal(by_dict[key].numpy(), by_path[key].numpy())
    one = tiny_processor(videos={"bytes": None, "path": str(clips[0])}, subtitles="a")
    np.testing.assert_array_equal(one["pixel_values_videos"][0].numpy(), by_path["pixel_values_videos"][0].numpy())
    with pytest.raises(ValueError, match=r"videos\[0\] is a media dict with neither bytes nor path"):
        tiny_processor(videos=[{"bytes": None, "path": None}], subtitles=["a"])


def test_face_model_reads_npy_and_warns_on_raw_frames(tmp_path, clips):
    processor = AffectGPTProcessor.from_pretrained(TINY, input_mode="multiface_audio_face_text")
    faces = tmp_path / "clip.npy"
    np.save(faces, np.random.default_rng(0).integers(0, 255, (13, 112, 112, 3), dtype=np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = processor(faces=[str(faces)], videos=[str(clips[0])], subtitles=["hi"])
    assert out["pixel_values_videos"].shape == (1, 8, 3, 224, 224)
    with pytest.warns(UserWarning, match="face crops"):
        processor(videos=[str(clips[0])], subtitles=["hi"])


def test_bad_input_errors_name_the_problem(tiny_processor, clips, tmp_path):
    with pytest.raises(ValueError, match="different lengths"):
        tiny_processor(videos=[str(clips[0])], subtitles=["a", "b"])
    with pytest.raises(ValueError, match="audio"):
        tiny_processor(videos=[np.zeros((3, 16, 16, 3), np.uint8)], subtitles=["a"])
    with pytest.raises(ValueError, match="sampling_rate"):
        tiny_processor(videos=[str(clips[0])], audio=[np.zeros(16000, np.float32)], subtitles=["a"])
    silent = make_clip(tmp_path / "silent.mp4", audio=False)
    with pytest.raises(ValueError, match="silent.mp4"):
        tiny_processor(videos=[str(silent)], subtitles=["a"])
    with pytest.raises(ValueError, match="task"):
        tiny_processor(videos=[str(clips[0])], subtitles=["a"], task="poem")
    missing = tmp_path / "missing.mp4"
    with pytest.raises((ValueError, FileNotFoundError), match="missing.mp4"):
        tiny_processor(videos=[str(missing)], subtitles=["a"])


def test_over_long_prompt_is_left_truncated_with_a_warning(tiny_processor, clips):
    full = tiny_processor(videos=[str(clips[0])], subtitles=["word " * 50])["input_ids"][0].tolist()
    with pytest.warns(UserWarning, match=f"has {len(full)} tokens.*its first {len(full) - 40} tokens are dropped"):
        out = tiny_processor(videos=[str(clips[0])], subtitles=["word " * 50], max_length=40)
    assert out["input_ids"][0].tolist() == full[-40:]  # the prompt's end (question, "###Assistant: ") is kept


def test_batch_decode_returns_the_answer_only(tiny_processor):
    tok = tiny_processor.tokenizer
    prompt = render_prompt("multiframe_audio_frame_text", "hi", QUESTIONS["ov_labels"])
    finished = tok(prompt + "The character's emotional state is happy, excited.###", add_special_tokens=False)
    truncated = tok(prompt + "In the text, the person says ## nothing", add_special_tokens=False)
    with_eos = tok(prompt + "The character's emotional state is sad.", add_special_tokens=False)["input_ids"]
    pad = [tok.pad_token_id] * 3
    answers = tiny_processor.batch_decode(
        [pad + finished["input_ids"], truncated["input_ids"], with_eos + [tok.eos_token_id] * 2]
    )
    assert answers == [
        "The character's emotional state is happy, excited.",
        "In the text, the person says ## nothing",
        "The character's emotional state is sad.",
    ]
    assert tiny_processor.post_process(answers) == [["happy", "excited"], [], ["sad"]]


def test_hub_config_processor_has_qwen25_ids_offline(tmp_path):
    faces = tmp_path / "faces.npy"
    np.save(faces, np.zeros((3, 8, 8, 3), np.uint8))
    processor = AffectGPTProcessor.from_pretrained(REPO / "hub_configs" / "affectgpt-qwen2.5-7b")
    assert processor.input_mode == "multiface_audio_face_text"
    assert len(processor.tokenizer) == 151_670 and processor.tokenizer.convert_tokens_to_ids("<FaceHere>") == 151668
    ids = processor(text=[UPSTREAM_FACE_PROMPT], faces=[str(faces)], audio=[np.zeros(100)], sampling_rate=16000)[
        "input_ids"
    ][0].tolist()
    assert ids[-1] == 220 and ids.count(151668) == 1 and ids.count(151669) == 1
