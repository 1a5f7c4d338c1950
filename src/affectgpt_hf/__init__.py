"""AffectGPT, MER-Caption and MER-UniBench, native to the Hugging Face stack.

Importing the package registers the model with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForMultimodalLM, AutoProcessor), so saved folders load with them.
"""

from transformers import AutoConfig, AutoModel, AutoModelForMultimodalLM, AutoProcessor

from .configuration_affectgpt import AffectGPTConfig
from .modeling_affectgpt import AffectGPTForConditionalGeneration, AffectGPTModel, AffectGPTPreTrainedModel
from .processing_affectgpt import AffectGPTProcessor

__version__ = "0.1.0"

AutoConfig.register("affectgpt", AffectGPTConfig, exist_ok=True)
AutoModel.register(AffectGPTConfig, AffectGPTModel, exist_ok=True)
AutoModelForMultimodalLM.register(AffectGPTConfig, AffectGPTForConditionalGeneration, exist_ok=True)
AutoProcessor.register(AffectGPTConfig, AffectGPTProcessor, exist_ok=True)

# Saved folders carry `auto_map` and the code, so they also load with trust_remote_code=True without this package.
AffectGPTConfig.register_for_auto_class()
AffectGPTModel.register_for_auto_class("AutoModel")
AffectGPTForConditionalGeneration.register_for_auto_class("AutoModelForMultimodalLM")
AffectGPTProcessor.register_for_auto_class()

__all__ = [
    "AffectGPTConfig",
    "AffectGPTForConditionalGeneration",
    "AffectGPTModel",
    "AffectGPTPreTrainedModel",
    "AffectGPTProcessor",
]
