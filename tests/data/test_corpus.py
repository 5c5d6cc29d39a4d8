"""llm/data/corpus.py, the one corpus pipeline: chunking that changes no token, the joined
stream and its sources and checksum, the split point."""
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm.data.corpus import TokenStream, iter_text_chunks, safe_cut, split_point
from llm.tokenizer import Tokenizer
from llm.train.char_tokenizer import char_tokenizer
from llm.util.text import read_text

SAMPLE = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
          "All:\nSpeak, speak.  Café naïve — 東京 won't 123 stop!\r\n") * 20


@pytest.fixture(scope="module")
def byte_tokenizer():
    return Tokenizer.train(SAMPLE, 300)


letters = st.sampled_from(list("aZé東λ") + ["ab", "Word", "x1"])
pieces = st.one_of(letters, st.sampled_from([" ", "  ", "\n", "\n\n", "\r\n", "\t", ",", "'s",
                                             "'t", "123", "\u0301", "\u2028", " .", "\ufffd"]))


@settings(max_examples=60)
@given(parts=st.lists(pieces, max_size=60), chunk_bytes=st.integers(1, 24),
       invalid=st.booleans())
def test_chunked_text_and_tokens_equal_the_whole_file_s(byte_tokenizer, tmp_path_factory, parts,
                                                        chunk_bytes, invalid):
    path = tmp_path_factory.mktemp("t") / "t.txt"
    data = "".join(parts).encode("utf-8")
    path.write_bytes(data[:5] + b"\xe9\xff" + data[5:] if invalid else data)
    chunks = list(iter_text_chunks(path, chunk_bytes))
    assert "".join(text for text, _ in chunks) == read_text(path)
    assert sum(n_bytes for _, n_bytes in chunks) == path.stat().st_size
    whole = byte_tokenizer.encode(read_text(path))
    assert sum((byte_tokenizer.encode(text) for text, _ in chunks), []) == whole
    naive = char_tokenizer(["aZé東λbWordx1 ,'st123"])
    assert sum((naive.encode(text) for text, _ in chunks), []) == naive.encode(read_text(path))


def test_safe_cut_is_the_last_space_between_letters():
    assert safe_cut("one two  three") == 3
    assert safe_cut("a b c") == 3
    assert safe_cut("x 1 y") == 0 and safe_cut(" a") == 0 and safe_cut("a ") == 0


def test_split_point_is_nanogpts():
    assert split_point(1115394, 0.1) == int(1115394 * 0.9) == 1003854
    assert split_point(10, 0.5) == 5
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="val_fraction"):
            split_point(10, bad)


@pytest.mark.parametrize("chunk_bytes", [5, 1 << 20])
def test_stream_joins_the_documents_with_end_of_text(byte_tokenizer, tmp_path, chunk_bytes):
    texts = {"a.txt": SAMPLE[:300], "b.txt": "", "c.txt": "A short one.", "d.txt": SAMPLE[5:90]}
    for name, text in texts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    stream = TokenStream(byte_tokenizer, [tmp_path], chunk_bytes=chunk_bytes)
    tokens = stream.tokens()
    documents = [byte_tokenizer.encode(text) for text in texts.values() if text]
    separator = byte_tokenizer.end_of_text_id
    expected = documents[0] + [separator] + documents[1] + [separator] + documents[2]
    assert tokens.dtype == np.int32 and tokens.tolist() == expected
    assert [(source.path.name, source.tokens) for source in stream.sources] == \
        [("a.txt", len(documents[0])), ("c.txt", len(documents[1])), ("d.txt", len(documents[2]))]
    checksum = 0
    for document in documents:          # separators are not part of the data's checksum
        checksum = zlib.crc32(np.array(document, np.int32).tobytes(), checksum)
    assert stream.checksum == checksum


def test_stream_without_end_of_text_just_concatenates(tmp_path):
    (tmp_path / "a.txt").write_text("abc ab")
    (tmp_path / "b.txt").write_text("cab")
    tokenizer = char_tokenizer(["abc "])
    assert tokenizer.end_of_text_id is None
    tokens = TokenStream(tokenizer, [tmp_path / "a.txt", tmp_path / "b.txt"]).tokens()
    assert tokens.tolist() == tokenizer.encode("abc ab") + tokenizer.encode("cab")


def test_an_empty_corpus_and_bad_chunks_are_errors(byte_tokenizer, tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty corpus"):
        TokenStream(byte_tokenizer, [tmp_path / "empty.txt"]).tokens()
    with pytest.raises(ValueError, match="chunk_bytes=0"):
        TokenStream(byte_tokenizer, [tmp_path], chunk_bytes=0)
    with pytest.raises(FileNotFoundError):
        TokenStream(byte_tokenizer, [tmp_path / "missing.txt"])
