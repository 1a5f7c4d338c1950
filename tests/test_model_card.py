"""Model cards (train, convert, quickstart: one template), the paper facts of the data-set, metric and Space cards,
MER-UniBench results in a card's model-index, and the push path up to the network.

The uploads go through huggingface_hub's real client; only its HTTP transport is replaced (`set_client_factory` with an
httpx2 MockTransport answering as the Hub does), so the folder that would be uploaded, the repo's visibility and the
Hub's real error types (HfHubHTTPError, RepositoryNotFoundError, raised by huggingface_hub from the mocked answers)
are checked offline. The upload to the real Hub itself cannot be tested here.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from utils import REPO, TINY, make_clip, tiny_config, upstream_state_dict

from affectgpt_hf.cli import main
from affectgpt_hf.hub.model_card import TEMPLATE, read_card_facts
from affectgpt_hf.hub.paper import ARXIV_TAG, PAPER_URL

TINY_YAML = TINY / "train.yaml"
TRL_CARD = "This model is a fine-tuned version of"  # TRL's generic card (trl/templates/lm_model_card.md)


# ---------------------------------------------------------------------------------------------------------- helpers
def load_card(folder: Path):
    from huggingface_hub import ModelCard

    return ModelCard.load(folder / "README.md")


def snippet(card_text: str) -> str:
    """The usage snippet: the python block under "## Use"."""
    use = card_text.split("\n## Use\n", 1)[1]
    return re.search(r"```python\n(.*?)```", use, re.S).group(1)


def run_snippet(card_text: str, workdir: Path, monkeypatch, capsys) -> str:
    """Execute a card's snippet where `clip.mp4` exists; returns what it printed."""
    workdir.mkdir(parents=True, exist_ok=True)
    make_clip(workdir / "clip.mp4", seconds=2.0)
    monkeypatch.chdir(workdir)
    capsys.readouterr()
    exec(compile(snippet(card_text), "card-snippet", "exec"), {"__name__": "__card__"})
    return capsys.readouterr().out


def check_common_metadata(card) -> None:
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "video-text-to-text"
    assert data["license"] == "apache-2.0"
    assert ARXIV_TAG in data["tags"] and PAPER_URL in card.text
    assert TRL_CARD not in card.text and "More Information Needed" not in card.text


# ---------------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory) -> Path:
    """A 4-clip feature cache for this module's cards (it overrides conftest's 6-clip `feature_cache` here)."""
    from affectgpt_hf.data.mini_release import write_mini_release

    root = tmp_path_factory.mktemp("cards")
    release = write_mini_release(root / "release", "mer_caption_plus", count=4)
    out = root / "features"
    argv = ["cache-features", "--model", str(TINY), "--dataset", str(release), "--output", str(out)]
    assert main([*argv, "--batch-size", "4"]) == 0
    return out


@pytest.fixture(scope="module")
def trained(feature_cache, tmp_path_factory) -> Path:
    """`affectgpt train` on the tiny config with LoRA for 2 steps, a checkpoint saved at step 2 (where TRL writes its
    card into output_dir)."""
    out = tmp_path_factory.mktemp("train") / "tiny-sft"
    argv = ["train", "--config", str(TINY_YAML), "--dataset_dir", str(feature_cache), "--output_dir", str(out),
            "--disable_tqdm", "true", "--max_steps", "2", "--save_steps", "2", "--use_lora", "true",
            "--lora_r", "4", "--lora_alpha", "8"]  # fmt: skip
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def components(tmp_path_factory) -> dict[str, Path]:
    """Tiny LLM / CLIP / HuBERT folders and an upstream checkpoint for them (as test_convert builds them)."""
    from transformers import CLIPConfig, CLIPModel, HubertModel, Qwen2ForCausalLM

    root = tmp_path_factory.mktemp("components")
    config = tiny_config()
    torch.manual_seed(0)
    Qwen2ForCausalLM(config.text_config).save_pretrained(root / "llm")
    vision = config.vision_config.to_dict()
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    clip = CLIPConfig(vision_config=vision, text_config=text, projection_dim=vision["projection_dim"])
    CLIPModel(clip).save_pretrained(root / "clip")
    HubertModel(config.audio_config).save_pretrained(root / "hubert")
    checkpoint = root / "checkpoint_000010_loss_0.612.pth"
    torch.save({"model": upstream_state_dict(config)}, checkpoint)
    return {"root": root, "llm": root / "llm", "vision": root / "clip", "audio": root / "hubert", "pth": checkpoint}


