"""The GPT model: configuration, parameters in one flat buffer, layers with forward/backward
through our C kernels, the KV cache and token-level generation, and the model directory format
(config.json + model.safetensors + tokenizer.json)."""
import os

from llm.model import directory as _directory
from llm.model.config import GPTConfig
from llm.model.gpt import GPT
from llm.model.kv_cache import KVCache
from llm.model.sampling import SamplingConfig
from llm.tokenizer import Tokenizer

__all__ = ["GPT", "GPTConfig", "KVCache", "SamplingConfig", "load"]


def load(directory: str | os.PathLike) -> tuple[GPT, Tokenizer]:
    """The model and tokenizer of a model directory (a run's model/ or checkpoint/)."""
    tokenizer = _directory.require_tokenizer(directory)
    return GPT.load(directory), tokenizer
