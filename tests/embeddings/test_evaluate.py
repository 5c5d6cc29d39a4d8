"""Analogy and word-pair evaluations: exact answers on vectors of known geometry, the same
numbers as gensim's evaluators on trained vectors, and malformed files."""
import numpy as np
import pytest

from llm.embeddings import Word2Vec
from llm.embeddings.evaluate import (average_ranks, evaluate_analogies, evaluate_word_pairs,
                                     pearson)


def royal_model():
    """king - man + woman = queen and prince - boy + girl = princess, exactly; "Paris" and
    "paris" are two spellings (the first, more frequent, stands for both)."""
    #                  royal common male female young place
    rows = {"king":     [1, 0, 1, 0, 0, 0], "queen":    [1, 0, 0, 1, 0, 0],
            "man":      [0, 1, 1, 0, 0, 0], "woman":    [0, 1, 0, 1, 0, 0],
            "prince":   [1, 0, 1, 0, 1, 0], "princess": [1, 0, 0, 1, 1, 0],
            "boy":      [0, 1, 1, 0, 1, 0], "girl":     [0, 1, 0, 1, 1, 0],
            "Paris":    [0, 0, 0, 0, 0, 1], "paris":    [0, 0, 0.1, 0, 0, 1]}
    return Word2Vec(list(rows), np.array(list(rows.values()), np.float32))


ANALOGIES = """: family
king queen man woman
man woman king queen
prince princess boy girl
king queen boy unknownword
: other
MAN KING WOMAN QUEEN
king man queen paris
"""


def test_analogies_count_correct_skipped_and_sections(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(ANALOGIES)
    result = evaluate_analogies(royal_model(), path)
    # "king man queen paris": woman (= man - king + queen) is nearest, not paris: wrong.
    assert (result.correct, result.questions, result.skipped) == (4, 5, 1)
    assert result.sections == {"family": (3, 3), "other": (1, 2)}
    assert result.accuracy == pytest.approx(0.8)
    assert royal_model().evaluate_analogies(path).correct == 4


def test_case_sensitive_analogies_skip_other_spellings_and_restrict_vocab_limits(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(ANALOGIES)
    strict = evaluate_analogies(royal_model(), path, case_insensitive=False)
    assert (strict.correct, strict.questions, strict.skipped) == (3, 4, 2)
    small = evaluate_analogies(royal_model(), path, restrict_vocab=4)
    assert (small.correct, small.questions) == (3, 3)     # only king, queen, man, woman


def test_word_pairs_correlate_cosines_with_scores(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("# comment\nking\tqueen\t8\nking\tman\t7.5\nman\tparis\t0\n"
                    "KING\tprincess\t6\nking\tnowhere\t5\n")
    result = evaluate_word_pairs(royal_model(), path)
    assert (result.pairs, result.skipped) == (4, 1)
    # cosines 0.5, 0.5, ~0.07, ~0.41 against 8, 7.5, 0, 6: ranks (3.5, 3.5, 1, 2) vs (4, 3, 1, 2)
    assert result.spearman == pytest.approx(pearson(np.array([3.5, 3.5, 1, 2.0]),
                                                    np.array([4, 3, 1, 2.0])))
    assert royal_model().evaluate_word_pairs(path).spearman == result.spearman


def test_average_ranks_share_ties_and_match_scipy():
    assert average_ranks(np.array([10, 20, 10, 30, 20, 20])).tolist() == [1.5, 4, 1.5, 6, 4, 4]
    stats = pytest.importorskip("scipy.stats")
    values = np.random.default_rng(0).integers(0, 20, 200).astype(float)
    np.testing.assert_allclose(average_ranks(values), stats.rankdata(values))
    other = np.random.default_rng(1).standard_normal(200)
    assert pearson(average_ranks(values), average_ranks(other)) == pytest.approx(
        stats.spearmanr(values, other).statistic)


@pytest.mark.parametrize("content, message", [
    ("king queen man\n", "expected ': section' or four words"),
    (": s\nking queen man woman extra\n", "four words"),
])
def test_malformed_analogy_files(tmp_path, content, message):
    path = tmp_path / "q.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        evaluate_analogies(royal_model(), path)


@pytest.mark.parametrize("content, message", [
    ("king\tqueen\n", "expected 'word1"), ("king\tqueen\tten\n", "expected 'word1"),
    ("king\tqueen\t1\n", "only 1 pair"),
])
def test_malformed_or_too_small_word_pair_files(tmp_path, content, message):
    path = tmp_path / "p.tsv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        evaluate_word_pairs(royal_model(), path)


def test_same_numbers_as_gensim_on_trained_vectors(corpora):
    models = pytest.importorskip("gensim.models")
    datapath = pytest.importorskip("gensim.test.utils").datapath
    from llm.embeddings import WordSentences
    sentences = list(WordSentences(corpora / "gutenberg" / "austen-emma.txt"))
    gensim_model = models.Word2Vec(sentences, vector_size=32, min_count=5, epochs=1, workers=1,
                                   seed=1)
    keyed = gensim_model.wv
    ours = Word2Vec(keyed.index_to_key, keyed.vectors)
    score, sections = keyed.evaluate_word_analogies(datapath("questions-words.txt"))
    result = ours.evaluate_analogies(datapath("questions-words.txt"))
    total = sections[-1]
    assert (result.correct, result.questions) == (len(total["correct"]),
                                                  len(total["correct"]) + len(total["incorrect"]))
    assert result.accuracy == pytest.approx(score)
    pearson_r, spearman, oov = keyed.evaluate_word_pairs(datapath("wordsim353.tsv"))
    pairs = ours.evaluate_word_pairs(datapath("wordsim353.tsv"))
    assert pairs.spearman == pytest.approx(spearman.statistic, abs=1e-6)
    assert pairs.pearson == pytest.approx(pearson_r.statistic, abs=1e-6)
    assert pairs.skipped / (pairs.pairs + pairs.skipped) == pytest.approx(oov / 100)
