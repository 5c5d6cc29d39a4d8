"""The GPT model: configuration, parameters in one flat buffer, forward/backward through our C
kernels, the KV cache of generation, and the model directory format (config.json +
model.safetensors)."""
from llm.model.config import GPTConfig
from llm.model.gpt import GPT
from llm.model.kv_cache import KVCache

__all__ = ["GPT", "GPTConfig", "KVCache"]
