"""The word2vec kernels: alias table against exact probabilities, the negative-sampling step
against finite differences of its loss, and the training loop's determinism, counters and
argument checks."""
import numpy as np
import pytest

from llm._ext import word2vec as kernels
# The sigmoid is word2vec.c's 1000-entry table over [-6, 6], so a step's g is exact to
# 0.012 (one bin) * 0.25 (largest slope of σ) = 3e-3 times alpha.
SIGMOID_TABLE_ERROR = 3e-3


def alias_probabilities(accept, alias):
    """The distribution an alias table draws from."""
    V = accept.size
    p = accept.astype(np.float64) / V
    np.add.at(p, alias, (1.0 - accept.astype(np.float64)) / V)
    return p


@pytest.mark.parametrize("weights", [
    [1.0], [3.0, 1.0], [0.0, 5.0, 0.0], [1.0] * 7, np.arange(1, 500) ** 0.75,
    np.random.default_rng(0).pareto(1.0, 3000),
])
def test_alias_table_draws_the_weights_exactly(weights):
    weights = np.asarray(weights, dtype=np.float64)
    accept, alias = kernels.alias_table(weights)
    assert np.all((accept >= 0) & (accept <= 1)) and np.all((alias >= 0) & (alias < weights.size))
    np.testing.assert_allclose(alias_probabilities(accept, alias), weights / weights.sum(),
                               rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("weights", [[], [0.0, 0.0], [1.0, -1.0], [1.0, np.nan], [np.inf]])
def test_alias_table_rejects_bad_weights(weights):
    with pytest.raises(ValueError, match="weights"):
        kernels.alias_table(np.asarray(weights, dtype=np.float64))


def negative_sampling_loss(hidden, output_vectors, targets):
    """-log σ(h·out[t0]) - Σ log σ(-h·out[tk]), in float64."""
    scores = output_vectors[targets] @ hidden
    signs = np.where(np.arange(len(targets)) == 0, 1.0, -1.0)
    return float(np.sum(np.logaddexp(0.0, -signs * scores)))


@pytest.mark.parametrize("dim", [1, 7, 16, 100, 333])
def test_negative_sampling_step_is_minus_alpha_times_the_gradient(simd_level, dim,
                                                                  numeric_gradient):
    rng = np.random.default_rng(dim)
    V, targets = 9, np.array([4, 0, 7, 2, 8], dtype=np.int32)   # positive first, distinct
    hidden = (rng.standard_normal(dim) / np.sqrt(dim)).astype(np.float32)
    output_vectors = (rng.standard_normal((V, dim)) / np.sqrt(dim)).astype(np.float32)
    before = output_vectors.copy()
    alpha = 0.1
    hidden_step = np.zeros(dim, dtype=np.float32)
    kernels.negative_sampling_step(hidden_step, output_vectors, hidden, targets, alpha)

    grad_hidden = numeric_gradient(lambda h: negative_sampling_loss(h, before, targets), hidden)
    grad_output = numeric_gradient(lambda o: negative_sampling_loss(hidden, o, targets), before)
    # Each target's error differs from the exact one by at most SIGMOID_TABLE_ERROR, and enters
    # the step multiplied by a vector of the other side.
    bound_hidden = SIGMOID_TABLE_ERROR * np.abs(before[targets]).sum(axis=0) + 1e-5
    np.testing.assert_array_less(np.abs(hidden_step / alpha + grad_hidden), bound_hidden)
    bound_output = np.broadcast_to(SIGMOID_TABLE_ERROR * np.abs(hidden) + 1e-5, before.shape)
    change = (output_vectors.astype(np.float64) - before) / alpha
    np.testing.assert_array_less(np.abs(change + grad_output), bound_output)
    untouched = np.setdiff1d(np.arange(V), targets)
    assert np.array_equal(output_vectors[untouched], before[untouched])


def test_negative_sampling_step_accumulates_and_skips_learnt_targets():
    # h·out[positive] = 8 > 6 and h·out[noise] = -8 < -6: both already learnt, nothing moves.
    hidden = np.array([2.0, 0.0], dtype=np.float32)
    output_vectors = np.array([[4.0, 1.0], [-4.0, 3.0]], dtype=np.float32)
    hidden_step = np.array([0.5, -0.5], dtype=np.float32)
    kernels.negative_sampling_step(hidden_step, output_vectors, hidden,
                                   np.array([0, 1], dtype=np.int32), 0.1)
    assert hidden_step.tolist() == [0.5, -0.5]
    assert output_vectors.tolist() == [[4.0, 1.0], [-4.0, 3.0]]


def test_negative_sampling_step_rejects_bad_targets():
    vectors = np.zeros((3, 4), dtype=np.float32)
    step, hidden = np.zeros(4, dtype=np.float32), np.zeros(4, dtype=np.float32)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        kernels.negative_sampling_step(step, vectors, hidden, np.array([0, 3], np.int32), 0.1)
    with pytest.raises(ValueError, match="targets has 0 ids"):
        kernels.negative_sampling_step(step, vectors, hidden, np.array([], np.int32), 0.1)
    with pytest.raises(ValueError, match="hidden_step has shape"):
        kernels.negative_sampling_step(np.zeros(3, np.float32), vectors, hidden,
                                       np.array([0], np.int32), 0.1)


def random_problem(V=50, N=20_000, sentence_length=25, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, V + 1)                               # Zipf-like counts
    corpus = rng.choice(V, size=N, p=weights / weights.sum()).astype(np.int32)
    starts = np.arange(0, N + 1, sentence_length, dtype=np.int64)
    starts[-1] = N
    accept, alias = kernels.alias_table(weights ** 0.75)
    return {
        "input_vectors": ((rng.random((V, dim)) - 0.5) / dim).astype(np.float32),
        "output_vectors": np.zeros((V, dim), dtype=np.float32),
        "progress": np.zeros(2, dtype=np.int64),
        "corpus": corpus, "sentence_starts": starts,
        "keep_probability": np.minimum(1.0, 3.0 / np.arange(1, V + 1)).astype(np.float32),
        "noise_accept": accept, "noise_alias": alias,
    }


TRAIN_OPTIONS = dict(window=4, negative=5, skip_gram=True, epochs=2, alpha=0.025, min_alpha=1e-4,
                     seed=7, n_threads=1)


def train(problem, **changes):
    kernels.train(**problem, **{**TRAIN_OPTIONS, **changes})
    return problem


@pytest.mark.parametrize("skip_gram", [True, False])
def test_one_thread_is_bit_for_bit_reproducible(skip_gram, simd_level):
    first = train(random_problem(), skip_gram=skip_gram)
    second = train(random_problem(), skip_gram=skip_gram)
    assert np.array_equal(first["input_vectors"], second["input_vectors"])
    assert np.array_equal(first["output_vectors"], second["output_vectors"])
    assert not np.array_equal(first["input_vectors"], random_problem()["input_vectors"])
    other_seed = train(random_problem(), skip_gram=skip_gram, seed=8)
    assert not np.array_equal(first["input_vectors"], other_seed["input_vectors"])


def test_progress_counts_words_and_subsampling_keeps_the_expected_share():
    problem = random_problem()
    epochs = 3
    train(problem, epochs=epochs, n_threads=2)
    done, trained = problem["progress"]
    assert done == problem["corpus"].size * epochs
    expected = epochs * problem["keep_probability"][problem["corpus"]].astype(np.float64).sum()
    spread = np.sqrt(expected)   # an upper bound on the binomial standard deviation
    assert abs(trained - expected) < 5 * spread


def test_without_subsampling_every_word_is_trained():
    problem = random_problem()
    problem["keep_probability"][:] = 1.0
    train(problem)
    assert problem["progress"].tolist() == [problem["corpus"].size * 2] * 2


def test_two_threads_train_and_stay_finite():
    problem = train(random_problem(), n_threads=2)
    assert np.all(np.isfinite(problem["input_vectors"]))
    assert np.abs(problem["output_vectors"]).max() > 0


def test_empty_corpus_trains_nothing():
    problem = random_problem()
    problem["corpus"] = np.zeros(0, dtype=np.int32)
    problem["sentence_starts"] = np.zeros(1, dtype=np.int64)
    before = problem["input_vectors"].copy()
    train(problem)
    assert np.array_equal(problem["input_vectors"], before)
    assert problem["progress"].tolist() == [0, 0]


@pytest.mark.parametrize("change, message", [
    (lambda p: p["corpus"].__setitem__(5, 50), r"outside \[0, 50\)"),
    (lambda p: p["corpus"].__setitem__(5, -1), r"outside \[0, 50\)"),
    (lambda p: p["noise_alias"].__setitem__(0, 99), r"outside \[0, 50\)"),
    (lambda p: p["sentence_starts"].__setitem__(-1, 5), "sentence_starts must rise"),
    (lambda p: p["sentence_starts"].__setitem__(3, 1), "sentence_starts must rise"),
    (lambda p: p["keep_probability"].__setitem__(2, 1.5), r"lie in \[0, 1\]"),
    (lambda p: p["noise_accept"].__setitem__(2, np.nan), r"lie in \[0, 1\]"),
    (lambda p: p.__setitem__("corpus", p["corpus"].astype(np.int64)), "corpus must be int32"),
    (lambda p: p.__setitem__("output_vectors", p["input_vectors"]), "overlaps"),
    (lambda p: p.__setitem__("keep_probability", p["keep_probability"][:10]),
     "keep_probability has shape"),
])
def test_bad_arguments_are_value_errors_and_train_nothing(change, message):
    problem = random_problem()
    change(problem)
    before = problem["input_vectors"].copy()
    with pytest.raises(ValueError, match=message):
        train(problem)
    assert np.array_equal(problem["input_vectors"], before)


@pytest.mark.parametrize("option, value", [("window", 0), ("negative", 0), ("epochs", 0),
                                           ("n_threads", 0), ("alpha", 0.0), ("min_alpha", 1.0),
                                           ("seed", -1)])
def test_bad_options_are_value_errors(option, value):
    with pytest.raises(ValueError, match=option):
        train(random_problem(), **{option: value})
