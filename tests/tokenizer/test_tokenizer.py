"""llm/tokenizer/tokenizer.py and the C encoder behind it (csrc/bpe_encode.c).

Reference encoder: the textbook merge-rank BPE loop in Python — split with the pre-tokenizer's
pattern, then repeatedly merge the adjacent pair of lowest rank (the leftmost among equal ones).
"""
import itertools
import json
import math
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from llm._ext import bpe_encode
from llm.tokenizer import Normalizer, Tokenizer
from llm.tokenizer.pretokenize import GPT2_PATTERN, pretokenize
from llm.tokenizer.schema import TokenizerSpec

FIXTURES = Path(__file__).parent / "fixtures"
NAIVE_PATTERN = regex.compile(r"[\p{L}\p{N}\p{M}]+|(?s:.)")   # the naive rule of pretokenize.h

SAMPLE = "".join(
    f"Chapter {i}. It's {i * 37} o'clock; the quick brown fox — naïve café owner — jumps over "
    f"the lazy dog {'again ' * (i % 3)}and   the  dog sleeps.\n\tSo it goes: «déjà vu» ×{i}, "
    f"日本語のテキスト {'a' * (i % 7 + 1)} 😀!\n\n" for i in range(40))

INTERESTING = list(" \t\n\r\x0b\x0c\x85\xa0\u2028\u3000'sStre0123٣½\u0301éßı日本語。!?.,😀👍🏽𝒜")
texts = st.lists(st.sampled_from(INTERESTING) | st.characters(exclude_categories=["Cs"])
                 | st.sampled_from(["the", " dog", "'s", "  ", "<|endoftext|>", "aaaa"])).map("".join)


@pytest.fixture(scope="module")
def byte_tokenizer() -> Tokenizer:
    return Tokenizer.train(SAMPLE, 420, min_frequency=1)


@pytest.fixture(scope="module")
def naive_tokenizer() -> Tokenizer:
    return Tokenizer.train(SAMPLE, 120, mode="naive")


def reference_encode(tokenizer: Tokenizer, text: str) -> list[int]:
    ranks = {tuple(pair): tokenizer.n_base + k for k, pair in enumerate(tokenizer.merges.tolist())}
    if tokenizer.mode == "byte":
        pieces, base = regex.findall(GPT2_PATTERN, text), lambda piece: list(piece.encode())
    else:
        text = tokenizer.normalizer(text) if tokenizer.normalizer else text
        index = {c: i for i, c in enumerate(tokenizer.alphabet)}
        unknown = tokenizer.special_tokens["<unknown>"]
        pieces, base = NAIVE_PATTERN.findall(text), lambda piece: [index.get(c, -1) for c in piece]
    ids = []
    for piece in pieces:
        symbols = base(piece)
        while True:
            rank, i = min(((ranks.get(pair, math.inf), i) for i, pair in enumerate(itertools.pairwise(symbols))),
                          default=(math.inf, 0))
            if rank == math.inf:
                break
            symbols[i:i + 2] = [rank]
        ids += [unknown if s < 0 else s for s in symbols]
    return ids


# ---- round trips and the reference -----------------------------------------------------------

@settings(max_examples=300)
@given(text=texts)
def test_byte_mode_round_trips_any_text_and_matches_reference(byte_tokenizer, text):
    ids = byte_tokenizer.encode(text)
    assert byte_tokenizer.decode(ids) == text
    assert ids == reference_encode(byte_tokenizer, text)
    assert byte_tokenizer.decode(byte_tokenizer.encode(text, method="greedy")) == text


@settings(max_examples=100)
@given(data=st.binary())
def test_byte_mode_round_trips_any_bytes(byte_tokenizer, data):
    assert byte_tokenizer.decode_bytes(byte_tokenizer.encode_bytes(data)) == data


@settings(max_examples=200)
@given(text=texts)
def test_naive_mode_round_trips_normalized_text(naive_tokenizer, text):
    ids = naive_tokenizer.encode(text)
    assert ids == reference_encode(naive_tokenizer, text)
    normalized = naive_tokenizer.normalizer(text)
    unknown = naive_tokenizer.special_tokens["<unknown>"]
    if all(c in naive_tokenizer.alphabet for c in normalized):
        assert unknown not in ids
        assert naive_tokenizer.decode(ids) == normalized
    else:
        expected = "".join(c if c in naive_tokenizer.alphabet else "<unknown>" for c in normalized)
        assert naive_tokenizer.decode(ids) == expected