def convert_args(components: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["convert", "--checkpoint", str(components["pth"]), "--base", str(TINY), "--llm", str(components["llm"]),
            "--vision", str(components["vision"]), "--audio", str(components["audio"]), "--output-dir", str(out),
            *extra]  # fmt: skip


@pytest.fixture(scope="module")
def converted(components) -> Path:
    """`affectgpt convert` without --merge-lora: weights + a PEFT adapter in adapter/."""
    out = components["root"] / "converted"
    assert main(convert_args(components, out)) == 0
    return out


@pytest.fixture(scope="module")
def benchmark_json(converted, tmp_path_factory) -> Path:
    """A real `affectgpt benchmark` report of the converted folder on two mini test sets, run from another folder
    with relative paths (the cards read it from here)."""
    from affectgpt_hf.benchmark import CONFIG_OF
    from affectgpt_hf.data.mini_release import write_mini_release

    root = tmp_path_factory.mktemp("bench")
    for name in ("MER2023", "CMUMOSI"):
        write_mini_release(root / "data", CONFIG_OF[name], count=2)
    argv = ["benchmark", "--model", os.path.relpath(converted, root), "--data-root", "data", "--datasets", "MER2023",
            "CMUMOSI", "--output-dir", "out", "--batch-size", "2", "--max-new-tokens", "3", "--no-progress",
            "--cache-dir", "cache"]  # fmt: skip
    here = os.getcwd()
    os.chdir(root)
    try:
        assert main(argv) == 0
    finally:
        os.chdir(here)
    return root / "out" / "benchmark.json"


# ------------------------------------------------------------------------------------------------------------- train
@pytest.mark.timeout(240)
def test_train_card_replaces_trl_card_and_its_snippet_runs(trained, feature_cache, tmp_path, monkeypatch, capsys):
    from affectgpt_hf.training import build_trainer, parse_train_args

    card = load_card(trained)
    check_common_metadata(card)
    facts = card.data.to_dict()["affectgpt"]
    assert facts["made_by"] == "train" and facts["initialised_from"] == "hub_configs/tiny"  # train.yaml's
    recipe = facts["recipe"]
    assert recipe["steps"] == "2" and recipe["data"].startswith(f"`{feature_cache}`") and "4 rows" in recipe["data"]
    assert "LoRA r=4, alpha 8, dropout 0.05" in recipe["trained"] and recipe["optimiser"].startswith("adamw_torch")
    assert recipe["learning rate"] == (
        "upstream's linear_warmup_cosine_lr: 0.0001 -> 0.001 over 5 warm-up steps, then constant"
    )
    assert "random weights (towers included) from the config of" in recipe["initialisation"]
    assert "| steps | 2 |" in card.text and "`multiframe_audio_frame_text`" in card.text
    assert not (trained / "adapter" / "README.md").exists()  # PEFT's generic card is not left behind

    # TRL's create_model_card (called at every checkpoint save) writes this project's card, not TRL's
    args = parse_train_args(["--config", str(TINY_YAML), "--dataset_dir", str(feature_cache),
                             "--output_dir", str(tmp_path / "ckpt"), "--max_steps", "1", "--save_steps", "1",
                             "--disable_tqdm", "true"])  # fmt: skip
    trainer = build_trainer(*args)
    trainer.train()
    assert (tmp_path / "ckpt" / "checkpoint-1").is_dir()
    early = load_card(tmp_path / "ckpt")
    check_common_metadata(early)
    assert early.data.to_dict()["affectgpt"]["recipe"]["steps"] == "1"

    printed = run_snippet(card.content, tmp_path / "run", monkeypatch, capsys)
    assert printed.startswith("[") and "]" in printed


def test_train_push_options_become_the_projects_push(feature_cache, tmp_path):
    """`affectgpt train ... --push-to-hub REPO_ID [--public]`: TrainingArguments' push fields, the Trainer's own push
    turned off (train uploads the finished folder), and the repo id is what the card's snippet loads."""
    from affectgpt_hf.training import build_trainer, parse_train_args

    base = ["--config", str(TINY_YAML), "--dataset_dir", str(feature_cache), "--output_dir", str(tmp_path / "o")]
    data_args, training_args, model_args = parse_train_args([*base, "--push-to-hub", "me/tiny-sft", "--public"])
    assert training_args.push_to_hub and training_args.hub_model_id == "me/tiny-sft"
    assert training_args.hub_private_repo is False
    trainer = build_trainer(data_args, training_args, model_args)
    assert trainer.card.push_repo == "me/tiny-sft" and trainer.args.push_to_hub is False
    assert parse_train_args([*base, "--push-to-hub", "me/x"])[1].hub_private_repo is None  # -> private
    with pytest.raises(ValueError, match="hub_model_id"):
        build_trainer(*parse_train_args([*base, "--push_to_hub", "true"]))


# ----------------------------------------------------------------------------------------------------------- convert
@pytest.mark.timeout(120)
def test_convert_card_names_components_and_upstream_and_its_snippet_runs(
    converted, components, tmp_path, monkeypatch, capsys
):
    card = load_card(converted)
    check_common_metadata(card)
    facts = card.data.to_dict()["affectgpt"]
    assert facts["made_by"] == "convert" and facts["adapter"] == "adapter"
    assert facts["components"] == {key: str(components[key]) for key in ("llm", "vision", "audio")}
    assert card.data.base_model is None  # local folders are no Hub ids
    sha = hashlib.sha256(components["pth"].read_bytes()).hexdigest()
    assert f"`checkpoint_000010_loss_0.612.pth` (sha256 `{sha}`)" in facts["provenance"]["upstream checkpoint"]
    assert "fffca79" in facts["provenance"]["upstream code"]
    assert "image_llama_proj.weight" in facts["provenance"]["upstream keys skipped on purpose"]
    assert "kept as a PEFT adapter in `adapter/` (r=4, alpha=32)" in card.text
    code = snippet(card.content)
    assert 'PeftModel.from_pretrained(model, MODEL, subfolder="adapter")' in code
    printed = run_snippet(card.content, tmp_path / "run", monkeypatch, capsys)
    assert printed.startswith("[")


def test_convert_card_lists_hub_components_as_base_model(converted):
    from affectgpt_hf.hub.model_card import CardFacts, render_model_card
    from affectgpt_hf.hub.paper import UPSTREAM_WEIGHTS

    ids = {"llm": "Qwen/Qwen2.5-7B-Instruct", "vision": "openai/clip-vit-large-patch14", "audio": None}
    text = render_model_card(converted, CardFacts(made_by="convert", components=ids), "me/affectgpt")
    from huggingface_hub import ModelCard

    card = ModelCard(text)
    assert card.data.base_model == ["Qwen/Qwen2.5-7B-Instruct", "openai/clip-vit-large-patch14"]
    assert 'MODEL = "me/affectgpt"' in snippet(text) and UPSTREAM_WEIGHTS not in card.data.to_dict()["base_model"]


# -------------------------------------------------------------------------------------------------------- quickstart
@pytest.mark.timeout(240)
def test_quickstart_card_and_its_snippet_run(tmp_path, monkeypatch, capsys):
    """A very small quickstart run: the model folder's card is the training card, marked as the quickstart's, with the
    held-out toy scores of report.json."""
    from affectgpt_hf.apps.quickstart import QuickstartSettings, run_quickstart

    out = tmp_path / "qs"
    settings = QuickstartSettings(n=12, test_fraction=0.25, epochs=1.0, batch_size=4, max_new_tokens=4)
    report = run_quickstart(out, settings, conditions=("all", "no_text"))
    card = load_card(out)
    check_common_metadata(card)
    facts = card.data.to_dict()["affectgpt"]
    assert facts["made_by"] == "quickstart" and facts["recipe"]["steps"] == "3"
    assert f"| all modalities | {report['conditions']['all']['hit_rate']:.3f} |" in card.text
    assert "| empty subtitle |" in card.text and "(9 trained on, 3 held out)" in card.text
    printed = run_snippet(card.content, tmp_path / "run", monkeypatch, capsys)
    assert printed.startswith("[")


# -------------------------------------------------------------------------------------------------- one template
@pytest.mark.timeout(60)
def test_the_three_writers_share_one_template(trained, converted):
    """Every fixed line of model_card.TEMPLATE is in the cards of train and convert (the quickstart re-renders the
    training card: test above), and no writer module holds card text of its own."""
    unconditional = re.sub(r"\{%-? if .*?%\}.*?\{%-? endif %\}", "", TEMPLATE, flags=re.S)
    fixed = [line for line in unconditional.splitlines() if line.strip() and not re.search(r"[{}%]", line)]
    assert len(fixed) > 10 and "## Use" in fixed and "## Citation" in fixed
    for folder in (trained, converted):
        text = (folder / "README.md").read_text()
        missing = [line for line in fixed if line not in text]
        assert not missing, (folder, missing)
    src = REPO / "src" / "affectgpt_hf"
    for module in ("convert_affectgpt_checkpoint.py", "training/trainer.py", "apps/quickstart.py"):
        code = (src / module).read_text()
        for marker in ("pipeline_tag", "library_name", "```python", "ModelCard", 'README.md").write'):
            assert marker not in code, (module, marker)


# ----------------------------------------------------------------------------------------------- results / index
@pytest.mark.timeout(240)
def test_benchmark_results_go_into_the_card_and_model_index(converted, benchmark_json, tmp_path):
    from huggingface_hub import ModelCard

    report = json.loads(benchmark_json.read_text())
    folder = tmp_path / "model"
    shutil.copytree(converted, folder)
    results = tmp_path / "benchmark.json"
    results.write_text(benchmark_json.read_text().replace(str(converted), str(folder)))  # the copy's own report
    assert main(["card", "--model", str(folder), "--results", str(results)]) == 0
    card = ModelCard.load(folder / "README.md")
    check_common_metadata(card)
    index = {(r.dataset_type, r.metric_type): r for r in card.data.eval_results}
    expected = {
        (name, metric): value
        for name, entry in report["datasets"].items()
        for metric, value in entry["scores_x100"].items()
    }
    assert {key: r.metric_value for key, r in index.items()} == pytest.approx(expected)
    mer = index[("MER2023", "hit_rate")]
    assert mer.metric_config == "basic" and mer.dataset_split == "test" and mer.task_type == "video-text-to-text"
    assert mer.metric_args == {
        "protocol": "single checkpoint",
        "label_extraction": "offline-lexicon",
        "decoding": "greedy",
    }
    assert index[("CMUMOSI", "weighted_f1")].metric_config == "sentiment"
    assert ("MER-UniBench", "mean") not in index  # 2 of 9 sets: no benchmark mean claimed
    assert "## MER-UniBench results" in card.text and "protocol **single checkpoint**" in card.text
    assert f"| MER2023 | hit rate (primary) | {report['datasets']['MER2023']['scores_x100']['hit_rate']:.2f} |" in (
        card.text
    )
    assert "| 78.54 |" in card.text  # the paper's AffectGPT (A,V,T) MER23 beside it
    # the raw model-index YAML is what the Hub reads
    header = yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])
    assert header["model-index"][0]["results"][0]["task"]["type"] == "video-text-to-text"
    # the rest of the card is unchanged, and a second run replaces the results rather than adding to them
    assert read_card_facts(folder).provenance == read_card_facts(converted).provenance
    assert main(["card", "--model", str(folder), "--results", str(results)]) == 0
    assert len(ModelCard.load(folder / "README.md").data.eval_results) == len(index)


