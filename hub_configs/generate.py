"""Write the hub_configs/ folders (config, generation config, processor, chat template) from the package's code.

Run `python hub_configs/generate.py` after changing a default; tests/test_hub_configs.py checks that the committed
folders equal what this writes. No weights and no tokenizer files: the processor builds Qwen2.5's tokenizer offline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from affectgpt_hf.hub.variants import VARIANTS, generation_config, variant_config, variant_processor

HERE = Path(__file__).resolve().parent


def write_variant(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    config = variant_config(name)
    config_dict = config.to_diff_dict()
    config_dict.pop("auto_map", None)
    config_dict.pop("transformers_version", None)
    (folder / "config.json").write_text(json.dumps(config_dict, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    gen = generation_config(VARIANTS[name][1]).to_diff_dict()
    gen.pop("transformers_version", None)
    (folder / "generation_config.json").write_text(json.dumps(gen, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    processor = variant_processor(name)
    processor_dict = processor.to_dict()
    processor_dict.pop("auto_map", None)
    (folder / "processor_config.json").write_text(
        json.dumps(processor_dict, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (folder / "chat_template.jinja").write_text(processor.chat_template, encoding="utf-8")


def main(out: Path = HERE) -> None:
    for name in VARIANTS:
        write_variant(out / name, name)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