def test_naive_mode_whitespace_and_punctuation_never_merge(naive_tokenizer):
    alphabet = naive_tokenizer.alphabet
    ids = naive_tokenizer.encode("the dog,  the\tdog!\n")
    pieces = [naive_tokenizer.vocab[i].decode() for i in ids]
    assert pieces[1] == " " and pieces[3:6] == [",", " ", " "] and pieces[7] == "\t"
    assert pieces[-2:] == ["!", "\n"]
    assert all(len(p) == 1 for p in pieces if not p.isalnum())
    assert {" ", "\n", "\t", ","} <= set(alphabet)


def test_naive_mode_unknown_characters(naive_tokenizer):
    unknown = naive_tokenizer.special_tokens["<unknown>"]
    assert "#" not in naive_tokenizer.alphabet
    ids = naive_tokenizer.encode("dog#dog")
    assert ids.count(unknown) == 1
    assert naive_tokenizer.decode(ids) == "dog<unknown>dog"
    assert naive_tokenizer.encode("dog#dog", method="greedy") == ids


def test_naive_mode_normalizes_by_default(naive_tokenizer):
    assert naive_tokenizer.normalizer == Normalizer(ascii_fold=True, lowercase=True)
    assert naive_tokenizer.encode("CAFÉ Déjà") == naive_tokenizer.encode("cafe deja")
    raw = Tokenizer.train(SAMPLE, 150, mode="naive", normalize=False)
    assert raw.normalizer is None and "é" in raw.alphabet and "C" in raw.alphabet


# ---- the two encoders ------------------------------------------------------------------------

def test_every_token_encodes_to_itself_with_both_methods(byte_tokenizer):
    """Where both methods are defined the same way — a text that is one token — they agree.
    (A token that ends inside a UTF-8 character is no piece of its own: the pre-tokenizer cuts
    the stray byte off.)"""
    checked = 0
    for token_id, token in enumerate(byte_tokenizer.vocab[:-1]):
        if len(pretokenize(token)) > 1:
            continue
        checked += 1
        assert byte_tokenizer.encode_bytes(token) == [token_id]
        assert byte_tokenizer.encode_bytes(token, method="greedy") == [token_id]
    assert checked > 0.9 * byte_tokenizer.vocab_size


def test_greedy_and_bpe_on_the_wikipedia_example():
    # Merges aa=256, ab=257, aaab=258 (Wikipedia's Z, Y, X). Both methods agree on these texts.
    tokenizer = Tokenizer.train("aaabdaaabac", 256 + 3 + 1, min_frequency=1)
    assert tokenizer.merges.tolist() == [[97, 97], [97, 98], [256, 257]]
    for text, ids in (("aaabdaaabac", [258, 100, 258, 97, 99]), ("aab", [256, 98]),
                      ("aaaaab", [256, 258]), ("abaab", [257, 256, 98])):
        assert tokenizer.encode(text) == ids
        assert tokenizer.encode(text, method="greedy") == ids


def test_greedy_takes_the_longest_match_where_bpe_follows_merge_order():
    # Documents "bc" x3 and "ab" x2: merges bc=256 (count 3), then ab=257 (count 2).
    tokenizer = Tokenizer.train(["bc"] * 3 + ["ab"] * 2, 256 + 2 + 1, min_frequency=1)
    assert tokenizer.merges.tolist() == [[98, 99], [97, 98]]
    assert tokenizer.encode("abc") == [97, 256]                    # (b, c) has the lower rank
    assert tokenizer.encode("abc", method="greedy") == [257, 99]   # "ab" is the longest prefix


def test_long_piece_is_encoded_like_the_reference():
    tokenizer = Tokenizer.train(["a" * 64, "ab" * 20, "b" * 33], 256 + 12 + 1, min_frequency=1)
    for text in ("a" * 1501, "ab" * 400 + "b", "a" * 500 + "b" * 499):
        ids = tokenizer.encode(text)
        assert ids == reference_encode(tokenizer, text)
        assert tokenizer.decode(ids) == text


