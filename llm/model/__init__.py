"""The GPT model: configuration, parameters in one flat buffer, layers with forward/backward
through our C kernels, the KV cache and token-level generation, and the model directory format
(config.json + model.safetensors + tokenizer.json); Hugging Face GPT-2 directories are read and
written too (llm/model/pretrained.py)."""
import os

from llm.model import directory as _directory
from llm.model import pretrained as _pretrained
from llm.model.config import GPTConfig
from llm.model.gpt import GPT, INFERENCE_DTYPES
from llm.model.kv_cache import KVCache
from llm.model.sampling import SamplingConfig
from llm.tokenizer import Tokenizer

__all__ = ["GPT", "GPTConfig", "INFERENCE_DTYPES", "KVCache", "SamplingConfig", "load"]


def load(directory: str | os.PathLike, dtype: str = "f32") -> tuple[GPT, Tokenizer]:
    """The model and tokenizer of a model directory: ours (a run's model/ or checkpoint/), or a
    Hugging Face GPT-2 one (GPT.from_pretrained, Tokenizer.from_pretrained). A tokenizer whose
    vocabulary is not the model's is a ValueError; in a Hugging Face directory it may be
    smaller (a vocab_size padded to a round number, e.g. 50304), never larger.

    dtype: "f32", or "bf16" / "f16" to store the model's matrices in 16 bits for inference
    (GPT.to_inference_dtype: half the memory and bytes per token; no training)."""
    if dtype not in INFERENCE_DTYPES:   # before reading anything
        raise ValueError(f"dtype={dtype!r}: expected one of {', '.join(INFERENCE_DTYPES)}")
    model, tokenizer = _load(directory)
    return model.to_inference_dtype(dtype), tokenizer


def _load(directory: str | os.PathLike) -> tuple[GPT, Tokenizer]:
    if _pretrained.is_pretrained_directory(directory):
        model = GPT.from_pretrained(directory)
        tokenizer = Tokenizer.from_pretrained(directory)
        if tokenizer.vocab_size > model.config.vocab_size:
            raise ValueError(f"{directory}: the tokenizer has {tokenizer.vocab_size} tokens but "
                             f"the model only {model.config.vocab_size}")
        return model, tokenizer
    tokenizer = _directory.require_tokenizer(directory)
    model = GPT.load(directory)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"{directory}: the tokenizer has {tokenizer.vocab_size} tokens but the "
                         f"model {model.config.vocab_size}; the directory mixes two runs' files")
    return model, tokenizer
