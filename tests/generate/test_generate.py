"""llm/generate.py: KV-cached generation against a no-cache reference (across the sliding
window too), batched prompts, sampling (seeds, top-k, top-p), stop tokens, streaming, text."""
import itertools

import numpy as np
import pytest

from llm import generate as generation
from llm.generate import Sampler, decode_stream, generate, generate_stream, load, sample
from llm.model import GPT, GPTConfig
from llm.tokenizer import Tokenizer
from llm.train.char_tokenizer import char_tokenizer

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
    tokens = model.generate(prompt, 3 * BLOCK, temperature=1.0, seed=1)   # slides 5-6 times
    assert len(tokens) == 3 * BLOCK
    np.testing.assert_allclose(np.concatenate(recorded_logits),
                               reference_logits(model, prompt, tokens), rtol=0, atol=1e-5)


def test_greedy_equals_the_reference_and_top_k_1(model):
    expected = greedy_reference(model, [3, 1, 4], 2 * BLOCK)
    assert model.generate([3, 1, 4], 2 * BLOCK, temperature=0) == expected
    assert model.generate([3, 1, 4], 2 * BLOCK, top_k=1, seed=8) == expected


def test_each_row_of_a_batch_generates_what_it_would_alone(model):
    prompts = [[7], [1, 2, 3], [9, 9, 2, 6, 5, 3]]          # left-padded to 6
    new = BLOCK - 6                                           # up to the first slide
    rows = model.generate(prompts, new, temperature=0)
    assert rows == [model.generate(prompt, new, temperature=0) for prompt in prompts]
    as_array = model.generate(np.array([[4, 5, 6], [6, 5, 4]]), new, temperature=0)
    assert as_array == [model.generate([4, 5, 6], new, temperature=0),
                        model.generate([6, 5, 4], new, temperature=0)]


def test_seeds_fix_the_tokens(model):
    first = model.generate([1, 2], 20, seed=4)
    assert model.generate([1, 2], 20, seed=4) == first
    assert any(model.generate([1, 2], 20, seed=seed) != first for seed in range(5, 8))


def test_streaming_yields_what_generate_returns(model):
    stream = model.generate_stream([5, 6], 12, seed=2, top_p=0.9)
    assert list(stream) == model.generate([5, 6], 12, seed=2, top_p=0.9)
    batch = [[5, 6], [7]]
    steps = list(model.generate_stream(batch, 4, seed=3))
    assert [list(row) for row in zip(*steps)] == model.generate(batch, 4, seed=3)


def test_interleaved_streams_and_reused_caches_give_what_each_gives_alone(model):
    """A finished generation's cache serves the next (any batch size or length); a running one
    keeps its own, so streams on one model may interleave."""
    runs = [([[1, 2, 3], [4]], 5), ([5, 6], 12), ([3], 2 * BLOCK)]   # the last two fit one cache
    alone = [model.generate(prompt, n, temperature=0) for prompt, n in runs]
    streams = [model.generate_stream(prompt, n, temperature=0) for prompt, n in runs]
    interleaved = [[], [], []]
    for step in itertools.zip_longest(*streams):      # one token of each stream in turn
        for tokens, token in zip(interleaved, step):
            if token is not None:
                tokens.append(token)
    interleaved[0] = [list(row) for row in zip(*interleaved[0])]
    assert interleaved == alone
    cache = generation._idle_caches[model]
    model.generate([7], 3, temperature=0)
    assert generation._idle_caches[model] is cache       # reused, then handed back


def test_stop_tokens_end_a_row_after_the_stop_token(model):
    free = model.generate([2, 7], 10, temperature=0)
    stop = free[3]
    expected = free[:free.index(stop) + 1]
    assert model.generate([2, 7], 10, temperature=0, stop_tokens=[stop]) == expected
    other = model.generate([[2, 7], [4]], 10, temperature=0, stop_tokens=[stop])
    assert other[0] == expected and len(other[1]) >= len(expected)
    steps = list(model.generate_stream([[2, 7], [4]], 10, temperature=0, stop_tokens=[stop]))
    assert all(step[0] is None for step in steps[len(expected):])
    assert model.generate([2, 7], 0) == [] and model.generate([[1], [2]], 0) == [[], []]