def test_piece_cache_starts_over_when_full(byte_tokenizer):
    # 300000 distinct pieces overflow the 2**18-entry cache; later ones are encoded afresh.
    text = "".join(f" {i}" for i in range(100_000, 400_000))
    first = byte_tokenizer.encode(text)
    assert byte_tokenizer.encode(text) == first
    assert byte_tokenizer.decode(first) == text
    tail = text[-8000:]
    tail = tail[tail.index(" "):]
    assert byte_tokenizer.encode(tail) == reference_encode(byte_tokenizer, tail)


FAST_PATH_TEXTS = [
    "the quick brown fox jumps over the lazy dog " * 3,                  # ASCII only
    "naïve café owners say déjà vu; the dog's 1234567 bones",            # mixed
    "abcdefgé abcdefghé abcdefghijklmnopé the日本 dog😀s 12345678٣ x\u0301y",   # ASCII, then not
    " " + "the" * 10 + " " + "dog" * 11 + " " + "a" * 33 + " " + "ab" * 17,   # 30, 33, 33, 34 bytes
    " " + "thedog" * 21 + " " + "x" * 129 + " " + "sleeps" * 40,         # too long to cache
    " 1234567890123456 12345678901234567 " + "9" * 40,                   # digit runs
]


@pytest.mark.parametrize("text", FAST_PATH_TEXTS)
def test_fast_paths_match_the_reference(byte_tokenizer, naive_tokenizer, text):
    # ASCII runs scanned 8 bytes at a time, pieces of up to 32 bytes merged without the heap, a
    # cache that knows short pieces by two words: the same ids as the textbook reference, from a
    # fresh cache and from a warm one.
    for tokenizer in (byte_tokenizer, naive_tokenizer):
        fresh = Tokenizer(tokenizer.spec)
        want = reference_encode(tokenizer, text)
        assert fresh.encode(text) == want
        assert fresh.encode(text) == want   # from the cache
        assert fresh.encode(text + text) == reference_encode(tokenizer, text + text)


def test_encode_at_every_simd_level_matches_the_reference(byte_tokenizer, simd_level):
    # The encoder pre-tokenizes 32 pieces at a time: with pieces of 1-3 bytes a batch ends inside
    # a 64-byte window of the ASCII fast path, and the next batch starts one there.
    rng = np.random.default_rng(1)
    words = ["a", "I", "it's", "  ", "\n", "the", "dog", ",", "42", "they'll", " !"]
    short_pieces = " ".join(rng.choice(words, 2000))
    for text in (short_pieces, SAMPLE, SAMPLE.encode("ascii", errors="ignore").decode()):
        assert Tokenizer(byte_tokenizer.spec).encode(text) == reference_encode(byte_tokenizer, text)


def test_piece_cache_tells_apart_pieces_that_differ_in_one_byte(byte_tokenizer):
    # Every piece of 1 to 20 bytes that differs from " the quick brown fox" (cut to its length)
    # in one byte, all cached side by side: each gets its own ids.
    base = " thequickbrownfoxjumps"
    pieces = []
    for length in range(1, 21):
        for position in range(length):
            for replacement in "aé":
                piece = base[:position] + replacement + base[position + 1:length]
                pieces.append(piece if piece.startswith(" ") else " " + piece)
    tokenizer = Tokenizer(byte_tokenizer.spec)
    text = "".join(pieces)
    want = reference_encode(byte_tokenizer, text)
    assert tokenizer.encode(text) == want
    assert tokenizer.encode("".join(reversed(pieces))) == reference_encode(
        byte_tokenizer, "".join(reversed(pieces)))
    assert tokenizer.encode(text) == want


def test_piece_cache_key_is_the_same_at_the_end_of_the_text(byte_tokenizer):
    # A piece within 16 bytes of the text's end is read through a copy, any other straight from
    # the text: both must give the same key, whichever one cached the piece first.
    tail = " the dog's naïve"
    middle = tail + " and then some more text after it"
    for first, second in ((tail, middle), (middle, tail)):
        tokenizer = Tokenizer(byte_tokenizer.spec)
        for text in (first, second, first):
            assert tokenizer.encode(text) == reference_encode(byte_tokenizer, text)


