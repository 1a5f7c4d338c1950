"""AffectGPT, MER-Caption and MER-UniBench, native to the Hugging Face stack.

The package imports lazily, as transformers does: ``import affectgpt_hf`` loads neither torch nor transformers, and
``affectgpt --help`` answers at once. The model's classes load on first use (``from affectgpt_hf import
AffectGPTForConditionalGeneration``). They are registered with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForMultimodalLM, AutoProcessor) as soon as both this package and those Auto classes are imported, in either
order, so saved folders load with them (:mod:`._auto_registration`).

The model's files are copied beside the weights of every saved folder (``trust_remote_code``): configuration_,
modeling_ and processing_affectgpt, and what they import with one dot: prompt, tokenizer, cache, media and faces (the
last through an import inside a function), and pipeline_affectgpt (the custom pipeline that the saved config registers
in ``custom_pipelines``; modeling's ``save_pretrained`` imports it) with speech (voice activity and speech
recognition, which the pipeline uses). They stay siblings at the top of the package and import each other with one
dot only; tests/test_saved_code.py pins the set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._auto_registration import install
from ._lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {  # submodule -> the names it gives the package
    "configuration_affectgpt": ("AffectGPTConfig",),
    "modeling_affectgpt": ("AffectGPTForConditionalGeneration", "AffectGPTModel", "AffectGPTPreTrainedModel"),
    "processing_affectgpt": ("AffectGPTProcessor",),
}

if TYPE_CHECKING:
    from .configuration_affectgpt import AffectGPTConfig
    from .modeling_affectgpt import AffectGPTForConditionalGeneration, AffectGPTModel, AffectGPTPreTrainedModel
    from .processing_affectgpt import AffectGPTProcessor


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
install()

__all__ = [
    "AffectGPTConfig",
    "AffectGPTForConditionalGeneration",
    "AffectGPTModel",
    "AffectGPTPreTrainedModel",
    "AffectGPTProcessor",
]
