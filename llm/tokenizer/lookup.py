"""Find a token's id three ways: brute-force scan, binary search, hash table.

The project began by comparing these, and the comparison stays runnable (`llm bench lookup`,
benchmarks/test_lookup_bench.py). All three share one interface, `TokenLookup`:

    lookup = HashLookup([b"a", b"b", b"ab"])     # token i has id i; any bytes, NUL included
    lookup.get(b"ab")                            # 2; -1 when absent
    lookup.get_many([b"ab", b"x"])               # array([ 2, -1], dtype=int32), one C call
    len(lookup), b"a" in lookup                  # 3, True

The C (csrc/lookup.c): BruteForceLookup compares the key with every token in id order, O(n);
BinarySearchLookup bisects a sorted copy of the tokens and maps back to ids, O(log n);
HashLookup probes an open-addressing table (wyhash-style hash, load factor <= 0.7), O(1).
"""
from collections.abc import Iterable

import numpy as np

from llm._ext.lookup import BinarySearchIndex, BruteForceIndex, HashIndex, Vocabulary

__all__ = ["TokenLookup", "BruteForceLookup", "BinarySearchLookup", "HashLookup", "Vocabulary",
           "LOOKUPS"]


def check_vocabulary(tokens: tuple) -> None:
    """Raise TypeError for a token that is not bytes, ValueError for a repeated one."""
    first_id = {}
    for token_id, token in enumerate(tokens):
        if not isinstance(token, bytes):
            raise TypeError(f"vocabulary[{token_id}] is {type(token).__name__}, not bytes; "
                            "tokens are byte strings (encode text first, e.g. .encode('utf-8'))")
        earlier = first_id.setdefault(token, token_id)
        if earlier != token_id:
            raise ValueError(f"token {token!r} occurs twice in the vocabulary, as ids {earlier} "
                             f"and {token_id}; each token must occur once")


class TokenLookup:
    """Token bytes -> id over a fixed vocabulary; subclasses choose the index.

    vocabulary: distinct bytes objects; token i gets id i.
    """

    index_type: type   # the llm._ext.lookup index class a subclass builds

    def __init__(self, vocabulary: Iterable[bytes]):
        tokens = tuple(vocabulary)
        check_vocabulary(tokens)
        self.vocabulary = Vocabulary.of(tokens)
        self._index = self.index_type(self.vocabulary)
        # The index's own method: a Python-level wrapper would double the cost of a single get.
        self.get = self._index.get

    def get(self, token: bytes) -> int:
        """The id of token, or -1 when it is not in the vocabulary."""
        return self._index.get(token)   # replaced per instance by the index's method

    def get_many(self, tokens, out: np.ndarray | None = None) -> np.ndarray:
        """(n,) int32 ids of n tokens (-1 where absent), in one C call that releases the GIL
        (except a hash-table batch of under 8192 keys, which is over in under 0.1 ms).

        tokens: a sequence of bytes, or a Vocabulary (the keys packed in one buffer: cheapest).
        out: optional (n,) int32 C-contiguous array to write into.
        """
        return self._index.get_many(tokens, out)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, token: bytes) -> bool:
        return self._index.get(token) >= 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} tokens)"


class BruteForceLookup(TokenLookup):
    """Compares the key with every token in id order: O(n) per key."""
    index_type = BruteForceIndex


class BinarySearchLookup(TokenLookup):
    """Bisects a sorted copy of the tokens, then maps back to the id: O(log n) per key."""
    index_type = BinarySearchIndex


class HashLookup(TokenLookup):
    """Open addressing with linear probing, load factor <= 0.7: O(1) per key."""
    index_type = HashIndex


# The `method` names Tokenizer.token_to_id and the benchmark use.
LOOKUPS: dict[str, type[TokenLookup]] = {
    "brute": BruteForceLookup,
    "binary": BinarySearchLookup,
    "hash": HashLookup,
}
