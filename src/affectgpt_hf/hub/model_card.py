"""The model card (README.md) of every saved AffectGPT folder: `train`, `convert` and `quickstart` write it through
`write_model_card`, from one template, and `affectgpt card --results` adds MER-UniBench scores to it.

A card is rendered from the folder's config.json and a `CardFacts` (components, training recipe, upstream
provenance, toy scores, benchmark results). The facts are also kept in the card's metadata (key `affectgpt`), so a
later step re-renders the same card with more facts instead of patching its text.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .paper import ARXIV_TAG, CITATION, PAPER_URL, UPSTREAM_LICENSE, UPSTREAM_REPO, VENUE

CARD_FILE = "README.md"
FACTS_KEY = "affectgpt"
PIPELINE_TAG = "video-text-to-text"
LIBRARY_NAME = "transformers"
TAGS = ("affectgpt", "emotion-recognition", "multimodal", ARXIV_TAG)
BENCHMARK = "MER-UniBench"
UNIBENCH_CONFIG = {"basic": "basic", "sentiment": "sentiment", "ov": "ovmer"}  # task -> metrics/mer_unibench config
METRIC_NAMES = {
    "hit_rate": "hit rate",
    "weighted_f1": "weighted F1",
    "accuracy": "accuracy",
    "fscore": "F-score",
    "precision": "precision",
    "recall": "recall",
}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

# The one template of every card (Jinja, rendered by huggingface_hub.ModelCard.from_template). Rows are prepared in
# Python (`_context`), so the template holds only the layout and the fixed sentences.
TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ summary }}

AffectGPT ([{{ venue }}]({{ paper_url }}), code: {{ upstream_repo }}) describes the emotions of a person in a clip
from the face or frames, the voice and the subtitle. This folder is in the `affectgpt_hf` format: one
`from_pretrained` folder with its processor (`pip install affectgpt-hf`; the code is also saved beside the weights
for `trust_remote_code=True`).

## Model

| part | value |
| --- | --- |
{% for name, value in model_rows %}| {{ name }} | {{ value }} |
{% endfor %}
{%- if recipe_rows %}
## Training

| setting | value |
| --- | --- |
{% for name, value in recipe_rows %}| {{ name }} | {{ value }} |
{% endfor %}
{%- endif %}
{%- if provenance_rows %}
## Provenance

| | |
| --- | --- |
{% for name, value in provenance_rows %}| {{ name }} | {{ value }} |
{% endfor %}
{%- endif %}
{%- if quickstart_rows %}
## Toy evaluation (`affectgpt quickstart`)

{{ quickstart_intro }}

| input | hit rate | OV F-score | exact label |
| --- | --- | --- | --- |
{% for row in quickstart_rows %}| {{ row | join(" | ") }} |
{% endfor %}
{%- endif %}

## Use

```python
{{ snippet }}
```

Decoding is greedy by default; upstream sampled (top_p 0.9, temperature 1.0, top_k 20): pass those to `generate`,
or use `affectgpt describe --upstream-sampling`, to reproduce it. Upstream quirks are kept (unnormalised attention
scores; face crops used in their stored BGR order).
{%- if results_rows %}

## {{ benchmark }} results

{{ results_intro }}

| data set | metric | this model (x100) | paper AffectGPT (A,V,T) | clips | checkpoint |
| --- | --- | --- | --- | --- | --- |
{% for row in results_rows %}| {{ row | join(" | ") }} |
{% endfor %}
{%- endif %}

## Licence

{{ license_text }}

## Citation

Paper: {{ paper_url }}

```bibtex
{{ citation }}
```
"""


@dataclass
class CardFacts:
    """What a card says beyond config.json. `made_by`: "train", "convert" or "quickstart"; `components`: llm / vision /
    audio -> Hub id or folder (None: not part of this model); `initialised_from`: the folder or id training started
    from when not from components; `recipe`, `provenance`, `quickstart`: rows of their sections (name -> value);
    `adapter`: subfolder of a PEFT adapter the weights do not include; `results`: a benchmark summary
    (`summarize_results`)."""

    made_by: str
    model_id: str = ""
    components: dict[str, str | None] = field(default_factory=dict)
    initialised_from: str | None = None
    recipe: dict[str, str] | None = None
    provenance: dict[str, str] | None = None
    quickstart: dict[str, Any] | None = None
    adapter: str | None = None
    results: dict[str, Any] | None = None
    license: str = UPSTREAM_LICENSE

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CardFacts:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


# ------------------------------------------------------------------------------------------------------------ render
def _is_hub_id(name: str | None) -> bool:
    return bool(name) and _HUB_ID.fullmatch(str(name)) is not None and not os.path.exists(str(name))