@pytest.mark.timeout(120)
def test_results_of_another_model_are_refused_with_both_names(converted, benchmark_json, components, trained, capsys):
    assert main(["card", "--model", str(trained), "--results", str(benchmark_json)]) == 2
    err = capsys.readouterr().err
    assert str(converted) in err and str(trained) in err
    out = components["root"] / "never-written"
    assert main(convert_args(components, out, "--results", str(benchmark_json))) == 2  # refused before converting
    err = capsys.readouterr().err
    assert str(converted) in err and str(out) in err and not out.exists()
    limited = components["root"] / "limited.json"
    limited.write_text(benchmark_json.read_text().replace('"limit": null', '"limit": 1'))
    assert main(["card", "--model", str(converted), "--results", str(limited)]) == 2
    assert "limited run" in capsys.readouterr().err


# -------------------------------------------------------------------------------------- data-set / metric / Space
def test_dataset_card_round_trips_with_the_paper_facts():
    from huggingface_hub import DatasetCard

    from affectgpt_hf.data.hub import Shards, dataset_card

    configs = {
        "mer_caption_plus": {
            "train": Shards(4, ("data/mer_caption_plus/train-0123456789abcdef-00000-of-00001.parquet",))
        },
        "mer2023": {"test": Shards(2, ("data/mer2023/test-fedcba9876543210-00000-of-00001.parquet",))},
    }
    card = DatasetCard(dataset_card(configs, embed_media=False))
    data = card.data.to_dict()
    assert ARXIV_TAG in data["tags"] and PAPER_URL in card.text and data["license"] == "cc-by-nc-4.0"
    assert [c["config_name"] for c in data["configs"]] == ["mer2023", "mer_caption_plus"]
    assert "eprint={2501.16566}" in card.text


