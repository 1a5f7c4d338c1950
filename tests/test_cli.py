"""`affectgpt <command> --help` for every command: the options the README names, with their defaults,
come out of the dataclass-built parsers; spellings, repeats and bad arguments behave as argparse users expect.

Each command's real invocation lives with the module it drives (`main([` in test_inference, test_benchmark,
test_unibench_cli, test_training, test_model_card, test_data, test_convert, test_faces, test_toy, test_quickstart;
`affectgpt demo` as a subprocess in test_space); the one here adds repeated `--config` to `dataset build`.
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from affectgpt_hf.cli import COMMANDS, GROUPS, main

REQUIRED = object()  # the option must be given (it is not in brackets in the usage line)
# command -> option -> its default as the help shows it ("(default: X)"), None (no value to show), or REQUIRED.
OPTIONS: dict[str, dict[str, object]] = {
    "describe": {
        "--model": "runs/quickstart",
        "--task": "ov_labels",
        "--question": None,
        "--subtitles": None,
        "--asr": None,
        "--asr-language": None,
        "--faces": None,
        "--on-no-face": "error",
        "--batch-size": "8",
        "--upstream-sampling": None,
        "--seed": None,
        "--max-new-tokens": None,
        "--dtype": None,
        "--quantization": None,
        "--device": None,
        "--output": None,
        "--num-workers": None,
        "--clip-timeout": "120.0",
    },
    "timeline": {
        "--model": "runs/quickstart",
        "--out": "runs/timeline",
        "--segments": "speech",
        "--subtitles": None,
        "--asr": None,
        "--asr-language": None,
        "--min-seconds": "2.0",
        "--max-seconds": "16.0",
        "--merge-gap": "0.5",
        "--window": "4.0",
        "--hop": None,
        "--max-duration": "14400.0",
        "--task": "ov_labels",
        "--question": None,
        "--on-no-face": "frames",
        "--captions-with-subtitle": None,
        "--no-progress": None,
        "--batch-size": "8",
        "--num-workers": None,
        "--clip-timeout": "120.0",
    },
    "benchmark": {
        "--model": None,
        "--data-root": REQUIRED,
        "--datasets": None,
        "--checkpoints": None,
        "--judge": None,
        "--judge-sampling": "greedy",
        "--output-dir": "runs/benchmark",
        "--batch-size": "8",
        "--upstream-sampling": None,
        "--seed": None,
        "--max-new-tokens": None,
        "--dtype": None,
        "--quantization": None,
        "--device": None,
        "--upstream-npz": None,
        "--wheel-dir": None,
        "--cache-dir": None,
        "--limit": None,
        "--no-progress": None,
        "--num-workers": None,
        "--clip-timeout": "120.0",
        "--asr": None,
    },
    "evaluate": {
        "--predictions": REQUIRED,
        "--dataset": REQUIRED,
        "--references": REQUIRED,
        "--judge": None,
        "--judge-sampling": "greedy",
        "--wheel-dir": None,
        "--output-dir": "runs/evaluate",
    },
    "train": {"--dataset_dir": None, "--output_dir": None, "--use_lora": None},  # and TRAIN_OPTIONS (below)
    "cache-features": {
        "--model": REQUIRED,
        "--dataset": REQUIRED,
        "--output": REQUIRED,
        "--vision": None,
        "--audio": None,
        "--config": "mer_caption_plus",
        "--split": "train",
        "--batch-size": "8",
        "--seed": "42",
        "--drop-media": None,
        "--num-workers": None,
        "--skip-missing": None,
    },
    "dataset build": {
        "--data-dir": REQUIRED,
        "--out": REQUIRED,
        "--config": None,
        "--annotations": None,
        "--embed-media": None,
        "--media": None,
        "--skip-missing": None,
        "--verify-media": None,
        "--num-proc": None,
        "--push-to-hub": None,
    },
    "convert": {
        "--checkpoint": REQUIRED,
        "--base": REQUIRED,
        "--output-dir": REQUIRED,
        "--llm": None,
        "--vision": None,
        "--audio": None,
        "--merge-lora": None,
        "--dtype": None,
        "--results": None,
        "--push-to-hub": None,
        "--public": None,
    },
    "card": {"--model": REQUIRED, "--results": None, "--push-to-hub": None, "--public": None},
    "faces extract": {
        "--out": REQUIRED,
        "--layout": "flat",
        "--preview": None,
        "--num-frames": "8",
        "--device": "cpu",
    },
    "toy-data": {"--out": REQUIRED, "--n": "200", "--seed": "0"},
    "quickstart": {"--output-dir": "runs/quickstart", "--reduced": None, "--n": None, "--epochs": None, "--seed": None},
    "serve": {
        "--model": REQUIRED,
        "--host": "127.0.0.1",
        "--port": "8000",
        "--media-dir": None,
        "--allow-remote-media": None,
        "--remote-timeout": "30.0",
        "--quantization": None,
        "--dtype": "auto",
        "--device": "auto",
        "--max-pending": "16",
        "--max-upload-mb": None,
        "--max-seconds": None,
        "--max-text-chars": None,
        "--log-level": "warning",
    },
    "demo": {
        "--model": "$AFFECTGPT_MODEL or runs/quickstart",
        "--host": "$GRADIO_SERVER_NAME or 127.0.0.1",
        "--port": None,
        "--share": None,
        "--max-upload-mb": None,
        "--max-seconds": None,
        "--request-timeout": None,
        "--max-text-chars": None,
        "--asr": None,
    },
}


def help_text(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def entries(text: str) -> dict[str, str]:
    """argparse help -> {option string: its help, on one line} for every option and alias."""
    found: dict[str, str] = {}
    options: list[str] = []
    for line in text.split("options:", 1)[1].splitlines():
        if re.match(r"^  -", line):
            head, _, rest = line.strip().partition("  ")
            options = re.findall(r"(--?[\w-]+)", head)
            for option in options:
                found[option] = rest.strip()
        else:
            for option in options:
                found[option] += " " + line.strip()
    return found


def test_every_command_is_listed():
    assert set(OPTIONS) == set(COMMANDS)


def test_top_level_help_lists_the_commands(capsys):
    text = " ".join(help_text([], capsys).split())
    for name, (help, _) in COMMANDS.items():
        *group, word = name.split()
        if group:
            assert f"{group[0]} {GROUPS[group[0]]}" in text
            assert f"{word} {help}" in " ".join(help_text(group, capsys).split())
        else:
            assert f"{word} {help}" in text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(OPTIONS))
def test_help_shows_options_and_defaults(name, capsys):
    text = help_text(name.split(), capsys)
    usage = text.split("\n\n", 1)[0]
    assert usage.startswith(f"usage: affectgpt {name} ")
    found = entries(text)
    for option, default in OPTIONS[name].items():
        assert option in found, f"{name}: {option} is missing from --help"
        if default is REQUIRED:
            assert re.search(rf"(?<!\[){option}\s+[A-Z_]+", usage), f"{name}: {option} should be required"
        elif default is not None:
            assert f"(default: {default})" in found[option], f"{name} {option}: {found[option]!r}"
        if name != "train":  # TrlParser's fields have their own help; ours all say what they are
            assert found[option], f"{name}: {option} has no help"
    if name in ("describe", "faces extract"):
        assert re.search(r"\bPATH \[PATH \.\.\.\]", usage)
    if name == "timeline":
        assert re.search(r"\bVIDEO \[VIDEO \.\.\.\]", usage)
    if name == "train":  # what TrlParser (--config) and hub_options read before the fields: in the description
        description = text.split("options:", 1)[0]
        for option in ("--config CONFIG.yaml", "--push-to-hub REPO_ID", "--public"):
            assert re.search(rf"^  {re.escape(option)}\s+\w", description, re.M), option


def test_spellings_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["toy-data", "--out", "x", "--n", "2", "--colour", "red"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --colour red" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["toy-data", "--n", "2"])
    assert exit_info.value.code == 2 and "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--predictions", "p", "--dataset", "d", "--references", "r", "--judge-sampling", "hot"])
    assert "invalid choice: 'hot'" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_dataset_build_repeated_config_and_underscore_spelling(tmp_path, capsys):
    from affectgpt_hf.data.mini_release import write_mini_release

    for config in ("mer2023", "mer2024", "meld"):
        write_mini_release(tmp_path / "release", config, count=2, media=False)
    out = tmp_path / "hub"
    argv = ["dataset", "build", "--data_dir", str(tmp_path / "release"), "--out", str(out)]
    assert main([*argv, "--config", "mer2023", "--config", "mer2024"]) == 0
    assert sorted(p.name for p in (out / "data").iterdir()) == ["mer2023", "mer2024"]
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert main([*argv, "--config", "mer2099"]) == 2
    assert capsys.readouterr().err.startswith("affectgpt dataset build: error: ")


def test_describe_reads_its_side_inputs_before_the_model(clips, tmp_path, capsys):
    """--subtitles is read (and a bad CSV named) before any model loads; PATH... must exist."""
    table = tmp_path / "subs.csv"
    table.write_text("name,text\nclip0,hi\n", encoding="utf-8")
    assert main(["describe", str(clips[0]), "--subtitles", str(table), "--model", str(tmp_path / "no-model")]) == 2
    assert f"affectgpt describe: error: {table} lacks column(s) ['subtitle']" in capsys.readouterr().err
    assert main(["describe", str(tmp_path / "nowhere.mp4")]) == 2
    assert "nowhere.mp4 does not exist; expected a video file or a folder of videos" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_wrong_model_device_timeout_and_output_are_named(clips, release, tiny_model_dir, tmp_path, monkeypatch, capsys):
    """describe, cache-features and the demo name a model folder that is not there (no traceback: exit 2), as
    describe names a device this torch cannot use, a negative clip timeout and an --output that is a folder; an
    --output in a new folder gets the folder; no readable clip at all: exit 1."""
    from affectgpt_hf.apps.demo import Analyzer

    monkeypatch.chdir(tmp_path)  # describe's default model runs/quickstart is not here
    assert main(["describe", str(clips[0])]) == 2
    err = capsys.readouterr().err
    assert f"affectgpt describe: error: model runs/quickstart (no folder {tmp_path}/runs/quickstart) is neither" in err
    assert "Traceback" not in err
    argv = ["cache-features", "--model", str(tmp_path / "none"), "--dataset", str(release), "--output", "o"]
    assert main(argv) == 2
    assert f"affectgpt cache-features: error: model {tmp_path}/none (no folder" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="neither a saved AffectGPT folder.*run `affectgpt quickstart`"):
        Analyzer(tmp_path / "none", device="cpu")

    describe = ["describe", str(clips[0]), "--model", str(tiny_model_dir()), "--max-new-tokens", "2"]
    if not torch.cuda.is_available():
        assert main([*describe, "--device", "cuda"]) == 2
        assert "error: device 'cuda': this torch" in capsys.readouterr().err
    assert main([*describe, "--clip-timeout", "-5"]) == 2
    assert "error: clip timeout -5.0; expected seconds per clip > 0" in capsys.readouterr().err
    assert main([*describe, "--output", str(tmp_path)]) == 2
    assert f"error: --output {tmp_path} is a folder; expected the path of a JSONL file" in capsys.readouterr().err
    assert main([*describe, "--output", "new/answers.jsonl"]) == 0
    assert json.loads((tmp_path / "new" / "answers.jsonl").read_text())["name"] == clips[0].stem
    (tmp_path / "bad.mp4").write_bytes(clips[0].read_bytes()[:2000])
    assert main([*describe[:1], str(tmp_path / "bad.mp4"), *describe[2:]]) == 1
    assert "error: no clip could be read" in capsys.readouterr().err
