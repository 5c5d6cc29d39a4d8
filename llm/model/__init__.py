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
    """The model and tokenizer of a model directory (a run's model/ or checkpoint/); a
    tokenizer whose vocabulary is not the model's is a ValueError."""
    tokenizer = _directory.require_tokenizer(directory)
    model = GPT.load(directory)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"{directory}: the tokenizer has {tokenizer.vocab_size} tokens but the "
                         f"model {model.config.vocab_size}; the directory mixes two runs' files")
    return model, tokenizer