def test_encode_lists_share_one_int_object_per_id(byte_tokenizer):
    ids = byte_tokenizer.encode(SAMPLE)
    assert ids == byte_tokenizer.encode_to_numpy(SAMPLE).tolist()
    again = byte_tokenizer.encode(SAMPLE)
    assert all(a is b for a, b in zip(ids, again))
    assert bpe_encode.id_list(np.array([2, 0, 1], dtype=np.int32), (10, 11, 12)) == [12, 10, 11]
    for bad in (3, -1):
        with pytest.raises(ValueError, match=f"ids: {bad} is not an id in \\[0, 3\\)"):
            bpe_encode.id_list(np.array([0, bad, 1], dtype=np.int32), (10, 11, 12))
    with pytest.raises(ValueError, match="ids must be int32"):
        bpe_encode.id_list(np.array([0, 1]), (10, 11))


def test_long_inputs_are_encoded_in_blocks(byte_tokenizer, naive_tokenizer, monkeypatch):
    """Blocks of BLOCK_IDS ids end at piece boundaries; a piece longer than a block grows it."""
    texts = (SAMPLE, "x" + "a" * 50 + " " + SAMPLE[:300])
    expected = [[t.encode(text) for text in texts] for t in (byte_tokenizer, naive_tokenizer)]
    monkeypatch.setattr(bpe_encode, "BLOCK_IDS", 5)
    for tokenizer, ids in zip((byte_tokenizer, naive_tokenizer), expected):
        assert [Tokenizer(tokenizer.spec).encode(text) for text in texts] == ids


def test_invalid_method_is_refused(byte_tokenizer):
    with pytest.raises(ValueError, match="method='fast'"):
        byte_tokenizer.encode("x", method="fast")


# ---- special tokens --------------------------------------------------------------------------

def test_special_tokens_only_when_allowed(byte_tokenizer):
    eot = byte_tokenizer.special_tokens["<|endoftext|>"]
    assert eot == byte_tokenizer.vocab_size - 1 == 419
    text = "a<|endoftext|>b"
    assert byte_tokenizer.encode(text) == byte_tokenizer.encode_ordinary(text)
    assert eot not in byte_tokenizer.encode(text)
    allowed = byte_tokenizer.encode(text, allowed_special={"<|endoftext|>"})
    assert allowed == byte_tokenizer.encode("a") + [eot] + byte_tokenizer.encode("b")
    assert byte_tokenizer.encode(text, allowed_special="all") == allowed
    assert byte_tokenizer.decode(allowed) == text
    with pytest.raises(ValueError, match="not special tokens"):
        byte_tokenizer.encode(text, allowed_special={"<pad>"})
    with pytest.raises(ValueError, match="pass \"all\" or a set"):
        byte_tokenizer.encode(text, allowed_special="<|endoftext|>")


def test_register_special_tokens_appends_ids():
    tokenizer = Tokenizer.train(SAMPLE, 300)
    tokenizer.register_special_tokens(["<pad>", "<sep>"])
    assert tokenizer.special_tokens == {"<|endoftext|>": 299, "<pad>": 300, "<sep>": 301}
    assert tokenizer.vocab_size == 302
    assert tokenizer.encode("x<sep>", allowed_special="all")[-1] == 301
    assert tokenizer.decode([301, 300]) == "<sep><pad>"
    with pytest.raises(ValueError, match="already registered"):
        tokenizer.register_special_tokens(["<pad>"])
    with pytest.raises(ValueError, match="non-empty"):
        tokenizer.register_special_tokens([""])


def test_default_special_tokens_follow_the_merges(byte_tokenizer, naive_tokenizer):
    n = naive_tokenizer.n_base + len(naive_tokenizer.merges)
    assert naive_tokenizer.special_tokens == {"<endoftext>": n, "<unknown>": n + 1, "<pad>": n + 2}
    custom = Tokenizer.train(SAMPLE, 100, mode="naive", special_tokens=["<s>"])
    assert list(custom.special_tokens) == ["<unknown>", "<s>"]
    assert list(Tokenizer.train(SAMPLE, 300, special_tokens=[]).special_tokens) == []


# ---- ids, ranks, threads ---------------------------------------------------------------------

def test_ids_follow_gpt2_convention(byte_tokenizer):
    ranks = byte_tokenizer.mergeable_ranks()
    assert len(ranks) == byte_tokenizer.vocab_size - 1
    assert all(ranks[bytes([b])] == b for b in range(256))
    for k, (left, right) in enumerate(byte_tokenizer.merges.tolist()):
        vocab = byte_tokenizer.vocab
        assert ranks[vocab[left] + vocab[right]] == 256 + k


