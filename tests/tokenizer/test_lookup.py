"""Token lookup three ways (llm/tokenizer/lookup.py, llm/_ext/lookup.pyx, csrc/lookup.c):
every method agrees with a Python dict on random vocabularies and queries."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm._ext.lookup import BinarySearchIndex, HashIndex, Vocabulary, hash_bytes
from llm.tokenizer.lookup import (LOOKUPS, BinarySearchLookup, BruteForceLookup, HashLookup,
                                  TokenLookup)

LOOKUP_CLASSES = [BruteForceLookup, BinarySearchLookup, HashLookup]

# Any bytes (NUL and non-UTF-8 included): mostly short like real tokens, some 1-byte, a few long.
tokens = st.one_of(st.binary(min_size=0, max_size=12), st.binary(min_size=1, max_size=1),
                   st.binary(min_size=100, max_size=3000))
vocabularies = st.lists(tokens, unique=True, max_size=200)


def near_misses(vocabulary: list[bytes]) -> list[bytes]:
    """Keys one edit away from tokens: a byte longer, a byte shorter, the last byte changed."""
    keys = []
    for token in vocabulary[:50]:
        keys += [token + b"\x00", token[:-1], token[:-1] + bytes([(token[-1:] or b"\0")[0] ^ 1])]
    return keys


@given(vocabulary=vocabularies, others=st.lists(tokens, max_size=30))
def test_every_method_agrees_with_dict(vocabulary, others):
    expected = {token: token_id for token_id, token in enumerate(vocabulary)}
    # every position of the vocabulary, then random keys and near misses (mostly absent)
    keys = vocabulary + others + near_misses(vocabulary)
    want = [expected.get(key, -1) for key in keys]
    for cls in LOOKUP_CLASSES:
        lookup = cls(vocabulary)
        assert len(lookup) == len(vocabulary)
        assert [lookup.get(key) for key in keys] == want, cls.__name__
        assert [key in lookup for key in keys] == [w >= 0 for w in want], cls.__name__
        ids = lookup.get_many(keys)
        assert ids.dtype == np.int32 and ids.shape == (len(keys),)
        assert ids.tolist() == want, cls.__name__
        assert lookup.get_many(Vocabulary.of(keys)).tolist() == want, cls.__name__


@pytest.mark.parametrize("cls", LOOKUP_CLASSES)
def test_empty_vocabulary_finds_nothing(cls):
    lookup = cls([])
    assert len(lookup) == 0
    assert lookup.get(b"") == -1 and b"a" not in lookup
    assert lookup.get_many([b"", b"a"]).tolist() == [-1, -1]
    assert lookup.get_many([]).shape == (0,)


@pytest.mark.parametrize("cls", LOOKUP_CLASSES)
def test_duplicate_token_is_named_with_both_ids(cls):
    with pytest.raises(ValueError, match=r"b'\\x00ab' occurs twice .* ids 1 and 3"):
        cls([b"x", b"\0ab", b"y", b"\0ab"])


@pytest.mark.parametrize("index_type", [BinarySearchIndex, HashIndex])
def test_indexes_reject_duplicates_themselves(index_type):
    # The C builds detect repeats too, for callers that skip TokenLookup's check.
    with pytest.raises(ValueError, match="occur once"):
        index_type(Vocabulary.of([b"a", b"b", b"a"]))


@pytest.mark.parametrize("cls", LOOKUP_CLASSES)
def test_non_bytes_are_rejected_with_the_position(cls):
    with pytest.raises(TypeError, match=r"vocabulary\[1\] is str, not bytes.*encode"):
        cls([b"a", "b"])
    lookup = cls([b"a"])
    with pytest.raises(TypeError, match="token is str, not bytes"):
        lookup.get("a")
    with pytest.raises(TypeError, match="token is bytearray, not bytes"):
        bytearray(b"a") in lookup
    with pytest.raises(TypeError, match=r"tokens\[2\] is int, not bytes"):
        lookup.get_many([b"a", b"b", 3])
    with pytest.raises(TypeError):
        lookup.get_many(5)


def test_get_many_writes_into_out_and_checks_it():
    lookup = HashLookup([b"a", b"b"])
    out = np.full(3, 7, dtype=np.int32)
    assert lookup.get_many([b"b", b"c", b"a"], out=out) is out
    assert out.tolist() == [1, -1, 0]
    with pytest.raises(ValueError, match="out must be int32"):
        lookup.get_many([b"a"], out=np.zeros(1, dtype=np.int64))
    with pytest.raises(ValueError, match=r"out has shape \(2,\)"):
        lookup.get_many([b"a"], out=np.zeros(2, dtype=np.int32))


def test_get_many_takes_any_iterable_of_bytes():
    lookup = BinarySearchLookup([b"a", b"b"])
    assert lookup.get_many(t for t in (b"b", b"a")).tolist() == [1, 0]


def test_large_batches_split_across_threads_agree():
    # 20000 keys is above the size where the C batch loops use OpenMP.
    rng = np.random.default_rng(0)
    vocabulary = list({rng.bytes(int(n)) for n in rng.integers(1, 9, size=3000)})
    keys = [vocabulary[i] if i < len(vocabulary) else b"absent%d" % i
            for i in rng.integers(0, 2 * len(vocabulary), size=20000)]
    expected = {token: i for i, token in enumerate(vocabulary)}
    want = [expected.get(key, -1) for key in keys]
    for cls in LOOKUP_CLASSES:
        assert cls(vocabulary).get_many(keys).tolist() == want, cls.__name__


def test_hash_get_many_agrees_at_every_batch_length_around_its_groups():
    # csrc/lookup.c looks a batch up in groups of 16 keys: batches shorter than, as long as and
    # longer than a group or two, with repeated, absent and long keys.
    rng = np.random.default_rng(1)
    vocabulary = list({rng.bytes(int(n)) for n in rng.integers(1, 90, size=500)})
    lookup = HashLookup(vocabulary)
    pool = vocabulary + [b"absent%d" % i for i in range(200)]
    for n in [*range(0, 40), 100, 1001]:
        keys = [pool[i] for i in rng.integers(0, len(pool), size=n)]
        want = [vocabulary.index(key) if key in vocabulary else -1 for key in keys]
        assert lookup.get_many(keys).tolist() == want, n


def test_get_many_runs_in_many_python_threads_at_once():
    vocabulary = [b"%d" % i for i in range(5000)]
    lookup = HashLookup(vocabulary)
    keys = vocabulary[::-1] + [b"x"]
    want = list(range(4999, -1, -1)) + [-1]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: lookup.get_many(keys).tolist(), range(16)))
    assert all(result == want for result in results)


def test_hash_table_grows_and_keeps_its_load_factor():
    vocabulary = [b"token %d" % i for i in range(10000)]
    index = HashIndex(Vocabulary.of(vocabulary), capacity_hint=0)   # grows from 8 slots
    assert len(index) == 10000
    assert index.capacity & (index.capacity - 1) == 0
    assert len(index) / index.capacity <= 0.7 < len(index) / (index.capacity / 2)
    assert index.get_many(vocabulary).tolist() == list(range(10000))
    assert HashIndex(Vocabulary.of(vocabulary)).capacity == index.capacity


def test_binary_search_keeps_the_tokens_sorted_with_their_ids():
    vocabulary = [b"b", b"\xff", b"", b"ab", b"a", b"\x00"]
    index = BinarySearchIndex(Vocabulary.of(vocabulary))
    sorted_tokens = [index.sorted_tokens[i] for i in range(len(vocabulary))]
    assert sorted_tokens == sorted(vocabulary)
    assert [vocabulary[i] for i in index.sorted_ids] == sorted_tokens


def test_hash_spreads_similar_keys_over_low_and_high_bits():
    # Slots come from the low bits and tags from the high 32: both must be uniform even for
    # keys that differ in one byte. Chi-square over 256 buckets, 65536 keys; the 99.99th
    # percentile of chi2(255) is about 360.
    hashes = np.array([hash_bytes(b"tok" + i.to_bytes(3, "little")) for i in range(65536)],
                      dtype=np.uint64)
    for bits in (hashes & np.uint64(255), hashes >> np.uint64(56)):
        counts = np.bincount(bits.astype(np.int64), minlength=256)
        chi_square = ((counts - 256) ** 2 / 256).sum()
        assert chi_square < 360


def test_hash_tells_runs_of_nul_bytes_apart_by_length():
    assert len({hash_bytes(b"\0" * n) for n in range(40)}) == 40


def test_vocabulary_rejects_bad_offsets_and_gives_back_tokens():
    with pytest.raises(ValueError, match="rising from 0 to len"):
        Vocabulary(b"abc", np.array([0, 2, 1, 3]))
    with pytest.raises(ValueError, match="rising from 0 to len"):
        Vocabulary(b"abc", np.array([0, 4]))
    vocabulary = Vocabulary.of([b"ab", b"", b"\0"])
    assert [vocabulary[i] for i in range(len(vocabulary))] == [b"ab", b"", b"\0"]
    with pytest.raises(IndexError):
        vocabulary[3]


def test_lookups_share_one_interface():
    assert set(LOOKUPS.values()) == set(LOOKUP_CLASSES)
    assert all(issubclass(cls, TokenLookup) for cls in LOOKUP_CLASSES)
    assert repr(HashLookup([b"a"])) == "HashLookup(1 tokens)"



# ---- Tokenizer.token_to_id / id_to_token, which search these lookups ----------------------------

@pytest.fixture(scope="module")
def tokenizer():
    from llm.tokenizer import Tokenizer
    text = "the cat sat on the mat; the hat is flat. " * 20 + "naïve café, 日本語 "
    return Tokenizer.train(text, vocab_size=300)


@pytest.mark.parametrize("method", list(LOOKUPS))
def test_token_to_id_inverts_id_to_token(tokenizer, method):
    first_id = {}
    for token_id in range(tokenizer.vocab_size):
        first_id.setdefault(tokenizer.id_to_token(token_id), token_id)
    for token, token_id in first_id.items():
        assert tokenizer.token_to_id(token, method=method) == token_id
    assert tokenizer.token_to_id(b"not a token at all", method=method) == -1
    assert tokenizer.token_to_id("<|endoftext|>", method=method) == tokenizer.vocab_size - 1


def test_token_to_id_gives_the_first_id_of_a_repeated_token_and_sees_new_tokens():
    from llm.tokenizer import Tokenizer
    tokenizer = Tokenizer.train("abababab", vocab_size=258)
    assert tokenizer.token_to_id(b"a") == 97
    tokenizer.register_special_tokens(["a", "<new>"])   # "a" repeats byte token 97
    assert tokenizer.id_to_token(tokenizer.vocab_size - 2) == b"a"
    assert tokenizer.token_to_id("a") == 97
    assert tokenizer.token_to_id("<new>", method="binary") == tokenizer.vocab_size - 1


def test_token_to_id_and_id_to_token_reject_bad_arguments(tokenizer):
    with pytest.raises(ValueError, match="method='trie'"):
        tokenizer.token_to_id(b"a", method="trie")
    with pytest.raises(TypeError, match="not bytes"):
        tokenizer.token_to_id(97)
    for bad in (-1, tokenizer.vocab_size):
        with pytest.raises(ValueError, match="out of range"):
            tokenizer.id_to_token(bad)
    with pytest.raises(ValueError, match="must be an integer"):
        tokenizer.id_to_token(1.0)
