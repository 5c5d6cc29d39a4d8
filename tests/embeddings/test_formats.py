"""The word2vec text and binary formats: exact round trips, format detection, interoperability
with gensim, and truncated or foreign files."""
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from llm.embeddings import Word2Vec
from llm.embeddings.formats import load_word2vec, save_word2vec

WORDS = ["the", "whale's", "café", "日本", "x"]


def sample_vectors(rows=len(WORDS), dim=7, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32) * 3


@pytest.mark.parametrize("binary", [True, False])
def test_round_trip_is_exact_and_the_format_is_detected(tmp_path, binary):
    vectors = sample_vectors()
    vectors[0, 0], vectors[1, 1] = 1e-38, -3.4e38          # float32 extremes survive text too
    path = tmp_path / "vectors.any"
    save_word2vec(path, WORDS, vectors, binary=binary)
    for mode in (binary, None):
        words, loaded = load_word2vec(path, binary=mode)
        assert words == WORDS
        assert loaded.dtype == np.float32 and np.array_equal(loaded, vectors)


def test_files_look_like_word2vec_c_writes_them(tmp_path):
    vectors = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    save_word2vec(tmp_path / "v.txt", ["a", "b"], vectors, binary=False)
    assert (tmp_path / "v.txt").read_text() == "2 2\na 1.5 -2\nb 0.25 3\n"
    save_word2vec(tmp_path / "v.bin", ["a", "b"], vectors, binary=True)
    assert (tmp_path / "v.bin").read_bytes() == (b"2 2\na " + vectors[0].astype("<f4").tobytes()
                                                 + b"\nb " + vectors[1].astype("<f4").tobytes()
                                                 + b"\n")


word = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")),
               min_size=1, max_size=8).filter(lambda w: not any(c.isspace() for c in w))


@given(words=st.lists(word, min_size=1, max_size=6, unique=True),
       dim=st.integers(1, 5), binary=st.booleans(), data=st.data())
def test_round_trip_property(tmp_path_factory, words, dim, binary, data):
    vectors = data.draw(hnp.arrays(np.float32, (len(words), dim),
                                   elements=st.floats(width=32, allow_nan=False,
                                                      allow_infinity=False)))
    path = tmp_path_factory.mktemp("round") / "v"
    save_word2vec(path, words, vectors, binary=binary)
    loaded_words, loaded = load_word2vec(path)
    assert loaded_words == words and np.array_equal(loaded, vectors)


def test_word2vec_save_chooses_binary_by_extension_and_load_detects(tmp_path):
    model = Word2Vec(WORDS, sample_vectors())
    model.save(tmp_path / "v.bin")
    model.save(tmp_path / "v.txt")
    assert (tmp_path / "v.txt").read_text().startswith("5 7\nthe ")
    assert b"\x00" in (tmp_path / "v.bin").read_bytes() or \
        not (tmp_path / "v.bin").read_bytes()[6:].isascii()
    for name in ("v.bin", "v.txt"):
        loaded = Word2Vec.load(tmp_path / name)
        assert loaded.words == WORDS and np.array_equal(loaded.vectors, model.vectors)


@pytest.mark.parametrize("binary", [True, False])
def test_gensim_reads_our_files_and_we_read_gensims(tmp_path, binary):
    keyed = pytest.importorskip("gensim.models").KeyedVectors
    vectors = sample_vectors()
    save_word2vec(tmp_path / "ours", WORDS, vectors, binary=binary)
    theirs = keyed.load_word2vec_format(str(tmp_path / "ours"), binary=binary)
    assert list(theirs.index_to_key) == WORDS and np.array_equal(theirs.vectors, vectors)
    theirs.save_word2vec_format(str(tmp_path / "theirs"), binary=binary)
    words, loaded = load_word2vec(tmp_path / "theirs")
    assert words == WORDS and np.array_equal(loaded, vectors)


@pytest.mark.parametrize("cut", [0.3, 0.9, -2])
def test_truncated_binary_files_are_reported(tmp_path, cut):
    path = tmp_path / "v"
    save_word2vec(path, WORDS, sample_vectors(), binary=True)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * cut) if cut > 0 else cut])
    for binary in (True, None):
        with pytest.raises(ValueError, match="truncated"):
            load_word2vec(path, binary=binary)


def test_truncated_text_files_are_reported(tmp_path):
    path = tmp_path / "v.txt"
    save_word2vec(path, WORDS, sample_vectors(), binary=False)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    with pytest.raises(ValueError, match="truncated: the header announces 5 vectors, the file "
                                         "holds 4"):
        load_word2vec(path)
    path.write_text("".join(lines[:-1]) + " ".join(lines[-1].split(" ")[:4]))
    with pytest.raises(ValueError, match="entry 5 .* has 3 values; expected 7"):
        load_word2vec(path)


@pytest.mark.parametrize("content, message", [
    (b"", "not a word2vec file"),
    (b"hello world\n", "not a word2vec file"),
    (b"{\"json\": 1}", "not a word2vec file"),
    (b"1 0\n", "dimension 0"),
    (b"1 2\na 1 2\nb 3 4\n", "announces 1 vectors, the file holds 2"),
    (b"2 2\na 1 2\na 3 4\n", "occurs twice"),
    (b"1 2\na 1 x\n", "not a number|values"),
    (b"1 2\na 1 2 3\n", "has 3 values; expected 2"),
    (b"100000000000 100\nthe 0.1 0.2\n", "promises 100,000,000,000 words of 100 dimensions"),
    (b"2 2\nhello 1 2\nworld nan 4\n", "entry 2 \\('world'\\) holds NaN or an infinity"),
    (b"2 2\nhello 1 2\nworld 1 -inf\n", "entry 2 \\('world'\\) holds NaN or an infinity"),
    (b"1 2\nhello " + np.array([1, np.inf], "<f4").tobytes() + b"\n", "holds NaN or an infinity"),
])
def test_foreign_or_inconsistent_files_are_value_errors(tmp_path, content, message):
    path = tmp_path / "v"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_word2vec(path)


def test_binary_with_extra_bytes_is_refused(tmp_path):
    path = tmp_path / "v.bin"
    save_word2vec(path, WORDS, sample_vectors(), binary=True)
    path.write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(ValueError, match="follow the 5 vectors"):
        load_word2vec(path, binary=True)


@pytest.mark.parametrize("words, message", [(["a b", "c"], "whitespace"), (["", "c"], "empty"),
                                            (["a\n", "c"], "whitespace")])
def test_words_the_format_cannot_hold_are_refused_and_nothing_is_written(tmp_path, words,
                                                                         message):
    with pytest.raises(ValueError, match=message):
        save_word2vec(tmp_path / "v", words, sample_vectors(rows=2), binary=True)
    assert os.listdir(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "v.bin"
    save_word2vec(path, WORDS, sample_vectors(), binary=True)
    before = path.read_bytes()

    class Exploding(np.ndarray):
        def tobytes(self, *args):
            raise OSError("disk full")
    vectors = sample_vectors(seed=1).view(Exploding)
    monkeypatch.setattr(np, "asarray", lambda a, dtype=None: a)
    with pytest.raises(OSError, match="disk full"):
        save_word2vec(path, WORDS, vectors, binary=True)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["v.bin"]


def test_load_of_an_empty_vocabulary_is_an_error(tmp_path):
    (tmp_path / "v").write_bytes(b"0 3\n")
    assert load_word2vec(tmp_path / "v")[1].shape == (0, 3)
    with pytest.raises(ValueError, match="holds no vectors"):
        Word2Vec.load(tmp_path / "v")
