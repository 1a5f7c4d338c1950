"""inference.batch and `affectgpt describe`: batching, corrupt clips reported and skipped, JSONL out."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from utils import make_clip, tiny_model

from affectgpt_hf.cli import main
from affectgpt_hf.inference.arguments import InferenceArguments, generation_kwargs
from affectgpt_hf.inference.batch import Clip, describe

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir(seed=3)


def test_batched_describe_equals_one_by_one_and_skips_bad_clips(tiny_processor, clips, tmp_path):
    model = tiny_model(seed=3, sensitive=True)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    # one subtitle for all: the answers differ by media alone, so media handed to the wrong row shows
    items = [Clip(c.stem, video=str(c), subtitle="Fine.") for c in clips]
    items.insert(1, Clip("broken", video=str(broken)))
    together = describe(
        model, tiny_processor, items, InferenceArguments(batch_size=3, max_new_tokens=6), progress=False
    )
    assert [r.name for r in together] == ["clip0", "broken", "clip1", "clip2"]
    assert together[1].error and "broken.mp4" in together[1].error and together[1].text is None
    texts = [r.text for r in together if r.error is None]
    assert len(set(texts)) == 3, texts  # each clip gets its own answer
    for item, result in zip(items, together, strict=True):
        if item.name != "broken":
            alone = describe(model, tiny_processor, [item], InferenceArguments(batch_size=1, max_new_tokens=6))[0]
            assert alone.text == result.text
    with pytest.raises(ValueError, match="broken.mp4"):
        describe(model, tiny_processor, items[:2], skip_errors=False, max_new_tokens=2, progress=False)


def test_a_subtitle_holding_a_placeholder_fails_its_clip_alone(tiny_processor, clips):
    """A subtitle (or question) with `<AudioHere>` in it made one more feature slot than the clip has features, and
    the model's ValueError ended the whole batch; it is refused as that clip's error, named."""
    model = tiny_model(seed=3)
    items = [Clip(c.stem, video=str(c), subtitle="Fine.") for c in clips[:2]]
    items.insert(1, Clip("hostile", video=str(clips[2]), subtitle="I said <AudioHere> and <FrameHere>"))
    results = describe(model, tiny_processor, items, InferenceArguments(batch_size=3, max_new_tokens=4), progress=False)
    assert [r.error is None for r in results] == [True, False, True]
    assert "subtitle" in results[1].error and "<AudioHere>" in results[1].error and "<FrameHere>" in results[1].error
    with pytest.raises(ValueError, match="question .*<MultiHere>"):
        describe(model, tiny_processor, items[:1], question="What of <MultiHere>?", skip_errors=False, progress=False)


def test_upstream_sampling_arguments():
    assert generation_kwargs(True) == {"do_sample": True, "top_p": 0.9, "temperature": 1.0, "top_k": 20, "num_beams": 1}
    assert generation_kwargs(False, max_new_tokens=5) == {"do_sample": False, "num_beams": 1, "max_new_tokens": 5}


def test_describe_cli_writes_jsonl(model_dir, clips, tmp_path, capsys, caplog):
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(2):
        make_clip(folder / f"c{i}.mp4", seed=i)
    (folder / "bad.mp4").write_bytes(b"")
    subtitles = tmp_path / "subs.csv"
    subtitles.write_text("name,subtitle\nc0,Hello there.\nc1,\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "describe",
            str(folder),
            "--model",
            str(model_dir),
            "--subtitles",
            str(subtitles),
            "--batch-size",
            "2",
            "--max-new-tokens",
            "4",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["name"] for r in records] == ["bad", "c0", "c1"]
    assert "error" in records[0] and all(isinstance(r["text"], str) for r in records[1:])
    assert "skipped 1 clip" in capsys.readouterr().err
    assert main(["describe", str(tmp_path / "nowhere"), "--model", str(model_dir)]) == 2
    (folder / "again").mkdir()  # two files of one name in a folder tree: said, as their rows share the name
    shutil.copy(folder / "c0.mp4", folder / "again" / "c0.mp4")
    argv = ["describe", str(folder), "--model", str(model_dir), "--max-new-tokens", "2", "--output", str(out)]
    with caplog.at_level(logging.WARNING, logger="affectgpt_hf.inference.batch"):
        assert main(argv) == 0
    assert f"{folder / 'again' / 'c0.mp4'} and {folder / 'c0.mp4'} are both named 'c0'" in caplog.text
    # --faces with a model that reads video frames would be ignored: refused, naming the model's input
    for faces in ("auto", str(tmp_path)):
        assert main(["describe", str(folder / "c1.mp4"), "--model", str(model_dir), "--faces", faces]) == 2
        error = capsys.readouterr().err
        assert f"--faces {faces}: {model_dir} reads video frames (multiframe_audio_frame_text)" in error


def test_describe_quantized_language_model(model_dir, clips, tmp_path):
    """`describe --quantization bnb-4bit` (bitsandbytes on the CPU here) answers every clip."""
    pytest.importorskip("bitsandbytes", reason="the quantization extra (bitsandbytes) is not installed")
    out = tmp_path / "q.jsonl"
    argv = ["describe", str(clips[0]), str(clips[1]), "--model", str(model_dir), "--quantization", "bnb-4bit"]
    assert main([*argv, "--max-new-tokens", "3", "--output", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["name"] for r in records] == ["clip0", "clip1"] and all(r["text"] for r in records)
    with pytest.raises(SystemExit):
        main([*argv[:-1], "bnb-2bit"])
