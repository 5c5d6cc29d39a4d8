"""llm/model/generation.py: KV-cached generation against a no-cache reference (across the
sliding window too), batched prompts, seeds, stop tokens, streaming, reused caches."""
import itertools

import numpy as np
import pytest

from llm.model import GPT, GPTConfig, generation
from llm.model.generation import generate, generate_stream
from llm.model.sampling import Sampler, SamplingConfig

from ..generate.conftest import one_thread  # noqa: F401  (autouse: one thread)

GREEDY = SamplingConfig(temperature=0)
V, BLOCK = 31, 8


@pytest.fixture(scope="module")
def model() -> GPT:
    """Random weights large enough that greedy tokens depend on the whole context."""
    model = GPT(GPTConfig(vocab_size=V, block_size=BLOCK, n_layer=2, n_head=2, d_model=16,
                          seed=5))
    model.params.flat += np.random.default_rng(5).normal(0, 0.3, model.params.size).astype(
        np.float32)
    return model


def reference_logits(model, prompt, new_tokens):
    """Logits before each of new_tokens, by the full forward of the window the module
    docstring defines (the last block_size prompt tokens; on overflow keep block_size // 2)."""
    history = list(prompt)
    start = max(0, len(history) - BLOCK)
    logits = []
    for token in new_tokens:
        logits.append(model.forward(np.array([history[start:]]))[0, -1])
        history.append(token)
        if len(history) - start > BLOCK:
            start = len(history) - BLOCK // 2
    return np.array(logits)


def greedy_reference(model, prompt, n):
    tokens = []
    for _ in range(n):
        tokens.append(int(reference_logits(model, prompt, tokens + [0])[-1].argmax()))
    return tokens


@pytest.fixture
def recorded_logits(monkeypatch):
    """The logits each Sampler call receives, row by row."""
    seen = []
    draw = Sampler.__call__

    def recording(self, logits):
        seen.append(logits.copy())
        return draw(self, logits)

    monkeypatch.setattr(Sampler, "__call__", recording)
    return seen


@pytest.mark.parametrize("prompt_length", [1, 5, BLOCK, 3 * BLOCK])
def test_cached_logits_equal_the_no_cache_reference_across_slides(model, recorded_logits,
                                                                  prompt_length):
    prompt = np.random.default_rng(prompt_length).integers(0, V, prompt_length).tolist()
    tokens = model.generate(prompt, 3 * BLOCK, SamplingConfig(seed=1))   # slides 5-6 times
    assert len(tokens) == 3 * BLOCK
    np.testing.assert_allclose(np.concatenate(recorded_logits),
                               reference_logits(model, prompt, tokens), rtol=0, atol=1e-5)


def test_greedy_equals_the_reference_and_top_k_1(model):
    expected = greedy_reference(model, [3, 1, 4], 2 * BLOCK)
    assert model.generate([3, 1, 4], 2 * BLOCK, GREEDY) == expected
    assert model.generate([3, 1, 4], 2 * BLOCK, SamplingConfig(top_k=1, seed=8)) == expected


def test_each_row_of_a_batch_generates_what_it_would_alone(model):
    prompts = [[7], [1, 2, 3], [9, 9, 2, 6, 5, 3]]          # left-padded to 6
    new = BLOCK - 6                                           # up to the first slide
    rows = model.generate(prompts, new, GREEDY)
    assert rows == [model.generate(prompt, new, GREEDY) for prompt in prompts]
    as_array = model.generate(np.array([[4, 5, 6], [6, 5, 4]]), new, GREEDY)
    assert as_array == [model.generate([4, 5, 6], new, GREEDY),
                        model.generate([6, 5, 4], new, GREEDY)]


def test_seeds_fix_the_tokens(model):
    first = model.generate([1, 2], 20, SamplingConfig(seed=4))
    assert model.generate([1, 2], 20, SamplingConfig(seed=4)) == first
    assert any(model.generate([1, 2], 20, SamplingConfig(seed=seed)) != first
               for seed in range(5, 8))