def test_sampler_top_k_and_top_p_restrict_the_support():
    probabilities = np.array([0.5, 0.3, 0.1, 0.06, 0.04])
    logits = np.tile(np.log(probabilities), (4000, 1)).astype(np.float32)
    for kwargs, support in (({"top_k": 2}, {0, 1}), ({"top_p": 0.8}, {0, 1}),
                            ({"top_p": 0.81}, {0, 1, 2}), ({"top_k": 4, "top_p": 0.95},
                                                           {0, 1, 2, 3}),
                            ({"top_p": 0.3}, {0}), ({}, {0, 1, 2, 3, 4})):
        draws = Sampler(seed=0, **kwargs)(logits)
        assert set(draws.tolist()) == support, kwargs
    counts = np.bincount(Sampler(seed=1)(logits), minlength=5) / len(logits)
    np.testing.assert_allclose(counts, probabilities, atol=0.025)     # > 4 standard deviations
    assert Sampler(temperature=0)(logits[:2]).tolist() == [0, 0]
    sharp = np.bincount(Sampler(temperature=0.25, seed=2)(logits), minlength=5) / len(logits)
    np.testing.assert_allclose(sharp, probabilities ** 4 / (probabilities ** 4).sum(), atol=0.025)


def test_nucleus_equals_a_full_sort_of_the_vocabulary():
    # _nucleus sorts only the likeliest few: the kept tokens must be those of a full stable sort.
    rng = np.random.default_rng(3)
    for weights in (np.exp(rng.standard_normal(5000) * 4),    # peaked: the 64 likeliest decide
                    np.exp(rng.standard_normal(5000) * 0.3),  # flat: grows to every token
                    np.repeat([4.0, 2.0, 1.0], [10, 200, 3000])[rng.permutation(3210)]):  # ties
        ranking = np.argsort(-weights, kind="stable")
        for top_p in (0.02, 0.05, 0.3, 0.9):   # 0.02: the cut inside the ties at 2.0
            order, cumulative = Sampler(top_p=top_p)._nucleus(weights)
            mass_before = np.cumsum(weights[ranking]) - weights[ranking]
            kept = np.count_nonzero(mass_before < top_p * weights.sum())
            np.testing.assert_array_equal(order, ranking[:kept])
            np.testing.assert_allclose(cumulative, np.cumsum(weights[ranking[:kept]]), rtol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt_ids": []}, "prompt_ids is empty"),
    ({"prompt_ids": [[1], []]}, r"prompt_ids\[1\] is empty"),
    ({"prompt_ids": [1, V]}, "outside the vocabulary"), ({"prompt_ids": [-1]}, "outside"),
    ({"prompt_ids": [1.5]}, "integer token ids"), ({"prompt_ids": "hello"}, "encode text"),
    ({"prompt_ids": np.zeros((1, 1, 1), int)}, "shape"),
    ({"max_new_tokens": -1}, "max_new_tokens"), ({"max_new_tokens": 2.0}, "max_new_tokens"),
    ({"temperature": -0.5}, "temperature"), ({"temperature": float("nan")}, "temperature"),
    ({"top_k": 0}, "top_k"), ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"),
    ({"stop_tokens": [V]}, "stop_tokens"), ({"stop_tokens": 3}, "stop_tokens"),
])
def test_bad_arguments_are_refused_before_the_first_token(model, kwargs, message):
    arguments = {"prompt_ids": [1, 2], "max_new_tokens": 4} | kwargs
    with pytest.raises(ValueError, match=message):
        generate_stream(model, **arguments)         # raises on the call, not at next()
    with pytest.raises(ValueError, match=message):
        generate(model, **arguments)


def test_decode_stream_holds_back_a_cut_character():
    tokenizer = Tokenizer.train("naïve café ünïcode ✓ " * 20, 300)
    text = "café ✓ ünï"
    ids = tokenizer.encode_bytes(text.encode())     # byte tokens 0..255 are single bytes
    byte_ids = list(text.encode())
    for tokens in (ids, byte_ids):
        pieces = list(decode_stream(tokens, tokenizer))
        assert "".join(pieces) == text and "\ufffd" not in "".join(pieces)
    assert list(decode_stream(byte_ids[:4], tokenizer)) == ["c", "a", "f", "\ufffd"]  # cut é
    stop = ids[2]
    assert "".join(decode_stream(ids, tokenizer, [stop])) == tokenizer.decode(ids[:2])


def test_text_sampling_from_a_saved_model(tmp_path, model):
    tokenizer = char_tokenizer(["abcdefgh\n"])
    small = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=6, n_layer=1, n_head=2,
                          d_model=16, seed=0))
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        load(tmp_path / "missing")
    small.save(tmp_path / "model")
    with pytest.raises(FileNotFoundError, match="has no tokenizer"):
        load(tmp_path / "model")
    small.save(tmp_path / "model", tokenizer)
    loaded, loaded_tokenizer = load(tmp_path / "model")
    text = sample(loaded, loaded_tokenizer, "ab", 8, seed=1)
    assert text == sample(small, tokenizer, "ab", 8, seed=1)
    expected = tokenizer.decode(small.generate(tokenizer.encode("\n"), 5, temperature=0))
    assert sample(small, tokenizer, "", 5, temperature=0) == expected   # "" starts at "\n"
    assert "".join(generation.stream_text(small, tokenizer, "ab", 8, seed=1)) == text
