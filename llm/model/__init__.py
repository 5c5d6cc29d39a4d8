"""The GPT model: configuration, parameters in one flat buffer, forward/backward through our C
kernels, and the model directory format (config.json + model.safetensors)."""
from llm.model.config import GPTConfig
from llm.model.gpt import GPT

__all__ = ["GPT", "GPTConfig"]