def _code(value: object) -> str:
    return f"`{value}`"


def _source(name: str | None, start: str | None) -> str:
    if name:
        return _code(name)
    return f"from {_code(start)}" if start else "random initialisation"


def _model_rows(config, facts: CardFacts) -> list[tuple[str, str]]:
    text = config.text_config
    sizes = f"{text.num_hidden_layers} layers, width {text.hidden_size}, vocabulary {text.vocab_size:,}"
    start = facts.initialised_from
    rows = [("language model", f"{_source(facts.components.get('llm'), start)} ({text.model_type}: {sizes})")]
    for key, name, sub, used in (
        ("vision", "vision tower (frozen)", config.vision_config, config.uses_video),
        ("audio", "audio tower (frozen)", config.audio_config, config.uses_audio),
    ):
        if not used:
            rows.append((name, "not used by this input mode"))
            continue
        shape = f"{sub.model_type}, {sub.num_hidden_layers} layers, width {sub.hidden_size}"
        rows.append((name, f"{_source(facts.components.get(key), start)} ({shape})"))
    tokens = ", ".join(_code(token) for token in sorted(config.modality_tokens))
    rows.append(("input mode", f"{_code(config.input_mode)}: subtitle + {tokens or 'no media tokens'}"))
    rows.append(("pooling", f"video {config.video_pooling}, audio {config.audio_pooling} (over 8 frames / 8 clips)"))
    fusion = "none" if not config.uses_multi else f"{config.fusion} pre-fusion of audio and video into `<MultiHere>`"
    rows.append(("fusion", fusion))
    if facts.adapter:
        rows.append(("LoRA", f"a PEFT adapter in `{facts.adapter}/`, not merged into these weights"))
    return rows


def _snippet(config, model_id: str, adapter: str | None) -> str:
    """Python that loads this folder (or repo) and describes one clip; the tests run it on the tiny model."""
    lines = [
        *(["from peft import PeftModel", ""] if adapter else []),
        "from affectgpt_hf import AffectGPTForConditionalGeneration, AffectGPTProcessor",
        "",
        f'MODEL = "{model_id}"',
        "model = AffectGPTForConditionalGeneration.from_pretrained(MODEL)",
        "processor = AffectGPTProcessor.from_pretrained(MODEL)",
    ]
    if adapter:
        lines.append(
            f'model = PeftModel.from_pretrained(model, MODEL, subfolder="{adapter}").merge_and_unload()  # LoRA'
        )
    media = []
    if config.uses_video:
        media.append('videos=["clip.mp4"]')
    if config.uses_audio:
        media.append("audio=[None]")
    lines += [
        "inputs = processor(",
        "    "
        + ", ".join([*media, 'subtitles=["I told you already."]', 'task="ov_labels"', 'return_tensors="pt"'])
        + ",",
        ")" + ("  # audio None: taken from the mp4" if config.uses_audio and config.uses_video else ""),
        "answers = processor.batch_decode(model.generate(**inputs, max_new_tokens=64), skip_special_tokens=True)",
        "print(answers, processor.post_process(answers))",
    ]
    if config.visual_token == "<FaceHere>":
        lines.insert(
            lines.index("inputs = processor("),
            "# a face model: pass faces=[...] (OpenFace crops, `affectgpt faces extract`) for upstream's inputs",
        )
    return "\n".join(lines)


def _results_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, entry in results["datasets"].items():
        for metric, value in entry["scores_x100"].items():
            paper = entry.get("paper") if metric == entry["primary_metric"] else None
            rows.append(
                [
                    name,
                    METRIC_NAMES.get(metric, metric) + (" (primary)" if metric == entry["primary_metric"] else ""),
                    _number(value),
                    _number(paper),
                    f"{entry['n_clips']}" + (f" ({entry['n_failed']} failed)" if entry.get("n_failed") else ""),
                    str(entry.get("checkpoint", "")),
                ]
            )
    mean = results["mean"] if results["complete"] else results.get("mean_of_run")
    label = f"{BENCHMARK} mean (9 sets)" if results["complete"] else f"mean of {len(results['datasets'])} of 9 sets"
    rows.append([f"**{label}**", "primary metrics", f"**{_number(mean)}**", _number(results.get("paper_mean")), "", ""])
    return rows


def _number(value: object) -> str:
    if value is None:
        return ""
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.2f}"


