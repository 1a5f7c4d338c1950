"""The code copied beside the weights of a saved folder (trust_remote_code), and the package's lazy import.

The copied set is the model's three files, the custom pipeline, and what they import with one dot; it must stay
siblings at the top of the package (affectgpt_hf/__init__.py says why). Renaming one of them, moving it into a
subpackage, or importing the package absolutely from one of them changes what is copied or breaks loading without the
package: these tests fail.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap

import pytest
from utils import REPO, TINY

COPIED = {
    "configuration_affectgpt.py",
    "modeling_affectgpt.py",
    "processing_affectgpt.py",
    "prompt.py",
    "tokenizer.py",
    "cache.py",
    "media.py",
    "faces.py",
    "pipeline_affectgpt.py",
    "speech.py",
}


def run(code: str) -> str:
    """``code`` in a fresh interpreter (nothing imported yet); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=240,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "tests")},
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.timeout(300)
def test_a_saved_folder_holds_exactly_the_model_code(tmp_path):
    folder = tmp_path / "saved"
    run(
        f"""
        from pathlib import Path
        from utils import TINY, save_tiny_folder
        from affectgpt_hf import AffectGPTProcessor
        save_tiny_folder(Path({str(folder)!r}), AffectGPTProcessor.from_pretrained(TINY))
        """
    )
    assert {path.name for path in folder.glob("*.py")} == COPIED
    package = REPO / "src" / "affectgpt_hf"
    for name in COPIED:
        assert (folder / name).read_bytes() == (package / name).read_bytes(), name
        for node in ast.walk(ast.parse((folder / name).read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level in (0, 1), f"{name}: from {'.' * node.level}{node.module} (one dot only)"
                assert not (node.module or "").startswith("affectgpt_hf"), f"{name} imports the package absolutely"
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModelForMultimodalLM"] == "modeling_affectgpt.AffectGPTForConditionalGeneration"

    loaded = run(  # without the package: the folder's own code
        f"""
        import sys
        sys.path = [p for p in sys.path if "src" not in p]
        sys.modules["affectgpt_hf"] = None  # importing the package now fails
        from transformers import AutoModelForMultimodalLM, AutoProcessor
        model = AutoModelForMultimodalLM.from_pretrained({str(folder)!r}, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained({str(folder)!r}, trust_remote_code=True)
        print(type(model).__module__, type(processor).__name__)
        """
    )
    assert loaded.split()[0].startswith("transformers_modules.") and loaded.split()[1] == "AffectGPTProcessor"


def test_importing_the_package_loads_neither_torch_nor_transformers():
    out = run(
        """
        import sys
        import affectgpt_hf, affectgpt_hf.cli, affectgpt_hf.inference, affectgpt_hf.benchmark, affectgpt_hf.data
        print(sorted(m for m in ("torch", "transformers", "datasets") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "first",
    [
        "import affectgpt_hf\nfrom transformers import AutoConfig, AutoModelForMultimodalLM, AutoProcessor",
        "from transformers import AutoConfig, AutoModelForMultimodalLM, AutoProcessor\nimport affectgpt_hf",
        "from affectgpt_hf.configuration_affectgpt import AffectGPTConfig\n"
        "from transformers import AutoConfig, AutoModelForMultimodalLM, AutoProcessor",
    ],
    ids=["package-first", "transformers-first", "a-model-module-first"],
)
def test_auto_classes_load_a_saved_folder_in_either_import_order(tiny_model_dir, first):
    folder = tiny_model_dir(seed=0)
    out = run(
        first
        + f"""
print(type(AutoConfig.from_pretrained({str(folder)!r})).__name__)
print(type(AutoModelForMultimodalLM.from_pretrained({str(folder)!r})).__module__)
print(type(AutoProcessor.from_pretrained({str(folder)!r})).__name__)
"""
    )
    assert out.split() == ["AffectGPTConfig", "affectgpt_hf.modeling_affectgpt", "AffectGPTProcessor"]


def test_lazy_exports_name_what_is_missing():
    import affectgpt_hf

    assert "AffectGPTProcessor" in dir(affectgpt_hf)
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        affectgpt_hf.Nothing  # noqa: B018
    assert TINY.is_dir()