def sampled_reference(model, prompt, n, sampling):
    """n tokens drawn by a Sampler of sampling from the no-cache reference's logits."""
    sampler, tokens = Sampler(sampling), []
    for _ in range(n):
        logits = reference_logits(model, prompt, tokens + [0])[-1:]
        tokens.append(int(sampler(logits)[0]))
    return tokens


def test_streams_and_lists_equal_the_sampled_no_cache_reference(model):
    sampling = SamplingConfig(top_p=0.9, seed=2)
    expected = sampled_reference(model, [5, 6], 12, sampling)
    assert list(model.generate_stream([5, 6], 12, sampling)) == expected
    assert model.generate([5, 6], 12, sampling) == expected
    batch = [[5, 6], [7]]
    steps = list(model.generate_stream(batch, 4, GREEDY))
    assert [list(row) for row in zip(*steps)] == \
        [greedy_reference(model, prompt, 4) for prompt in batch]


def test_interleaved_streams_and_reused_caches_give_what_each_gives_alone(model):
    """A finished generation's cache serves the next (any batch size or length); a running one
    keeps its own, so streams on one model may interleave."""
    runs = [([[1, 2, 3], [4]], 5), ([5, 6], 12), ([3], 2 * BLOCK)]   # the last two fit one cache
    alone = [model.generate(prompt, n, GREEDY) for prompt, n in runs]
    streams = [model.generate_stream(prompt, n, GREEDY) for prompt, n in runs]
    interleaved = [[], [], []]
    for step in itertools.zip_longest(*streams):      # one token of each stream in turn
        for tokens, token in zip(interleaved, step):
            if token is not None:
                tokens.append(token)
    interleaved[0] = [list(row) for row in zip(*interleaved[0])]
    assert interleaved == alone
    cache = generation._idle_caches[model]
    model.generate([7], 3, GREEDY)
    assert generation._idle_caches[model] is cache       # reused, then handed back


def test_stop_tokens_end_a_row_after_the_stop_token(model):
    free = model.generate([2, 7], 10, GREEDY)
    stop = free[3]
    expected = free[:free.index(stop) + 1]
    assert model.generate([2, 7], 10, GREEDY, stop_tokens=[stop]) == expected
    other = model.generate([[2, 7], [4]], 10, GREEDY, stop_tokens=[stop])
    assert other[0] == expected and len(other[1]) >= len(expected)
    steps = list(model.generate_stream([[2, 7], [4]], 10, GREEDY, stop_tokens=[stop]))
    assert all(step[0] is None for step in steps[len(expected):])
    assert model.generate([2, 7], 0) == [] and model.generate([[1], [2]], 0) == [[], []]


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt_ids": []}, "prompt_ids is empty"),
    ({"prompt_ids": [[1], []]}, r"prompt_ids\[1\] is empty"),
    ({"prompt_ids": [1, V]}, "outside the vocabulary"), ({"prompt_ids": [-1]}, "outside"),
    ({"prompt_ids": [1.5]}, "integer token ids"), ({"prompt_ids": "hello"}, "encode text"),
    ({"prompt_ids": np.zeros((1, 1, 1), int)}, "shape"),
    ({"max_new_tokens": -1}, "max_new_tokens"), ({"max_new_tokens": 2.0}, "max_new_tokens"),
    ({"sampling": {"temperature": 0}}, "SamplingConfig"),
    ({"stop_tokens": [V]}, "stop_tokens"), ({"stop_tokens": 3}, "stop_tokens"),
])
def test_bad_arguments_are_refused_before_the_first_token(model, kwargs, message):
    arguments = {"prompt_ids": [1, 2], "max_new_tokens": 4} | kwargs
    with pytest.raises(ValueError, match=message):
        generate_stream(model, **arguments)         # raises on the call, not at next()
    with pytest.raises(ValueError, match=message):
        generate(model, **arguments)


