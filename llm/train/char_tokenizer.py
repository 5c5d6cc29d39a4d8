"""A character-level tokenizer: one id per distinct character of the training text.

It is an ordinary llm.Tokenizer in naive mode with no merges and no normalization (so it saves
to and loads from the same tokenizer.json), whose alphabet is every character of the text in
code point order (the ids nanoGPT's character-level Shakespeare uses), plus `<unknown>` as the
last id for characters the text never had.
"""
from collections.abc import Iterable

import numpy as np

from llm.tokenizer import Tokenizer
from llm.tokenizer.schema import TokenizerSpec
from llm.tokenizer.tokenizer import UNKNOWN


def char_tokenizer(texts: Iterable[str]) -> Tokenizer:
    """The character-level tokenizer of texts (ids 0..n-1: the n distinct characters in code
    point order; id n: <unknown>)."""
    characters = set()
    for text in texts:
        characters.update(text)
    if not characters:
        raise ValueError("empty corpus: no character to build a character-level tokenizer from")
    return Tokenizer(TokenizerSpec("naive", None, tuple(sorted(characters)),
                                   np.empty((0, 2), dtype=np.int32), (UNKNOWN,)))