def _context(config, facts: CardFacts, model_id: str) -> dict[str, Any]:
    what = {
        "train": "trained with `affectgpt train` (TRL SFTTrainer)",
        "convert": "converted from an upstream AffectGPT checkpoint with `affectgpt convert`",
        "quickstart": "trained by `affectgpt quickstart` on generated toy clips (a demonstration only)",
    }[facts.made_by]
    context: dict[str, Any] = {
        "title": f"AffectGPT: {Path(model_id).name or model_id}",
        "summary": f"An AffectGPT model ({config.input_mode}), {what}.",
        "venue": VENUE,
        "paper_url": PAPER_URL,
        "upstream_repo": UPSTREAM_REPO,
        "model_rows": _model_rows(config, facts),
        "recipe_rows": list((facts.recipe or {}).items()),
        "provenance_rows": list((facts.provenance or {}).items()),
        "snippet": _snippet(config, model_id, facts.adapter),
        "benchmark": BENCHMARK,
        "citation": CITATION,
        "license_text": (
            f"`{facts.license}`, as upstream AffectGPT, whose README adds that it is a research preview for "
            "non-commercial use only; the training data (MER-Caption, CC BY-NC 4.0) and the components' own licences "
            "apply as well."
        ),
    }
    if facts.quickstart:
        context["quickstart_intro"] = facts.quickstart["intro"]
        context["quickstart_rows"] = facts.quickstart["rows"]
    if facts.results:
        results = facts.results
        context["results_rows"] = _results_rows(results)
        context["results_intro"] = (
            f"From `affectgpt benchmark` ({results['file']}): protocol **{results['protocol']}**; label extraction "
            f"{results['extraction_mode']}; decoding {results['decoding']}; model {_code(results['model'])}. "
            "Scores x100 from the metrics of metrics/mer_unibench. Beside them the paper's AffectGPT (A,V,T) row "
            "(Table 2), whose labels came from a Qwen2.5 judge over the best of epochs 30-60 per set: compare runs "
            "of the same protocol and extraction."
        )
    return context


def eval_results(results: dict[str, Any]) -> list:
    """`model-index` entries (huggingface_hub.EvalResult) of a benchmark summary: every score of every set, plus the
    MER-UniBench mean of a complete run, each with the protocol, label extraction and decoding as `metric.args`;
    NaN scores are left out (the table shows them)."""
    from huggingface_hub import EvalResult

    protocol = {
        "protocol": results["protocol"],
        "label_extraction": results["extraction_mode"],
        "decoding": results["decoding"],
    }
    common = {
        "task_type": PIPELINE_TAG,
        "task_name": f"Multimodal emotion recognition ({BENCHMARK})",
        "dataset_split": "test",
        "metric_args": protocol,
    }
    entries = []
    for name, entry in results["datasets"].items():
        for metric, value in entry["scores_x100"].items():
            if value is None or math.isnan(float(value)):
                continue
            entries.append(
                EvalResult(
                    dataset_type=name,
                    dataset_name=f"{name} ({BENCHMARK})",
                    metric_type=metric,
                    metric_name=f"{METRIC_NAMES.get(metric, metric)} (x100)",
                    metric_config=UNIBENCH_CONFIG[entry["task"]],
                    metric_value=float(value),
                    **common,
                )
            )
    if results["complete"] and results["mean"] is not None:
        entries.append(
            EvalResult(
                dataset_type=BENCHMARK,
                dataset_name=f"{BENCHMARK} (9 test sets)",
                metric_type="mean",
                metric_name="mean of the primary metrics (x100)",
                metric_value=float(results["mean"]),
                **common,
            )
        )
    return entries


def render_model_card(folder: str | os.PathLike, facts: CardFacts, model_id: str | None = None) -> str:
    """README.md text of a saved folder: metadata (pipeline_tag, library_name, license, tags with the paper's arXiv
    tag, base_model, model-index) and the sections of TEMPLATE."""
    from huggingface_hub import ModelCard, ModelCardData

    from ..configuration_affectgpt import AffectGPTConfig

    config = AffectGPTConfig.from_pretrained(folder)
    model_id = model_id or facts.model_id or str(folder)
    facts.model_id = model_id
    bases = [facts.components.get(key) for key in ("llm", "vision", "audio")] + [facts.initialised_from]
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        pipeline_tag=PIPELINE_TAG,
        license=facts.license,
        tags=list(TAGS),
        base_model=[base for base in bases if _is_hub_id(base)] or None,
        model_name=Path(model_id).name or model_id,
        eval_results=eval_results(facts.results) if facts.results else None,
        **{FACTS_KEY: asdict(facts)},
    )
    card = ModelCard.from_template(data, template_str=TEMPLATE, **_context(config, facts, model_id))
    return str(card)


