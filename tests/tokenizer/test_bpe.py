"""llm/tokenizer/bpe.py and the C trainer behind it (csrc/bpe_train.c).

Reference: the textbook BPE loop (recount every pair after every merge) with our documented
tie-break — highest count, then the smallest (left, right) id pair — and left-to-right,
non-overlapping replacement inside a word.
"""
import logging
from collections import Counter

import numpy as np
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from llm._ext.bpe_train import CHUNK_MARGIN, Trainer, WordCounter
from llm._ext.lookup import Vocabulary
from llm.tokenizer import bpe
from llm.tokenizer.normalize import Normalizer
from llm.tokenizer.pretokenize import GPT2_PATTERN


def reference_merges(words: dict[tuple[int, ...], int], n_merges: int, first_id: int,
                     min_frequency: int = 1) -> list[tuple[tuple[int, int], int]]:
    """((left, right), count) of each merge, recounting everything each time."""
    merges = []
    for new_id in range(first_id, first_id + n_merges):
        pairs = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        if pairs[best] < min_frequency:
            break
        merges.append((best, pairs[best]))
        rewritten = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if word[i:i + 2] == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            rewritten[tuple(out)] += count
        words = rewritten
    return merges


def counted(counter: WordCounter) -> Counter:
    data, offsets, counts = counter.export()
    return Counter({data[offsets[i]:offsets[i + 1]]: int(counts[i]) for i in range(len(counts))})


def train_bytes(text: bytes, n_merges: int, min_frequency: int = 1):
    counter = WordCounter()
    counter.add(text, "gpt2")
    merges, counts = Trainer(counter).merge(n_merges, min_frequency)
    return [((int(a), int(b)), int(c)) for (a, b), c in zip(merges, counts)]


def test_wikipedia_example_aaabdaaabac():
    # aa -> Z, then (a, b) beats (Z, a) on the tie (97 < 256), then ZY -> X: Wikipedia's order.
    a, b, c, d = b"abcd"
    merges = train_bytes(b"aaabdaaabac", 3)
    assert merges == [((a, a), 4), ((a, b), 2), ((256, 257), 2)]


def test_hand_computed_merges_on_a_tiny_corpus():
    # Pieces: "low" x1, " low" x2, " lower" x1, " newest" x2. Pair counts: (l,o) 4, (o,w) 4,
    # ( ,l) 3, (w,e) 3, then 2 each for (e,w) (n,e) ( ,n) (e,s) (s,t), and (e,r) 1.
    #   1. (l,o) and (o,w) tie at 4; (108, 111) < (111, 119): "lo" = 256
    #   2. (lo, w) 4: "low" = 257
    #   3. ( , low) 3 (" lower" no longer holds (w,e), which drops to 2): " low" = 258
    #   4. six pairs tie at 2; the smallest is ( , n) = (32, 110): " n" = 259
    l, o, w, n, space = b"lown "
    assert train_bytes(b"low low low lower newest newest", 4) == [
        ((l, o), 4), ((256, w), 4), ((space, 257), 3), ((space, n), 2)]


def test_overlapping_pairs_merge_left_to_right():
    a = ord("a")
    # "aaaaa": 4 overlapping (a, a) pairs, merged as aa aa a; then (aa, aa) and (aa, a) tie
    # at 1 and (256, 97) is the smaller pair.
    assert train_bytes(b"aaaaa", 2) == [((a, a), 4), ((256, a), 1)]


words_strategy = st.dictionaries(
    st.lists(st.integers(0, 5), min_size=1, max_size=12).map(tuple),
    st.integers(1, 50), min_size=1, max_size=30)


