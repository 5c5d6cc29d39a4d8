"""The BPE tokenizer: normalize -> pre-tokenize -> BPE."""
from llm.tokenizer.normalize import Normalizer
from llm.tokenizer.pretokenize import pretokenize

__all__ = ["Normalizer", "pretokenize"]
