"""The word2vec vocabulary: order, min_count, encoding, subsampling and noise distributions."""
import numpy as np
import pytest

from llm.embeddings.vocab import Vocabulary

SENTENCES = [["b", "a", "c", "a"], ["d"], ["c", "a", "b", "e"], ["e", "d", "x"]]


def test_vocabulary_orders_by_count_then_first_occurrence_and_applies_min_count():
    vocab, _, _ = Vocabulary.encode_corpus(SENTENCES, min_count=2)
    assert vocab.words == ["a", "b", "c", "d", "e"]       # a:3; b, c, d, e: 2 in order seen
    assert vocab.counts.tolist() == [3, 2, 2, 2, 2]
    assert Vocabulary.encode_corpus(SENTENCES, min_count=3)[0].words == ["a"]


@pytest.mark.parametrize("sentences, min_count, message", [
    ([], 1, "corpus is empty"),
    ([[], []], 1, "corpus is empty"),
    (SENTENCES, 4, "no word occurs min_count=4 times .* 'a', occurs 3"),
    (SENTENCES, 0, "min_count=0"),
])
def test_empty_or_too_rare_corpora_are_refused(sentences, min_count, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary.encode_corpus(sentences, min_count=min_count)


def test_corpus_drops_rare_words_and_emptied_sentences_in_one_pass():
    sentences = iter(SENTENCES + [["q", "y"], [], ["a"]])     # a generator is read once
    vocab, corpus, starts = Vocabulary.encode_corpus(sentences, min_count=2)
    assert corpus.dtype == np.int32 and starts.dtype == np.int64
    assert corpus.tolist() == [1, 0, 2, 0, 3, 2, 0, 1, 4, 4, 3, 0]
    assert starts.tolist() == [0, 4, 5, 9, 11, 12]
    words = np.array(vocab.words)[corpus]
    expected = [w for sentence in SENTENCES + [["a"]] for w in sentence if w in vocab.words]
    assert words.tolist() == expected


def test_keep_probabilities_follow_word2vec_formula():
    vocab = Vocabulary(["the", "of", "whale"], np.array([9000, 900, 100]))
    threshold = 1e-2 * 10_000   # 100: words rarer than about 262 are always kept
    expected = [(np.sqrt(c / threshold) + 1) * threshold / c for c in (9000, 900, 100)]
    keep = vocab.keep_probabilities(1e-2)
    assert keep.dtype == np.float32
    np.testing.assert_allclose(keep, np.minimum(expected, 1.0), rtol=1e-6)
    assert keep[2] == 1.0 and keep[0] < keep[1] < 1.0
    assert vocab.keep_probabilities(0.0).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="sample=-1"):
        vocab.keep_probabilities(-1)


def test_noise_weights_are_counts_to_the_three_quarters():
    vocab = Vocabulary(["a", "b"], np.array([16, 1]))
    np.testing.assert_allclose(vocab.noise_weights(), [8.0, 1.0])


def test_vocabulary_rejects_duplicates_and_mismatched_counts():
    with pytest.raises(ValueError, match="twice"):
        Vocabulary(["a", "a"], np.array([1, 1]))
    with pytest.raises(ValueError, match="one count per word"):
        Vocabulary(["a", "b"], np.array([1]))
