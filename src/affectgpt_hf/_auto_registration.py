"""The package's classes registered with transformers' Auto classes, without importing either before it is used.

Registering needs the classes, and so torch and transformers (3 s); doing it at ``import affectgpt_hf`` made every
command, ``--help`` included, wait for them. So it happens as soon as transformers' Auto machinery
(``transformers.models.auto``) is loaded: at once if it already is, else when the import that brought it in is
complete. Until then an import hook follows the imports of transformers' modules and of the package's model modules,
and registers only when none of them is still half-loaded (registering imports both, and a half-loaded module cannot
be imported again).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

AUTO = "transformers.models.auto"
_PACKAGE = __name__.rsplit(".", 1)[0]
_MODEL_MODULES = tuple(
    f"{_PACKAGE}.{name}" for name in ("configuration_affectgpt", "modeling_affectgpt", "processing_affectgpt")
)
_done = False
_loading = 0  # imports under way among those the hook follows


def register() -> None:
    """Register the config, model and processor with AutoConfig, AutoModel, AutoModelForMultimodalLM and AutoProcessor,
    and for ``auto_map`` (saved folders then also load with ``trust_remote_code=True`` without this package)."""
    global _done
    if _done:
        return
    _done = True  # before the imports below, which come back through the hook
    from transformers import AutoConfig, AutoModel, AutoModelForMultimodalLM, AutoProcessor

    from .configuration_affectgpt import AffectGPTConfig
    from .modeling_affectgpt import AffectGPTForConditionalGeneration, AffectGPTModel
    from .processing_affectgpt import AffectGPTProcessor

    AutoConfig.register("affectgpt", AffectGPTConfig, exist_ok=True)
    AutoModel.register(AffectGPTConfig, AffectGPTModel, exist_ok=True)
    AutoModelForMultimodalLM.register(AffectGPTConfig, AffectGPTForConditionalGeneration, exist_ok=True)
    AutoProcessor.register(AffectGPTConfig, AffectGPTProcessor, exist_ok=True)
    AffectGPTConfig.register_for_auto_class()
    AffectGPTModel.register_for_auto_class("AutoModel")
    AffectGPTForConditionalGeneration.register_for_auto_class("AutoModelForMultimodalLM")
    AffectGPTProcessor.register_for_auto_class()


def _followed(name: str) -> bool:
    return name == "transformers" or name.startswith("transformers.") or name in _MODEL_MODULES


class _AfterImports(importlib.abc.MetaPathFinder):
    """Counts the imports of transformers' modules and of the model modules; when the last one under way completes and
    the Auto machinery is loaded, registers."""

    def find_spec(self, fullname, path=None, target=None):
        if _done or not _followed(fullname):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module, run=run):
            global _loading
            _loading += 1
            try:
                run(module)
            finally:
                _loading -= 1
            if not _done and _loading == 0 and AUTO in sys.modules:
                register()

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Register now if transformers' Auto machinery is loaded and nothing the hook follows is half-loaded, else as soon
    as that holds."""
    half_loaded = any(
        getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
        if _followed(name)
    )
    if AUTO in sys.modules and not half_loaded:
        register()
    elif not any(isinstance(finder, _AfterImports) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImports())