def _readme_header(path: Path) -> dict:
    from huggingface_hub import metadata_load

    return metadata_load(path)


def _space_app():
    spec = importlib.util.spec_from_file_location("space_app_for_cards", REPO / "spaces" / "affectgpt" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_metric_and_space_readmes_carry_the_paper_facts_and_the_space_names_its_models():
    for readme in (REPO / "metrics" / "mer_unibench" / "README.md", REPO / "spaces" / "affectgpt" / "README.md"):
        header = _readme_header(readme)
        assert ARXIV_TAG in header["tags"], readme
        assert PAPER_URL in readme.read_text(), readme
    space = _readme_header(REPO / "spaces" / "affectgpt" / "README.md")
    assert space["models"] == list(_space_app().MODELS)


def test_metric_folder_has_the_hub_layout_and_loads_as_the_space_loads_it():
    """evaluate 0.4.6 loads `USER/mer_unibench` as the Space file `mer_unibench.py` (named after the repo); the Space
    runs app.py with requirements.txt; the README's YAML is its card."""
    import evaluate

    folder = REPO / "metrics" / "mer_unibench"
    assert (folder / f"{folder.name}.py").is_file()
    assert "affectgpt-hf" in (folder / "requirements.txt").read_text()
    header = _readme_header(folder / "README.md")
    assert header["sdk"] == "gradio" and (folder / header["app_file"]).is_file()
    assert (
        f"hf upload USER/{folder.name} metrics/{folder.name} . --repo-type space" in (folder / "README.md").read_text()
    )
    assert 'with_name("mer_unibench.py")' in (folder / "app.py").read_text()
    metric = evaluate.load(str(folder / "mer_unibench.py"), "basic")
    assert metric.compute(predictions=["[happy]"], references=["joy"])["hit_rate"] == 1.0
    assert PAPER_URL in metric.info.reference_urls and "2501.16566" in metric.info.citation


# ------------------------------------------------------------------------------------------------------------ push
class FakeHub:
    """An httpx2 transport answering as the Hub does, for huggingface_hub's real client: records what it is sent."""

    def __init__(self, create=200, info=200, upload=200, upload_headers=None, reachable=True):
        self.create, self.info, self.upload, self.upload_headers = create, info, upload, upload_headers or {}
        self.reachable = reachable  # False: no network (the name does not resolve)
        self.created: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.authorized: list[tuple[str, bool]] = []
        self.validated: list[str] = []

    def __call__(self, request):
        import httpx2

        if not self.reachable:
            raise httpx2.ConnectError("[Errno -2] Name or service not known", request=request)
        path = request.url.path
        self.authorized.append((path, "authorization" in request.headers))
        if path == "/api/repos/create":
            self.created.append(json.loads(request.content))
            if self.create != 200:  # the Hub's 409 (exists) names the repo's url
                answer = {"error": "create refused", "url": "https://huggingface.co/me/tiny"}
                return httpx2.Response(self.create, json=answer, request=request)
            return httpx2.Response(200, json={"url": "https://huggingface.co/me/tiny"}, request=request)
        if path == "/api/validate-yaml":  # upload_folder has the Hub check a README's metadata first
            self.validated.append(json.loads(request.content)["content"])
            return httpx2.Response(200, json={"warnings": []}, request=request)
        if re.fullmatch(r"/api/models/[^/]+/[^/]+", path):
            if self.info != 200:
                return httpx2.Response(self.info, json={"error": "no access"}, request=request)
            return httpx2.Response(200, json={"id": path.split("/api/models/")[1], "sha": "0" * 40}, request=request)
        if path.endswith("/preupload/main"):
            if self.upload != 200:
                return httpx2.Response(self.upload, headers=self.upload_headers, json={"error": "x"}, request=request)
            files = json.loads(request.content)["files"]
            modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            return httpx2.Response(200, json={"files": modes}, request=request)
        if path.endswith("/commit/main"):
            for line in request.content.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    self.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            commit = {"commitUrl": "https://huggingface.co/me/tiny/commit/1", "commitOid": "1" * 40}
            return httpx2.Response(200, json=commit, request=request)
        return httpx2.Response(404, request=request)


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """Install a FakeHub as huggingface_hub's transport (no token unless a test sets HF_TOKEN)."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.utils import _http

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    hubs = []

    def install(**answers) -> FakeHub:
        hub = FakeHub(**answers)
        hubs.append(hub)
        _http.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(hub)))
        _http.close_session()
        return hub

    yield install
    _http.set_client_factory(_http.default_client_factory)
    _http.close_session()


@pytest.mark.timeout(60)
def test_push_uploads_the_folder_with_its_card_privately(trained, tmp_path, fake_hub, monkeypatch, capsys):
    folder = tmp_path / "model"
    shutil.copytree(trained, folder)
    (folder / "work").mkdir()
    (folder / "work" / "scratch.txt").write_text("not for the Hub")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    hub = fake_hub()
    assert main(["card", "--model", str(folder), "--push-to-hub", "me/tiny"]) == 0
    assert "pushed: https://huggingface.co/me/tiny/commit/1" in capsys.readouterr().out
    assert hub.created == [{"name": "tiny", "organization": "me", "visibility": "private", "type": "model"}]
    local = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    kept = {p for p in local if not p.startswith(("checkpoint-", "work/"))}
    assert set(hub.files) == kept and any(p.startswith("checkpoint-2/") for p in local)
    assert {"README.md", "model.safetensors", "config.json", "adapter/adapter_model.safetensors"} <= kept
    card = hub.files["README.md"].decode()
    assert 'MODEL = "me/tiny"' in snippet(card) and card == (folder / "README.md").read_text()
    assert hub.validated == [card]
    writes = [sent for path, sent in hub.authorized if path.endswith(("/create", "/preupload/main", "/commit/main"))]
    assert len(writes) == 3 and all(writes)  # the token went with every write

    public = fake_hub()
    assert main(["card", "--model", str(folder), "--push-to-hub", "me/tiny", "--public"]) == 0
    assert public.created[0]["visibility"] == "public"


@pytest.mark.timeout(180)
def test_convert_and_train_push_their_folders(
    components, feature_cache, converted, benchmark_json, tmp_path, fake_hub, monkeypatch
):
    """`convert --push-to-hub` and `train --push-to-hub` upload the folder they wrote, its card naming the repo."""
    from affectgpt_hf.training import main as train
    from affectgpt_hf.training import parse_train_args

    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    hub = fake_hub()
    out = tmp_path / "converted"
    assert main(convert_args(components, out, "--merge-lora", "--push-to-hub", "me/converted")) == 0
    assert hub.created[0]["visibility"] == "private" and "model.safetensors" in hub.files
    card = hub.files["README.md"].decode()
    assert 'MODEL = "me/converted"' in snippet(card) and "merged into the language model's weights" in card

    hub = fake_hub()
    argv = ["--config", str(TINY_YAML), "--dataset_dir", str(feature_cache), "--output_dir", str(tmp_path / "sft"),
            "--max_steps", "1", "--save_strategy", "no", "--disable_tqdm", "true",
            "--push-to-hub", "me/tiny-sft"]  # fmt: skip
    train(*parse_train_args(argv))
    assert hub.created[0] == {"name": "tiny-sft", "organization": "me", "visibility": "private", "type": "model"}
    card = hub.files["README.md"].decode()
    assert 'MODEL = "me/tiny-sft"' in snippet(card) and "| steps | 1 |" in card
    with pytest.raises(ValueError, match=re.escape(str(converted))) as refused:  # --results of another model
        train(*parse_train_args([*argv, "--results", str(benchmark_json)]))
    assert "me/tiny-sft" in str(refused.value) and str(tmp_path / "sft") in str(refused.value)


@pytest.mark.timeout(60)
def test_push_errors_are_the_hubs_with_what_to_do(converted, tmp_path, fake_hub, monkeypatch, capsys):
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    from affectgpt_hf.hub.push import HubPushError, push_folder

    # no token: the Hub answers 401 to the creation and to the look-up of an existing repo
    fake_hub(create=401, info=401)
    with pytest.raises(HubPushError, match="me/tiny") as caught:
        push_folder(converted, "me/tiny")
    assert type(caught.value.__cause__) is HfHubHTTPError and caught.value.__cause__.response.status_code == 401
    assert "hf auth login" in str(caught.value) and "HF_TOKEN" in str(caught.value)

    # someone else's existing repo: creation 403, the repo exists, the upload is refused (403)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    refusal = {"X-Error-Message": "You don't have the rights to push to other/model"}
    fake_hub(create=403, upload=403, upload_headers=refusal)
    folder = tmp_path / "model"
    shutil.copytree(converted, folder)
    assert main(["card", "--model", str(folder), "--push-to-hub", "other/model"]) == 2
    err = capsys.readouterr().err
    assert "other/model" in err and "403" in err and "YOUR_USER/NAME" in err and "'other'" in err

    # no network: nothing reaches the Hub
    fake_hub(reachable=False)
    assert main(["card", "--model", str(folder), "--push-to-hub", "me/model"]) == 2
    err = capsys.readouterr().err
    assert "me/model failed: ConnectError: [Errno -2] Name or service not known" in err
    assert "the Hub could not be reached" in err and "Traceback" not in err

    # another account's private repo: invisible to this token (the Hub's RepoNotFound)
    fake_hub(create=409, upload=404, upload_headers={"X-Error-Code": "RepoNotFound"})
    with pytest.raises(HubPushError, match="not visible to this token") as caught:
        push_folder(converted, "other/private")
    assert isinstance(caught.value.__cause__, RepositoryNotFoundError)