def test_mergeable_ranks_needs_distinct_tokens():
    # Hand-made merges: (a, bc) and (ab, c) both make "abc".
    merges = np.array([[97, 98], [98, 99], [97, 257], [256, 99]], np.int32)
    tokenizer = Tokenizer(TokenizerSpec("byte", None, None, merges, ()))
    with pytest.raises(ValueError, match="token 259 repeats the bytes b'abc' of token 258"):
        tokenizer.mergeable_ranks()


def test_mergeable_ranks_is_byte_mode_only(naive_tokenizer):
    with pytest.raises(ValueError, match="byte mode only"):
        naive_tokenizer.mergeable_ranks()
    with pytest.raises(ValueError, match="byte mode only"):
        naive_tokenizer.encode_bytes(b"x")


def test_encode_batch_equals_encode(byte_tokenizer):
    batch = [SAMPLE[i:i + 500] for i in range(0, 20_000, 500)] + ["", "<|endoftext|>"]
    expected = [byte_tokenizer.encode(t, allowed_special="all") for t in batch]
    assert byte_tokenizer.encode_batch(batch, allowed_special="all", num_threads=4) == expected
    assert byte_tokenizer.encode_batch(batch, allowed_special="all", num_threads=1) == expected
    with pytest.raises(ValueError, match="num_threads"):
        byte_tokenizer.encode_batch(batch, num_threads=-1)


def test_a_batch_encoder_keeps_its_threads_from_batch_to_batch(byte_tokenizer, monkeypatch):
    texts = ["one text", "another, longer text", "a third <|endoftext|>", "4"] * 3
    threads = set()
    encode = type(byte_tokenizer).encode_to_numpy

    def recording(self, text, *args):
        threads.add(threading.get_ident())
        return encode(self, text, *args)

    monkeypatch.setattr(type(byte_tokenizer), "encode_to_numpy", recording)
    with byte_tokenizer.batch_encoder(2, allowed_special="all") as encode_batch:
        for start in range(0, len(texts), 4):
            batch = texts[start:start + 4]
            assert [ids.tolist() for ids in encode_batch(batch)] == \
                [byte_tokenizer.encode(text, allowed_special="all") for text in batch]
    # two pool threads served every batch (and the main thread the reference encodes)
    assert len(threads - {threading.get_ident()}) <= 2


def test_threads_share_one_tokenizer():
    tokenizer = Tokenizer.train(SAMPLE, 500)
    texts = [SAMPLE[i:] + str(i) for i in range(8)]
    expected = [reference_encode(tokenizer, t) for t in texts]
    results = [None] * len(texts)

    def work(i):
        for _ in range(3):
            results[i] = tokenizer.encode(texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


def test_encode_to_numpy(byte_tokenizer):
    array = byte_tokenizer.encode_to_numpy("the dog<|endoftext|>", allowed_special="all")
    assert array.dtype == np.int32
    assert array.tolist() == byte_tokenizer.encode("the dog<|endoftext|>", allowed_special="all")


# ---- bad input -------------------------------------------------------------------------------

def test_decode_refuses_ids_out_of_range(byte_tokenizer):
    size = byte_tokenizer.vocab_size
    for ids, bad in (([1, size], f"ids\\[1\\] = {size}"), ([-1], "ids\\[0\\] = -1"),
                     ([0, 2**40], "ids\\[1\\] = 1099511627776"),
                     (np.array([5, size + 5], dtype=np.uint64), f"ids\\[1\\] = {size + 5}")):
        with pytest.raises(ValueError, match=bad + ".*\\[0, 420\\)"):
            byte_tokenizer.decode(ids)
    for ids in ([2**70], [1.5], ["a"], [[1, 2]], np.array([True])):
        with pytest.raises(ValueError, match="ids"):
            byte_tokenizer.decode(ids)
    assert byte_tokenizer.decode([]) == "" and byte_tokenizer.decode(iter([104])) == "h"


def test_decode_of_a_cut_character(byte_tokenizer):
    ids = byte_tokenizer.encode("€")   # 3 bytes, never in the sample: 3 byte tokens
    assert len(ids) == 3 and byte_tokenizer.decode(ids[:2]) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        byte_tokenizer.decode(ids[:2], errors="strict")


def test_lone_surrogates_are_refused_with_their_position(byte_tokenizer, naive_tokenizer):
    for tokenizer in (byte_tokenizer, naive_tokenizer):
        with pytest.raises(ValueError, match="U\\+DC80 at index 5"):
            tokenizer.encode("hello\udc80")
        with pytest.raises(ValueError, match="U\\+D800 at index 15"):
            tokenizer.encode("<|endoftext|>ab\ud800", allowed_special="all")
    with pytest.raises(ValueError, match="U\\+D800 at index 1"):
        Tokenizer.train(["fine text", "a\ud800"], 300)


def test_encode_refuses_non_text(byte_tokenizer):
    with pytest.raises(ValueError, match="expected str, got bytes"):
        byte_tokenizer.encode(b"bytes")


def test_train_refuses_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size=200 is smaller than the 256 byte tokens plus 1 "
                                         "special token\\(s\\); use at least 257"):
        Tokenizer.train(SAMPLE, 200)
    with pytest.raises(ValueError, match="smaller than the .* characters of the trained alphabet"):
        Tokenizer.train(SAMPLE, 20, mode="naive")
    with pytest.raises(ValueError, match="mode='bytes'"):
        Tokenizer.train(SAMPLE, 300, mode="bytes")
    with pytest.raises(ValueError, match="byte mode never normalizes"):
        Tokenizer.train(SAMPLE, 300, normalize=True)
    with pytest.raises(ValueError, match="min_frequency=0"):
        Tokenizer.train(SAMPLE, 300, min_frequency=0)
    with pytest.raises(ValueError, match="pass a list"):
        Tokenizer.train(SAMPLE, 300, special_tokens="<s>")
    with pytest.raises(ValueError, match="empty corpus"):
        Tokenizer.train("", 300)
    with pytest.raises(ValueError, match="vocab_size=300.0"):
        Tokenizer.train(SAMPLE, 300.0)


