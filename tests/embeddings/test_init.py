"""A token embedding table initialised from word2vec vectors."""
import numpy as np
import pytest

from llm.embeddings import Word2Vec
from llm.embeddings.init import init_embedding_table


def vectors():
    words = ["the", "cat", "sat"]
    return Word2Vec(words, np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))


def test_known_tokens_get_their_vectors_rescaled_and_the_rest_random():
    model = vectors()
    tokens = ["<pad>", "cat", "the", "dog", "sat"]
    table, n_missing = init_embedding_table(tokens, model, 4, np.random.default_rng(1), std=0.02)
    assert table.shape == (5, 4) and table.dtype == np.float32 and n_missing == 2
    known = table[[2, 1, 4]]
    scale = 0.02 / model.vectors.std()
    np.testing.assert_allclose(known, model.vectors * scale, rtol=1e-6)
    assert known.std() == pytest.approx(0.02, rel=1e-5)
    for i, j in [(0, 1), (0, 2), (1, 2)]:       # cosine similarities are kept
        cosine = known[i] @ known[j] / np.linalg.norm(known[i]) / np.linalg.norm(known[j])
        assert cosine == pytest.approx(model.similarity(model.words[i], model.words[j]), abs=1e-6)
    missing = table[[0, 3]]
    assert 0 < np.abs(missing).max() < 0.02 * 6


def test_without_rescaling_rows_are_the_vectors_and_out_is_filled_in_place():
    model = vectors()
    out = np.zeros((2, 4), dtype=np.float32)
    table, n_missing = init_embedding_table(["sat", "cat"], model, 4, np.random.default_rng(1),
                                            rescale=False, out=out)
    assert table is out and n_missing == 0
    np.testing.assert_array_equal(out, model.vectors[[2, 1]])


def test_same_rng_seed_same_table():
    first, _ = init_embedding_table(["x", "cat"], vectors(), 4, np.random.default_rng(5))
    second, _ = init_embedding_table(["x", "cat"], vectors(), 4, np.random.default_rng(5))
    assert np.array_equal(first, second)


def test_dimension_mismatch_and_bad_out_are_value_errors():
    with pytest.raises(ValueError, match="dimension 4 but the model's d_model is 8; train "
                                         "word2vec with --dim 8"):
        init_embedding_table(["cat"], vectors(), 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="out has shape"):
        init_embedding_table(["cat"], vectors(), 4, np.random.default_rng(0),
                             out=np.zeros((2, 4), np.float32))