@settings(max_examples=150)
@given(words=words_strategy, min_frequency=st.integers(1, 3))
def test_trainer_matches_textbook_bpe(words, min_frequency):
    """Symbol sequences over a tiny alphabet force many ties and overlaps."""
    counter = WordCounter()
    for word, count in words.items():
        for _ in range(count):
            counter.add(bytes(ord("a") + s for s in word), "gpt2")
    expected = reference_merges({tuple(ord("a") + s for s in w): c for w, c in words.items()},
                                60, 256, min_frequency)
    merges, counts = Trainer(counter).merge(60, min_frequency)
    assert [((int(a), int(b)), int(c)) for (a, b), c in zip(merges, counts)] == expected


def test_trainer_matches_textbook_bpe_on_shakespeare(corpora):
    text = (corpora / "tinyshakespeare.txt").read_bytes()[:30_000]
    words = Counter(tuple(piece.encode()) for piece in regex.findall(GPT2_PATTERN, text.decode()))
    assert train_bytes(text, 100) == reference_merges(words, 100, 256)


def test_merges_in_several_calls_equal_one_call():
    counter = WordCounter()
    counter.add(b"the cat sat on the mat with the hat; that is that " * 5, "gpt2")
    whole = Trainer(counter).merge(40, 1)
    trainer = Trainer(counter)
    parts = [trainer.merge(7, 1) for _ in range(6)]
    np.testing.assert_array_equal(np.concatenate([m for m, _ in parts]), whole[0])


def test_counter_matches_regex_split_with_any_chunking():
    text = ("Hello  world's end\n\n  x\t 123 ünïcödé 日本語 it'll   \n" * 40).encode()
    expected = Counter(piece.encode() for piece in regex.findall(GPT2_PATTERN, text.decode()))
    for chunk_size in (1, 3, CHUNK_MARGIN + 1, 17, 1000):
        counter = WordCounter()
        bpe.count_bytes(counter, (text[i:i + chunk_size] for i in range(0, len(text), chunk_size)),
                        progress=DummyProgress())
        assert counted(counter) == expected, chunk_size


class DummyProgress:
    def update(self, n):
        pass


def test_streamed_files_train_like_one_string(tmp_path, monkeypatch):
    text = "It is a truth universally acknowledged, that a single man in possession\n" * 50
    (tmp_path / "book.txt").write_text(text)
    monkeypatch.setattr(bpe, "CHUNK_BYTES", 37)
    for mode in ("byte", "naive"):
        normalizer = Normalizer(True, True) if mode == "naive" else None
        from_file = counted(bpe.count_corpus(tmp_path / "book.txt", mode, normalizer))
        from_string = counted(bpe.count_corpus(text, mode, normalizer))
        assert from_file == from_string


def test_a_str_is_text_even_when_a_file_has_that_name(tmp_path, caplog, monkeypatch):
    (tmp_path / "corpus.txt").write_text("file contents")
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert list(bpe.documents("corpus.txt")) == ["corpus.txt"]
    assert "wrap paths in pathlib.Path" in caplog.text