def test_train_on_a_file_with_invalid_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    data = "Voilà, une crème brûlée à côté du café.\n".encode("latin-1") * 20
    path.write_bytes(data)
    tokenizer = Tokenizer.train(path, 300)
    assert tokenizer.decode_bytes(tokenizer.encode_bytes(data)) == data


# ---- save and load ---------------------------------------------------------------------------

def test_save_load_gives_identical_encodings(tmp_path, byte_tokenizer, naive_tokenizer):
    for tokenizer in (byte_tokenizer, naive_tokenizer):
        path = tmp_path / f"{tokenizer.mode}.json"
        tokenizer.save(path)
        loaded = Tokenizer.load(path)
        assert loaded.vocab == tokenizer.vocab and loaded.special_tokens == tokenizer.special_tokens
        assert loaded.normalizer == tokenizer.normalizer and loaded.alphabet == tokenizer.alphabet
        assert loaded.encode(SAMPLE, allowed_special="all") == \
            tokenizer.encode(SAMPLE, allowed_special="all")
        assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_merges_are_saved_as_id_pairs(tmp_path, byte_tokenizer):
    byte_tokenizer.save(tmp_path / "t.json")
    document = json.loads((tmp_path / "t.json").read_text())
    assert document["merges"] == byte_tokenizer.merges.tolist()
    assert document["version"] == 1 and document["format"] == "llm-from-scratch/tokenizer"


VERSION_1_TEXT = "the cat sat on the mat; the cat ate the rat. 日本 bit"


@pytest.mark.parametrize("name", ["tokenizer_v1_byte.json", "tokenizer_v1_naive.json"])
def test_version_1_files_still_load(tmp_path, name):
    """Committed files written by version 1 (trained on "the cat sat on the mat; ..."); their
    encodings are pinned here. In the naive one "b" and "i" were too rare for the alphabet."""
    expected = {
        "tokenizer_v1_byte.json": [257, 101, 261, 270, 268, 259, 267, 59, 259, 261, 271, 259, 269,
                                   46, 32, 230, 151, 165, 230, 156, 172, 32, 98, 105, 116],
        "tokenizer_v1_naive.json": [15, 0, 16, 0, 20, 0, 18, 0, 15, 0, 17, 2, 0, 15, 0, 16, 0, 21,
                                    0, 15, 0, 19, 1, 0, 0, 23, 23, 12],
    }[name]
    shutil.copy(FIXTURES / name, tmp_path / name)
    tokenizer = Tokenizer.load(tmp_path / name)
    assert tokenizer.encode(VERSION_1_TEXT) == expected
