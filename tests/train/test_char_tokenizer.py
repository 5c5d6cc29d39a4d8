"""llm/train/char_tokenizer.py: one id per distinct character, in code point order."""
import pytest
from hypothesis import given, strategies as st

from llm.tokenizer import Tokenizer
from llm.train.char_tokenizer import char_tokenizer


def test_ids_are_sorted_characters_then_unknown(tmp_path):
    tokenizer = char_tokenizer(["hello\n", "world!"])
    alphabet = sorted(set("hello\nworld!"))
    assert tokenizer.vocab_size == len(alphabet) + 1
    assert tokenizer.encode("hello") == [alphabet.index(c) for c in "hello"]
    assert tokenizer.encode("hez") == [alphabet.index("h"), alphabet.index("e"), len(alphabet)]
    tokenizer.save(tmp_path / "tokenizer.json")
    assert Tokenizer.load(tmp_path / "tokenizer.json").encode("world\n") == \
        tokenizer.encode("world\n")


def test_nanogpt_shakespeare_ids():
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    tokenizer = char_tokenizer([text])
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert len(tokenizer.encode(text)) == len(text)


@given(st.text(min_size=1))
def test_round_trip_of_any_text(text):
    tokenizer = char_tokenizer([text])
    ids = tokenizer.encode(text)
    assert len(ids) == len(text) and max(ids) < tokenizer.vocab_size - 1
    assert tokenizer.decode(ids) == text


def test_empty_corpus():
    with pytest.raises(ValueError, match="empty corpus"):
        char_tokenizer(["", ""])
