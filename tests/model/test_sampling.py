"""llm/model/sampling.py: SamplingConfig's checks; the Sampler's support under top-k and top-p,
its frequencies against the softmax, temperature, the partial sort of the nucleus, and rows of
different samplers drawn together as each alone."""
import numpy as np
import pytest

from llm.model.sampling import Sampler, SamplingConfig, draw_rows


def test_sampler_top_k_and_top_p_restrict_the_support():
    probabilities = np.array([0.5, 0.3, 0.1, 0.06, 0.04])
    logits = np.tile(np.log(probabilities), (4000, 1)).astype(np.float32)
    for kwargs, support in (({"top_k": 2}, {0, 1}), ({"top_p": 0.8}, {0, 1}),
                            ({"top_p": 0.81}, {0, 1, 2}), ({"top_k": 4, "top_p": 0.95},
                                                           {0, 1, 2, 3}),
                            ({"top_p": 0.3}, {0}), ({}, {0, 1, 2, 3, 4})):
        draws = Sampler(SamplingConfig(seed=0, **kwargs))(logits)
        assert set(draws.tolist()) == support, kwargs
    counts = np.bincount(Sampler(SamplingConfig(seed=1))(logits), minlength=5) / len(logits)
    np.testing.assert_allclose(counts, probabilities, atol=0.025)     # > 4 standard deviations
    assert Sampler(SamplingConfig(temperature=0))(logits[:2]).tolist() == [0, 0]
    sharp = np.bincount(Sampler(SamplingConfig(temperature=0.25, seed=2))(logits),
                        minlength=5) / len(logits)
    np.testing.assert_allclose(sharp, probabilities ** 4 / (probabilities ** 4).sum(), atol=0.025)


def test_nucleus_equals_a_full_sort_of_the_vocabulary():
    # _nucleus sorts only the likeliest few: the kept tokens must be those of a full stable sort.
    rng = np.random.default_rng(3)
    for weights in (np.exp(rng.standard_normal(5000) * 4),    # peaked: the 64 likeliest decide
                    np.exp(rng.standard_normal(5000) * 0.3),  # flat: grows to every token
                    np.repeat([4.0, 2.0, 1.0], [10, 200, 3000])[rng.permutation(3210)]):  # ties
        ranking = np.argsort(-weights, kind="stable")
        for top_p in (0.02, 0.05, 0.3, 0.9):   # 0.02: the cut inside the ties at 2.0
            order, cumulative = Sampler(SamplingConfig(top_p=top_p))._nucleus(weights)
            mass_before = np.cumsum(weights[ranking]) - weights[ranking]
            kept = np.count_nonzero(mass_before < top_p * weights.sum())
            np.testing.assert_array_equal(order, ranking[:kept])
            np.testing.assert_allclose(cumulative, np.cumsum(weights[ranking[:kept]]), rtol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": -0.5}, "temperature"), ({"temperature": float("nan")}, "temperature"),
    ({"temperature": float("inf")}, "temperature"), ({"temperature": "1"}, "temperature"),
    ({"top_k": 0}, "top_k"), ({"top_k": 2.5}, "top_k"), ({"top_k": True}, "top_k"),
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"top_p": "0.9"}, "top_p"),
])
def test_bad_settings_are_refused_when_the_config_is_made(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamplingConfig(**kwargs)


def test_a_sampler_takes_a_config_only():
    with pytest.raises(ValueError, match="SamplingConfig"):
        Sampler(0.5)
    assert Sampler(SamplingConfig(top_p=1.0)).top_p is None      # 1: no cut at all


@pytest.mark.parametrize("temperature", [0, 1.0])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_logits_that_are_not_finite_draw_no_token(temperature, bad):
    logits = np.zeros((3, 5), np.float32)
    logits[1, 2] = bad
    with pytest.raises(ValueError, match="logits of row 1 hold NaN or infinity"):
        Sampler(SamplingConfig(temperature=temperature, seed=0))(logits)
    logits[1, 2] = -np.inf                      # a token ruled out: the others still draw
    assert Sampler(SamplingConfig(seed=0))(logits)[1] != 2


def test_rows_drawn_together_are_the_tokens_each_sampler_draws_alone():
    # draw_rows does the plain rows' arithmetic on the whole block; Sampler._draw, one row at a
    # time with searchsorted, is the reference: the tokens must be identical, draw after draw.
    configs = [SamplingConfig(0.8, seed=1), SamplingConfig(0), SamplingConfig(1.3, seed=2),
               SamplingConfig(0.7, top_k=5, seed=3), SamplingConfig(1.0, top_p=0.9, seed=4),
               SamplingConfig(0.05, seed=5), SamplingConfig(2.0, seed=6)]
    together = [Sampler(config) for config in configs]
    alone = [Sampler(config) for config in configs]
    rng = np.random.default_rng(7)
    for step in range(200):
        logits = (rng.standard_normal((len(configs), 300)) * (1 + step % 5)).astype(np.float32)
        logits[:, rng.integers(300, size=40)] = -np.inf        # ruled-out tokens
        expected = [int(logits[row].argmax()) if sampler.temperature == 0
                    else sampler._draw(logits[row]) for row, sampler in enumerate(alone)]
        assert draw_rows(together, logits).tolist() == expected, step
