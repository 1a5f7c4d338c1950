"""`affectgpt benchmark`: mini releases of the 9 test sets (data/mini_release: upstream layouts, PyAV clips, real label
vocabularies) end to end with the tiny model; resume; best epoch over two checkpoints; 2 processes = 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from utils import labelled, save_tiny_folder

from affectgpt_hf.benchmark import BEST_EPOCH, CONFIG_OF, SINGLE, load_testset, run_benchmark
from affectgpt_hf.benchmark import runner as benchmark
from affectgpt_hf.benchmark.arguments import BenchmarkConfig
from affectgpt_hf.cli import main
from affectgpt_hf.data import LAYOUTS
from affectgpt_hf.data.mini_release import write_mini_release
from affectgpt_hf.inference.batch import DescribeResult, describe
from affectgpt_hf.unibench import DATASETS, evaluate_dataset, load_wheels, ovmer_scores, unibench_mean

TOKENS = 3  # max_new_tokens: a few tokens, different for each clip (the checkpoints are `sensitive` tiny models)


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_processor) -> Path:
    """A run folder with two checkpoints (different weights), as training leaves them."""
    root = tmp_path_factory.mktemp("run")
    save_tiny_folder(root / "checkpoint-10", tiny_processor, seed=3, sensitive=True)
    save_tiny_folder(root / "checkpoint-20", tiny_processor, seed=5, sensitive=True)
    return root


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    for config in CONFIG_OF.values():
        write_mini_release(root, config, count=2)
    write_mini_release(root, "cmu_mosi", count=5)  # odd: uneven shards across 2 processes, each 2+ clips
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("datasets_cache")


def _config(models, data_root, cache_dir, out, **overrides) -> BenchmarkConfig:
    settings = dict(
        model=str(models / "checkpoint-10"),
        data_root=str(data_root),
        output_dir=str(out),
        batch_size=2,
        max_new_tokens=TOKENS,
        cache_dir=str(cache_dir),
        progress=False,
    )
    return BenchmarkConfig(**{**settings, **overrides})


def _scores(report: dict) -> dict:
    return {name: entry["scores"] for name, entry in report["datasets"].items()}


def _texts(out: Path, name: str, tag: str = "checkpoint-10") -> list[str]:
    return [json.loads(line)["text"] for line in (out / "predictions" / tag / f"{name}.jsonl").read_text().splitlines()]


@pytest.mark.timeout(240)
def test_all_nine_sets_end_to_end_then_rescore_without_inference(models, data_root, cache_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    args = ["benchmark", "--model", str(models / "checkpoint-10"), "--data-root", str(data_root)]
    args += ["--output-dir", str(out), "--batch-size", "2", "--max-new-tokens", str(TOKENS), "--upstream-npz"]
    args += ["--cache-dir", str(cache_dir), "--no-progress"]
    monkeypatch.setattr(benchmark, "describe", labelled(benchmark.describe))
    assert main(args) == 0
    report = json.loads((out / "benchmark.json").read_text())
    assert list(report["datasets"]) == list(DATASETS)
    for name in DATASETS:  # each clip its own answer, and scores that are neither all 0 nor all 100
        assert len(set(_texts(out, name))) == report["datasets"][name]["n_clips"], name
    primary = sorted(d["scores_x100"][d["primary_metric"]] for d in report["datasets"].values())
    assert primary[0] < primary[-1] and 0 < primary[-1], primary
    assert report["protocol"] == SINGLE and report["complete"]
    primary = {n: d["scores_x100"][d["primary_metric"]] for n, d in report["datasets"].items()}
    assert report["mean"] == round(unibench_mean(primary), 2)
    assert report["decoding"]["mode"] == "greedy" and report["decoding"]["generate_kwargs"]["max_new_tokens"] == TOKENS
    assert report["device"] == "cpu" and report["processes"] == 1 and "torch" in report["versions"]
    assert report["extraction_mode"] == "offline-lexicon"
    mosi = report["datasets"]["CMUMOSI"]
    assert set(mosi["scores"]) == {"weighted_f1", "accuracy"} and mosi["n_clips"] == 5
    assert set(report["datasets"]["OVMERDPlus"]["scores"]) == {"fscore", "precision", "recall"}
    assert report["datasets"]["MER2023"]["throughput"]["checkpoint-10"]["clips_per_s"] > 0

    markdown = (out / "benchmark.md").read_text()
    for row in ("AffectGPT (A,V,T) (paper)", "Emotion-LLaMA (A,V,T) (paper)", "SALMONN (A,T)", "**this run**"):
        assert row in markdown
    assert "single checkpoint" in markdown and (out / "benchmark.png").stat().st_size > 1000

    # per-clip records: MER2024 gets its Chinese subtitle (upstream), OV-MERD+'s empty gold becomes ['neutral']
    mer2024 = [json.loads(x) for x in (out / "samples" / "MER2024.jsonl").read_text().splitlines()]
    tables = {n: load_testset(data_root, DATASETS[n], str(cache_dir)) for n in ("MER2024", "CMUMOSI")}
    assert [r["subtitle"] for r in mer2024] == [c.subtitle for c in tables["MER2024"].clips]
    assert any("\u4e00" <= ch <= "\u9fff" for r in mer2024 for ch in r["subtitle"])
    mosi_rows = [json.loads(x) for x in (out / "samples" / "CMUMOSI.jsonl").read_text().splitlines()]
    assert all(isinstance(r["text"], str) and r["sentiment"] in ("positive", "negative", "neutral") for r in mosi_rows)

    # upstream's npz layout scores the same through `affectgpt evaluate`'s reader
    for name in ("CMUMOSI", "MER2023", "OVMERDPlus"):
        folder = data_root / LAYOUTS[CONFIG_OF[name]].folder
        again = evaluate_dataset(out / "upstream" / f"results-{name.lower()}", name, folder)
        assert again["scores"] == pytest.approx(report["datasets"][name]["scores"], nan_ok=True)

    # a re-score loads no model and runs no inference
    def no_model(*args, **kwargs):
        raise AssertionError("re-score must not load a model")

    monkeypatch.setattr(benchmark, "load_model", no_model)
    (out / "benchmark.json").unlink()
    assert main(args) == 0
    rescored = json.loads((out / "benchmark.json").read_text())
    assert _scores(rescored) == _scores(report)

    # cached answers were made with other settings: refuse to mix them
    with pytest.raises(ValueError, match="max_new_tokens"):
        run_benchmark(_config(models, data_root, cache_dir, out, max_new_tokens=TOKENS + 1))


@pytest.mark.timeout(120)
def test_an_unreadable_clip_scores_as_an_empty_answer_in_evaluate_too(models, cache_dir, tmp_path):
    """A corrupt clip is reported, kept in the prediction file as an error row and scored as an empty answer; that
    file scores the same through `affectgpt evaluate`."""
    write_mini_release(tmp_path / "data", "mer2023", count=3)
    release = tmp_path / "data" / LAYOUTS["mer2023"].folder
    video = sorted((release / LAYOUTS["mer2023"].video_dir).iterdir())[0]
    video.write_bytes(video.read_bytes()[:2000])
    config = _config(models, tmp_path / "data", cache_dir, tmp_path / "out", datasets=["MER2023"])
    report = run_benchmark(config, describe_fn=labelled(describe))
    predictions = tmp_path / "out" / "predictions" / "checkpoint-10" / "MER2023.jsonl"
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [row["name"] for row in rows if row.get("error")] == [video.stem]
    assert report["datasets"]["MER2023"]["n_clips"] == 3
    args = ["evaluate", "--predictions", str(predictions), "--dataset", "MER2023", "--references", str(release)]
    assert main([*args, "--output-dir", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "MER2023.json").read_text())
    assert again["scores"] == pytest.approx(report["datasets"]["MER2023"]["scores"])


class Stop(Exception):
    pass


@pytest.mark.timeout(180)
def test_resume_after_interruption_skips_finished_sets(models, data_root, cache_dir, tmp_path):
    sets = ["mer2023", "ov_merd_plus"]  # config names work as well as upstream keys
    described: list[str] = []

    def counting(model, processor, clips, **kwargs):
        described.extend(clip.name for clip in clips)
        return benchmark.describe(model, processor, clips, **kwargs)

    reference = run_benchmark(
        _config(models, data_root, cache_dir, tmp_path / "whole", datasets=sets), describe_fn=labelled(counting)
    )
    ov_names = [c.name for c in load_testset(data_root, DATASETS["OVMERDPlus"], str(cache_dir)).clips]
    ov_rows = (tmp_path / "whole" / "predictions" / "checkpoint-10" / "OVMERDPlus.jsonl").read_text().splitlines()
    assert len(set(_texts(tmp_path / "whole", "OVMERDPlus"))) == len(ov_names) == 2  # answers differ by clip

    def interrupt(dataset: str, tag: str) -> None:
        raise Stop(dataset)

    out = tmp_path / "resumed"
    with pytest.raises(Stop, match="MER2023"):
        config = _config(models, data_root, cache_dir, out, datasets=sets)
        run_benchmark(config, on_dataset_done=interrupt, describe_fn=labelled(describe))
    assert (out / "predictions" / "checkpoint-10" / "MER2023.jsonl").is_file()
    assert not (out / "predictions" / "checkpoint-10" / "OVMERDPlus.jsonl").exists()
    # the second clip was answered (in a batch of two), the first cut short mid-write: the half line is dropped and
    # the first clip described again, alone, and its answer must be the one the uninterrupted run gave
    with (out / "predictions" / "checkpoint-10" / "OVMERDPlus.jsonl").open("w") as handle:
        handle.write(ov_rows[1] + "\n" + ov_rows[0][:25])

    described.clear()
    resumed = run_benchmark(_config(models, data_root, cache_dir, out, datasets=sets), describe_fn=labelled(counting))
    assert described == ov_names[:1]  # nothing of the finished MER2023, nor the answered clip
    assert _scores(resumed) == _scores(reference)
    for name in ("MER2023", "OVMERDPlus"):
        a = (tmp_path / "whole" / "samples" / f"{name}.jsonl").read_text()
        assert (out / "samples" / f"{name}.jsonl").read_text() == a


@pytest.mark.timeout(180)
def test_best_epoch_picks_the_checkpoint_per_dataset(models, data_root, cache_dir, tmp_path):
    """checkpoint-10 answers MELD right and OV-MERD+ wrong, checkpoint-20 the reverse (answers are scripted; the
    checkpoints are real folders, loaded as usual)."""
    sets = ["MELD", "OVMERDPlus"]
    gold, set_of = {}, {}
    for name in sets:
        for clip_name, value in load_testset(data_root, DATASETS[name], str(cache_dir)).references.items():
            gold[clip_name] = value if isinstance(value, list) else [value]
            set_of[clip_name] = name
    right_set = {"checkpoint-10": "MELD", "checkpoint-20": "OVMERDPlus"}

    def scripted(model, processor, clips, **kwargs):
        tag = Path(model.name_or_path).name
        answers = []
        for clip in clips:
            labels = gold[clip.name] if set_of[clip.name] == right_set[tag] else ["nothing"]
            answers.append(DescribeResult(clip.name, text=f"The character's emotional state is {', '.join(labels)}."))
        return answers

    out = tmp_path / "best"
    checkpoints = ["checkpoint-10", "checkpoint-20"]
    config = _config(models, data_root, cache_dir, out, model=str(models), checkpoints=checkpoints, datasets=sets)
    config.upstream_npz = True
    report = run_benchmark(config, describe_fn=scripted)
    assert report["protocol"] == BEST_EPOCH
    meld, ov = report["datasets"]["MELD"], report["datasets"]["OVMERDPlus"]
    assert meld["checkpoint"] == "checkpoint-10" and ov["checkpoint"] == "checkpoint-20"
    assert meld["scores"]["hit_rate"] == 1.0 and meld["per_checkpoint"]["checkpoint-20"]["hit_rate"] == 0.0  # x100
    assert ov["scores"]["fscore"] == pytest.approx(1.0) and ov["per_checkpoint"]["checkpoint-10"]["fscore"] == 0.0
    assert "Primary metric per checkpoint" in (out / "benchmark.md").read_text()
    # `affectgpt evaluate` on the upstream-layout folder makes the same choice (epochs 10 and 20)
    again = evaluate_dataset(out / "upstream" / "results-meld", "MELD", data_root / "meld-process")
    assert again["best_epoch"] == "checkpoint_000010" and again["scores"]["hit_rate"] == 1.0


@pytest.mark.timeout(180)
def test_two_processes_give_the_single_process_report(models, data_root, cache_dir, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` on CPU (accelerate's elastic launcher; the runner asks for
    a CPU PartialState, which forms a gloo group). accelerate 1.15's MULTI_CPU config / `--cpu` start one process
    without mpirun, so they are not used here. Each process prepares its clips in a media worker of its own, batch by
    batch (the single run: batch 2, in place)."""
    sets = ["MER2023", "CMUMOSI"]
    single = run_benchmark(
        _config(models, data_root, cache_dir, tmp_path / "one", datasets=sets), describe_fn=labelled(describe)
    )
    for name in sets:  # each clip its own answer, so answers merged to the wrong clip show
        assert len(set(_texts(tmp_path / "one", name))) == len(_texts(tmp_path / "one", name)) >= 2
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = tmp_path / "two"
    launcher = tmp_path / "labelled_benchmark.py"  # the CLI with the same labelled describe as the single run
    launcher.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            import os
            from torch.utils.data import get_worker_info
            from utils import labelled
            from affectgpt_hf.benchmark import runner as benchmark
            from affectgpt_hf.inference import batch as inference
            from affectgpt_hf.cli import main
            benchmark.describe = labelled(benchmark.describe)
            prepare_clip = inference.prepare_clip

            def prepare_and_note_where(*args, **kwargs):  # rank and worker of each clip prepared
                worker = get_worker_info()
                with open({str(tmp_path / "prepared")!r}, "a") as log:
                    log.write(f"{{os.environ['RANK']}} {{worker.id if worker else 'main'}}\\n")
                return prepare_clip(*args, **kwargs)

            inference.prepare_clip = prepare_and_note_where
            sys.exit(main(sys.argv[1:]))
            """
        )
    )
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0"]
    command += [str(launcher), "benchmark", "--model", str(models / "checkpoint-10")]
    command += ["--data-root", str(data_root), "--datasets", *sets, "--output-dir", str(out), "--batch-size", "1"]
    command += ["--max-new-tokens", str(TOKENS), "--cache-dir", str(cache_dir), "--no-progress"]
    command += ["--num-workers", "1"]  # a worker per process wherever its shard has 2+ batches (CMUMOSI: 3 and 2)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 process(es)" in done.stdout
    report = json.loads((out / "benchmark.json").read_text())
    assert report["processes"] == 2
    assert _scores(report) == _scores(single)
    prepared = [line.split() for line in (tmp_path / "prepared").read_text().splitlines()]
    assert len(prepared) == 2 + 5  # each clip once
    assert {rank for rank, worker in prepared if worker != "main"} == {"0", "1"}  # each process its own worker
    for name in sets:
        folder = out / "predictions" / "checkpoint-10"
        assert not list(folder.glob(f"{name}.rank*.jsonl"))  # parts merged
        assert (folder / f"{name}.jsonl").read_text() == (
            tmp_path / "one" / folder.relative_to(out) / f"{name}.jsonl"
        ).read_text()


@pytest.mark.timeout(60)
@pytest.mark.timeout(300)
def test_asr_subtitles_are_measured_against_the_sets_own(models, data_root, cache_dir, tiny_whisper_dir, tmp_path,
                                                         monkeypatch, capsys):  # fmt: skip
    """`--asr MODEL`: the sets keep their own subtitles, and are described a second time on their clips' transcripts
    (cached per set); the report puts the two side by side. A model that cannot load is named before any inference."""
    out = tmp_path / "out"
    args = ["benchmark", "--model", str(models / "checkpoint-10"), "--data-root", str(data_root), "--datasets",
            "MER2023", "CMUMOSI", "--output-dir", str(out), "--batch-size", "2", "--max-new-tokens", str(TOKENS),
            "--cache-dir", str(cache_dir), "--no-progress"]  # fmt: skip
    assert main([*args, "--asr", str(tmp_path / "no-asr")]) == 2
    assert "cannot be loaded" in capsys.readouterr().err and not (out / "predictions").exists()
    monkeypatch.setattr(benchmark, "describe", labelled(benchmark.describe))
    assert main([*args, "--asr", str(tiny_whisper_dir)]) == 0
    report = json.loads((out / "benchmark.json").read_text())
    for name in ("MER2023", "CMUMOSI"):
        entry = report["datasets"][name]
        heard = entry["asr"]
        assert heard["model"] == str(tiny_whisper_dir) and heard["transcribe_seconds"] > 0
        assert heard["subtitle_sources"] == {f"asr:{tiny_whisper_dir}": entry["n_clips"]}
        metric = entry["primary_metric"]
        assert heard["difference_x100"][metric] == pytest.approx(heard["scores_x100"][metric] - entry["scores_x100"][
            metric], abs=0.011)  # fmt: skip
        own = [json.loads(line) for line in (out / "predictions" / "checkpoint-10" / f"{name}.jsonl").open()]
        asr = [json.loads(line) for line in (out / "predictions" / "checkpoint-10+asr" / f"{name}.jsonl").open()]
        assert all("subtitle_source" not in row for row in own)
        assert [row["subtitle"] for row in asr] == [""] * len(asr)  # the toy voices hold no speech
        assert [row["text"] for row in asr] != [row["text"] for row in own]  # the set's subtitles mattered
    markdown = (out / "benchmark.md").read_text()
    assert f"## Subtitles from speech recognition ({tiny_whisper_dir}) in place of the sets' own (x100)" in markdown
    assert main([*args, "--asr", str(tiny_whisper_dir)]) == 0  # a rerun: transcripts and answers from the cache
    again = json.loads((out / "benchmark.json").read_text())
    assert again["datasets"]["MER2023"]["asr"]["transcribe_seconds"] is None
    assert again["datasets"]["MER2023"]["asr"]["scores_x100"] == report["datasets"]["MER2023"]["asr"]["scores_x100"]


def test_dataset_and_checkpoint_arguments(models, tmp_path, capsys):
    specs = benchmark.resolve_datasets(["ov_merd_plus", "MER2023", "mer2023"])
    assert [s.name for s in specs] == ["MER2023", "OVMERDPlus"]  # Table 2 order, no duplicates
    with pytest.raises(ValueError, match="expected one of"):
        benchmark.resolve_datasets(["mer2099"])
    assert benchmark.resolve_checkpoints(str(models), ["checkpoint-10", str(models / "checkpoint-20")]) == [
        ("checkpoint-10", str(models / "checkpoint-10")),
        ("checkpoint-20", str(models / "checkpoint-20")),
    ]
    with pytest.raises(FileNotFoundError, match="checkpoint-99"):
        benchmark.resolve_checkpoints(str(models), ["checkpoint-99"])
    with pytest.raises(ValueError, match="--model"):
        benchmark.resolve_checkpoints(None, None)
    assert main(["benchmark", "--model", str(models), "--data-root", str(tmp_path / "none")]) == 2
    (tmp_path / "empty").mkdir()
    args = ["benchmark", "--model", str(models), "--data-root", str(tmp_path / "empty"), "--datasets", "MER2024"]
    assert main(args) == 2
    assert f"mer2024: no mer2024-dataset-process/ under {tmp_path / 'empty'}, nor is" in capsys.readouterr().err


def test_empty_ovmerd_gold_as_neutral_changes_no_score():
    """Upstream reads an empty OV-MERD+ openset as ['neutral']; neutral maps to no sector on any wheel, so the
    sample is excluded either way."""
    wheels = load_wheels()
    assert wheels.bits.get("neutral", 0) == 0
    predictions = [["angry"], ["happy"], ["sad"]]
    with_empty = ovmer_scores(predictions, [["angry"], ["sad"], []], wheels)
    with_neutral = ovmer_scores(predictions, [["angry"], ["sad"], ["neutral"]], wheels)
    assert with_empty == with_neutral


def test_cached_answers_are_keyed_by_the_quantization(tiny_model_dir, tmp_path):
    """A quantized run's answers are cached apart: its run manifest names the quantization (and a run without one
    keeps the manifest earlier runs wrote), so `check_manifest` refuses to mix them."""
    from affectgpt_hf.benchmark.outputs import check_manifest
    from affectgpt_hf.benchmark.runner import BenchmarkRunner

    folder = str(tiny_model_dir())
    plain = BenchmarkRunner(BenchmarkConfig(model=folder, data_root=str(tmp_path)))._manifest("final", folder)
    quantized = BenchmarkConfig(model=folder, data_root=str(tmp_path), quantization="bnb-8bit")
    manifest = BenchmarkRunner(quantized)._manifest("final", folder)
    assert "quantization" not in plain and manifest == {**plain, "quantization": "bnb-8bit"}
    check_manifest(tmp_path / "run.json", plain)
    with pytest.raises(ValueError, match="bnb-8bit"):
        check_manifest(tmp_path / "run.json", manifest)
