"""`pipeline(model=saved_folder, trust_remote_code=True)`, run in a fresh interpreter where the package cannot be
imported (the folder's own copied code): a path, bytes, datasets' {"bytes", "path"} dict and part dicts in, one dict
per clip out with labels, answer, subtitle and subtitle_source; equal to `affectgpt describe` and `describe()` on the
same clips (an input-sensitive tiny model, so equal answers mean equal inputs), and a batched list equal to one clip
at a time. A clip without a subtitle gets the ASR pipeline's transcript; the Python function does the same."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from utils import make_clip

from affectgpt_hf.cli import main

pytestmark = pytest.mark.timeout(600)
TOKENS = 8


def run_without_package(code: str, home) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=500,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HF_HOME": str(home), "HOME": str(home)},
        cwd="/",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.fixture(scope="module")
def media(spoken, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline_media")
    from affectgpt_hf.data.toy import synth_voice
    from affectgpt_hf.data.writers import write_audio

    wav = folder / "voice.wav"
    write_audio(wav, synth_voice("happy", seconds=2.0), 16000)
    return {
        "speech": spoken["en"],
        "tone": make_clip(folder / "tone.mp4", seconds=2.0, seed=3),
        "other": make_clip(folder / "other.mp4", seconds=3.0, seed=4),
        "voice": wav,
    }


def test_pipeline_without_the_package_equals_describe(tiny_model_dir, tiny_whisper_dir, media, tmp_path):
    from affectgpt_hf.inference.arguments import InferenceArguments
    from affectgpt_hf.inference.batch import Clip, describe, load_model

    folder = tiny_model_dir(seed=0, sensitive=True)
    assert (folder / "pipeline_affectgpt.py").is_file()
    assert json.loads((folder / "config.json").read_text())["custom_pipelines"]["multimodal-emotion-recognition"]
    speech, tone, other, voice = (str(media[k]) for k in ("speech", "tone", "other", "voice"))
    inputs = [
        speech,  # a path, no subtitle: transcribed
        {"video": tone, "subtitle": ""},  # the empty subtitle is given: not transcribed
        {"bytes": "<the bytes of other.mp4>", "path": None},  # datasets' media dict; no speech: an empty transcript
        {"video": {"bytes": None, "path": other}, "audio": voice, "subtitle": "Leave me alone.",
         "question": "Why is the person upset?"},
    ]  # fmt: skip
    out = run_without_package(
        f"""
        import json, sys
        sys.modules["affectgpt_hf"] = None  # the package cannot be imported: the folder's own code runs
        from transformers import pipeline
        pipe = pipeline(model={str(folder)!r}, trust_remote_code=True, device="cpu", max_new_tokens={TOKENS},
                        asr_model={str(tiny_whisper_dir)!r})
        inputs = {inputs!r}
        inputs[2]["bytes"] = open({other!r}, "rb").read()
        single = [pipe(clip) for clip in inputs]
        batched = pipe(inputs, batch_size=3)
        print(json.dumps({{"module": type(pipe).__module__, "task": pipe.task, "single": single,
                          "batched": batched}}))
        """,
        home=tmp_path,
    )
    result = json.loads(out.splitlines()[-1])
    assert result["module"].startswith("transformers_modules.") and result["task"] == "multimodal-emotion-recognition"
    single, batched = result["single"], result["batched"]
    assert batched == single
    assert len({row["answer"] for row in single}) == len(single)  # every clip answered differently: inputs matter
    assert [row["subtitle_source"] for row in single] == [f"asr:{tiny_whisper_dir}", "given", f"asr:{tiny_whisper_dir}",
                                                          "given"]  # fmt: skip
    assert single[0]["subtitle"] and (single[1]["subtitle"], single[3]["subtitle"]) == ("", "Leave me alone.")
    assert (single[2]["subtitle"], single[2]["subtitle_note"]) == ("", "no speech detected")
    assert all(set(row) >= {"labels", "answer", "subtitle", "subtitle_source"} for row in single)

    jsonl = tmp_path / "rows.jsonl"
    assert main(["describe", speech, "--model", str(folder), "--asr", str(tiny_whisper_dir),
                 "--max-new-tokens", str(TOKENS), "--output", str(jsonl)]) == 0  # fmt: skip
    (row,) = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert (row["text"], row["subtitle"], row["subtitle_source"]) == (
        single[0]["answer"],
        single[0]["subtitle"],
        single[0]["subtitle_source"],
    )
    model, processor = load_model(folder)
    described = describe(
        model,
        processor,
        [Clip("tone", video=tone, subtitle=""), Clip("other", video=other, subtitle="")],
        InferenceArguments(batch_size=1, max_new_tokens=TOKENS),
        progress=False,
    )
    (asked,) = describe(
        model,
        processor,
        [Clip("asked", video=other, audio=voice, subtitle="Leave me alone.")],
        InferenceArguments(batch_size=1, max_new_tokens=TOKENS),
        task="description",
        question="Why is the person upset?",
        progress=False,
    )
    assert [d.text for d in described] + [asked.text] == [row["answer"] for row in single[1:]]


def test_pipeline_names_bad_inputs(tiny_model_dir):
    from transformers import pipeline

    pipe = pipeline(model=str(tiny_model_dir(seed=0)), trust_remote_code=True, device="cpu", max_new_tokens=2)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['vidoe'\]"):
        pipe({"vidoe": "clip.mp4"})
    with pytest.raises(ValueError, match="a clip is a path, bytes, a datasets media dict"):
        pipe(3.5)
    with pytest.raises(ValueError, match="neither bytes nor path"):
        pipe({"bytes": None, "path": None})
