"""The BPE tokenizer: normalize -> pre-tokenize -> BPE."""
from llm.tokenizer.normalize import Normalizer
from llm.tokenizer.pretokenize import pretokenize
from llm.tokenizer.tokenizer import Tokenizer

__all__ = ["Normalizer", "Tokenizer", "pretokenize"]