def test_documents_accept_text_paths_and_directories(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("beta")
    assert list(bpe.documents("just text")) == ["just text"]
    assert list(bpe.documents([tmp_path, "text"])) == [tmp_path / "a.txt", tmp_path / "sub" / "b.txt",
                                                       "text"]
    with pytest.raises(ValueError, match="bytes"):
        list(bpe.documents(b"raw"))
    with pytest.raises(ValueError, match="int"):
        list(bpe.documents([1]))


def test_training_is_deterministic_and_independent_of_document_order():
    documents = [f"document {i}: the quick brown fox jumps over the lazy dog {i * 7}\n" for i in range(60)]
    runs = [bpe.learn_merges(bpe.count_corpus(docs, "byte", None), 200, 2, None).merges
            for docs in (documents, documents, documents[::-1])]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_min_frequency_stops_training_early(caplog):
    counter = bpe.count_corpus("abcd abcd xyz", "byte", None)
    with caplog.at_level(logging.WARNING):
        trained = bpe.learn_merges(counter, 100, 2, None)
    # "abcd" and " abcd" hold (a,b) (b,c) (c,d) twice: "ab", then (ab,c) and (c,d) tie and
    # (99, 100) < (256, 99): "cd", then "abcd"; every other pair occurs once.
    assert trained.merges.tolist() == [[97, 98], [99, 100], [256, 257]]
    assert "stopped after 3 of 100 merges" in caplog.text


def test_empty_corpus_is_refused(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    for data in ("", [], tmp_path / "empty.txt", tmp_path):
        with pytest.raises(ValueError, match="empty corpus"):
            bpe.count_corpus(data, "byte", None)
    with pytest.raises(ValueError, match="empty corpus.*ASCII folding"):
        bpe.count_corpus("日本語", "naive", Normalizer(ascii_fold=True))


def test_lone_surrogate_is_refused_with_its_position():
    for mode, normalizer in (("byte", None), ("naive", Normalizer(True, True))):
        with pytest.raises(ValueError, match="U\\+D800 at index 3"):
            bpe.count_corpus("abc\ud800def", mode, normalizer)


def test_invalid_utf8_byte_mode_keeps_bytes_naive_mode_replaces_and_warns(tmp_path, caplog):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café crème\n".encode("latin-1") * 3)
    byte_counter = bpe.count_corpus(path, "byte", None)
    byte_words = counted(byte_counter)
    # An invalid byte is a character of class "other": it splits the words around it.
    assert byte_words[b"\xe9"] == 3 and byte_words[b"\xe8"] == 3 and byte_words[b"caf"] == 3
    assert byte_counter.text_bytes == path.stat().st_size
    with caplog.at_level(logging.WARNING):
        naive_words = counted(bpe.count_corpus(path, "naive", None))
    assert "latin1.txt is not valid UTF-8; 6 invalid sequence(s) replaced" in caplog.text
    assert naive_words["\ufffd".encode()] == 6 and naive_words[b"caf"] == 3


def test_naive_alphabet_keeps_characters_seen_min_frequency_times():
    counter = bpe.count_corpus("aab, ba! q", "naive", None)
    assert bpe.naive_alphabet(counter, 1) == (" ", "!", ",", "a", "b", "q")
    assert bpe.naive_alphabet(counter, 2) == (" ", "a", "b")
    with pytest.raises(ValueError, match="empty alphabet"):
        bpe.naive_alphabet(counter, 10)


def test_naive_unknown_characters_split_words():
    counter = bpe.count_corpus("abqab abqab", "naive", None)
    # alphabet without q: "abqab" trains as "ab" + "ab", so (a, b) occurs 4 times.
    alphabet = (" ", "a", "b")
    trained = bpe.learn_merges(counter, 5, 1, alphabet)
    assert trained.merges.tolist() == [[1, 2]] and trained.counts.tolist() == [4]


def test_trainer_rejects_an_empty_alphabet():
    with pytest.raises(ValueError, match="at least one character"):
        Trainer(WordCounter(), Vocabulary.of([]))


def test_chunk_margin_covers_gpt2_lookahead():
    """A whitespace run decides its end two characters later: "\\u3000\\u3000x" has pieces
    "\\u3000", "\\u3000x"; the margin must hold both characters after the first piece."""
    text = "a\u3000\u3000x".encode()
    expected = Counter(p.encode() for p in regex.findall(GPT2_PATTERN, text.decode()))
    for cut in range(1, len(text)):
        counter = WordCounter()
        consumed = counter.add(text[:cut], "gpt2", final=False)
        counter.add(text[consumed:], "gpt2", final=True)
        assert counted(counter) == expected, cut


def test_words_stay_in_first_seen_order():
    counter = WordCounter()
    counter.add(b"b a b c", "gpt2")
    data, offsets, counts = counter.export()
    assert [data[offsets[i]:offsets[i + 1]] for i in range(len(counts))] == [b"b", b" a", b" b", b" c"]
    assert counter.total == 4 and counter.size == 4 and counter.text_bytes == 7