def write_model_card(folder: str | os.PathLike, facts: CardFacts, model_id: str | None = None) -> Path:
    """Render the card of `folder` and write it to `folder/README.md` (replacing what was there)."""
    path = Path(folder) / CARD_FILE
    path.write_text(render_model_card(folder, facts, model_id), encoding="utf-8")
    return path


def read_card_facts(folder: str | os.PathLike) -> CardFacts:
    """The facts an earlier writer kept in `folder/README.md`'s metadata."""
    from huggingface_hub import ModelCard

    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; expected a folder written by affectgpt train/convert/quickstart"
        )
    stored = ModelCard.load(path).data.to_dict().get(FACTS_KEY)
    if not isinstance(stored, dict) or "made_by" not in stored:
        raise ValueError(
            f"{path} was not written by affectgpt (no `{FACTS_KEY}` metadata); expected the card of affectgpt "
            "train, convert or quickstart (rewrite it with one of them first)"
        )
    return CardFacts.from_dict(stored)


# ----------------------------------------------------------------------------------------------------------- results
def _names_model(name: str | None, folder: Path, repo_id: str | None) -> bool:
    """Whether a benchmark's model name (folder, checkpoint folder or Hub id) is this folder or repo."""
    if not name:
        return False
    if repo_id and name == repo_id:
        return True
    path = Path(name).expanduser()
    if not path.exists():
        return False
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def summarize_results(
    results_file: str | os.PathLike, folder: str | os.PathLike, repo_id: str | None = None
) -> dict[str, Any]:
    """The card's summary of an `affectgpt benchmark` report (benchmark.json) of this model.

    Refused (ValueError naming both): a report of another model (its `model` / checkpoints must be `folder`, a
    checkpoint inside it, or `repo_id`); a limited run (`--limit`); a file that is no MER-UniBench report."""
    path, folder = Path(results_file), Path(folder)
    if not path.is_file():
        raise FileNotFoundError(f"results file {path} does not exist; expected benchmark.json of affectgpt benchmark")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"results file {path} is not JSON ({error}); expected benchmark.json") from error
    if not isinstance(report, dict) or report.get("benchmark") != BENCHMARK or not report.get("datasets"):
        raise ValueError(
            f"results file {path} is not a {BENCHMARK} report; expected benchmark.json of affectgpt benchmark"
        )
    names = [report.get("model")] + [entry.get("path") for entry in report.get("checkpoints") or []]
    if not any(_names_model(name, folder, repo_id) for name in names):
        theirs = report.get("model") or ", ".join(str(n) for n in names if n)
        ours = str(folder) + (f" / {repo_id}" if repo_id else "")
        raise ValueError(
            f"results file {path} scores model {theirs}, not this model {ours}; run `affectgpt benchmark --model "
            f"{folder}` and pass that benchmark.json"
        )
    if report.get("limit") is not None:
        raise ValueError(
            f"results file {path} comes from a limited run (first {report['limit']} clips of each set), which is not "
            f"comparable with the paper; run affectgpt benchmark without --limit"
        )
    from ..unibench import PAPER_TABLE2

    paper = PAPER_TABLE2["AffectGPT (A,V,T)"]
    datasets = {
        name: {
            "task": entry["task"],
            "primary_metric": entry["primary_metric"],
            "checkpoint": entry.get("checkpoint"),
            "scores_x100": entry["scores_x100"],
            "paper": paper.get(name),
            "n_clips": entry["n_clips"],
            "n_failed": entry.get("n_failed", 0),
        }
        for name, entry in report["datasets"].items()
    }
    return {
        "file": path.name,
        "model": report.get("model") or names[1],
        "protocol": report["protocol"],
        "extraction_mode": report["extraction_mode"],
        "decoding": report["decoding"]["mode"] if isinstance(report.get("decoding"), dict) else report.get("decoding"),
        "complete": bool(report["complete"]),
        "mean": report.get("mean"),
        "mean_of_run": report.get("mean_of_run"),
        "paper_mean": paper["mean"] if report["complete"] else None,
        "datasets": datasets,
    }


def add_results(folder: str | os.PathLike, results_file: str | os.PathLike, repo_id: str | None = None) -> Path:
    """Put a benchmark.json of this model into `folder`'s card (results table and model-index), replacing earlier
    results; the rest of the card is re-rendered from its kept facts."""
    facts = read_card_facts(folder)
    facts.results = summarize_results(results_file, folder, repo_id)
    return write_model_card(folder, facts, repo_id)


__all__ = [
    "CARD_FILE",
    "PIPELINE_TAG",
    "TAGS",
    "TEMPLATE",
    "CardFacts",
    "add_results",
    "eval_results",
    "read_card_facts",
    "render_model_card",
    "summarize_results",
    "write_model_card",
]
