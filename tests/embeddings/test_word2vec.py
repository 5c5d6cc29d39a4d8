"""Word2Vec: training recovers planted structure, is reproducible with one thread, and answers
queries; bad input is refused with a clear error."""
import numpy as np
import pytest

from llm.embeddings import UnknownWordError, Word2Vec

GROUPS, GROUP_SIZE = 6, 8


def planted_corpus(n_sentences=1500, length=10, seed=0):
    """Sentences drawn from one group of words each: words co-occur only within their group."""
    rng = np.random.default_rng(seed)
    groups = [[f"g{g}w{i}" for i in range(GROUP_SIZE)] for g in range(GROUPS)]
    return [list(rng.choice(groups[rng.integers(GROUPS)], size=length))
            for _ in range(n_sentences)], groups


def neighbours_in_group(model, groups, topn=GROUP_SIZE - 1):
    """Share of each word's topn nearest neighbours that belong to its own group."""
    hits = total = 0
    for group in groups:
        for word in group:
            hits += sum(other in group for other, _ in model.most_similar(word, topn))
            total += topn
    return hits / total


TRAIN = dict(dim=24, window=3, negative=5, sample=0.0, min_count=1, epochs=5, seed=3)


@pytest.mark.parametrize("skip_gram", [True, False], ids=["skip-gram", "cbow"])
def test_nearest_neighbours_recover_planted_groups(skip_gram, simd_level):
    sentences, groups = planted_corpus()
    model = Word2Vec.train(sentences, skip_gram=skip_gram, threads=1, **TRAIN)
    # Chance level is 7/47 = 0.15; the planted groups are recovered almost perfectly.
    assert neighbours_in_group(model, groups) > 0.95


def test_two_threads_recover_planted_groups_too():
    sentences, groups = planted_corpus()
    model = Word2Vec.train(sentences, threads=2, **TRAIN)
    assert neighbours_in_group(model, groups) > 0.95
    assert model.stats.threads == 2


def test_one_thread_is_bit_for_bit_reproducible_and_the_seed_matters():
    sentences, _ = planted_corpus(n_sentences=300)
    options = {**TRAIN, "sample": 1e-2}
    first = Word2Vec.train(sentences, threads=1, **options)
    second = Word2Vec.train(sentences, threads=1, **options)
    assert first.words == second.words
    assert np.array_equal(first.vectors, second.vectors)
    other = Word2Vec.train(sentences, threads=1, **{**options, "seed": 4})
    assert not np.array_equal(first.vectors, other.vectors)


def test_training_stats_count_effective_words():
    sentences, _ = planted_corpus(n_sentences=200)
    model = Word2Vec.train(sentences, threads=1, **TRAIN)
    assert model.stats.corpus_words == 2000
    assert model.stats.words_trained == 2000 * TRAIN["epochs"]    # sample=0 keeps every word
    assert model.stats.words_per_second > 0
    assert model.counts.sum() == 2000


def test_progress_bar_run_gives_the_same_vectors(capsys):
    sentences, _ = planted_corpus(n_sentences=200)
    quiet = Word2Vec.train(sentences, threads=1, **TRAIN)
    shown = Word2Vec.train(sentences, threads=1, progress=True, **TRAIN)
    assert np.array_equal(quiet.vectors, shown.vectors)
    assert "word2vec" in capsys.readouterr().err


@pytest.mark.parametrize("sentences, options, message", [
    ([], {}, "corpus is empty"),
    ([[], []], {}, "corpus is empty"),
    ([["a", "b"]], {"min_count": 2}, "no word occurs min_count=2 times"),
    ([["a"]], {"min_count": 1, "dim": 0}, "dim=0"),
    ([["a"]], {"min_count": 1, "seed": -1}, "seed=-1"),
    ([["a"]], {"min_count": 1, "window": 0}, "window=0"),
    ([["a"]], {"min_count": 1, "threads": 0}, "threads=0"),
    ([["a"]], {"min_count": 1, "alpha": -1.0}, "alpha=-1"),
    ([["a"]], {"min_count": 1, "sample": -0.5}, "sample=-0.5"),
])
def test_bad_training_input_is_a_clear_value_error(sentences, options, message):
    with pytest.raises(ValueError, match=message):
        Word2Vec.train(sentences, **options)


def hand_made():
    """Vectors of known geometry over the directions (royal, common, male, female): king =
    royal + male, queen = royal + female, man = common + male, woman = common + female, so
    king - man + woman = queen exactly; all scaled to length 2 (queries use unit vectors)."""
    words = ["king", "queen", "man", "woman", "apple"]
    vectors = np.array([[1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1], [-1, -1, 0, 0]],
                       np.float32)
    return Word2Vec(words, vectors * np.sqrt(2.0))


def test_similarity_is_the_cosine():
    model = hand_made()
    assert model.similarity("king", "queen") == pytest.approx(0.5)
    assert model.similarity("queen", "king") == pytest.approx(0.5)
    assert model.similarity("king", "woman") == pytest.approx(0.0)
    assert model.similarity("man", "apple") == pytest.approx(-0.5)
    assert model.similarity("king", "king") == pytest.approx(1.0)


def test_most_similar_is_sorted_excludes_the_word_and_caps_topn():
    model = hand_made()
    result = model.most_similar("woman", topn=10)
    assert [word for word, _ in result] == ["queen", "man", "king", "apple"]
    np.testing.assert_allclose([score for _, score in result], [0.5, 0.5, 0.0, -0.5], atol=1e-6)
    assert model.most_similar("woman", topn=1) == result[:1]
    with pytest.raises(ValueError, match="topn=0"):
        model.most_similar("king", topn=0)


def test_analogy_is_a_minus_b_plus_c_without_the_question_words():
    model = hand_made()
    (word, score), = model.analogy("king", "man", "woman")
    assert word == "queen" and score == pytest.approx(1.0)
    assert [w for w, _ in model.analogy("king", "man", "woman", topn=5)] == ["queen", "apple"]
    (word, _), = model.analogy("queen", "woman", "man")
    assert word == "king"


def test_unknown_words_raise_an_error_that_is_both_key_and_value_error():
    model = hand_made()
    assert "king" in model and "prince" not in model and len(model) == 5
    np.testing.assert_allclose(model["king"], [np.sqrt(2), 0, np.sqrt(2), 0])
    for query in (lambda: model["prince"], lambda: model.most_similar("prince"),
                  lambda: model.similarity("king", "prince"),
                  lambda: model.analogy("prince", "man", "woman")):
        with pytest.raises(UnknownWordError, match="'prince' is not in the vocabulary"):
            query()
    assert issubclass(UnknownWordError, KeyError) and issubclass(UnknownWordError, ValueError)


@pytest.mark.parametrize("words, vectors, message", [
    (["a", "b"], np.zeros((3, 2)), "one row per word"),
    ([], np.zeros((0, 2)), "at least one word"),
    (["a", "a"], np.zeros((2, 2)), "twice"),
])
def test_constructor_checks_its_arguments(words, vectors, message):
    with pytest.raises(ValueError, match=message):
        Word2Vec(words, vectors)
