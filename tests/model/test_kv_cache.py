"""GPT.forward_cached with a KVCache: the logits of every step equal the full forward's (to
1e-5) for every block and position option, with and without left padding; misuse is refused."""
import itertools

import numpy as np
import pytest

from llm.model import GPT, GPTConfig, KVCache

V, BLOCK = 29, 16


def make_model(**changes) -> GPT:
    """A model with weights large enough that every layer matters (init is ~N(0, 0.02))."""
    config = GPTConfig(**(dict(vocab_size=V, block_size=BLOCK, n_layer=2, n_head=4, d_model=32,
                               seed=3) | changes))
    model = GPT(config)
    rng = np.random.default_rng(config.seed)
    model.params.flat += rng.normal(0.0, 0.15, model.params.size).astype(np.float32)
    return model


def cached_logits(model, idx, prefill, padding_mask=None):
    """(B, T - prefill + 1, V): logits of positions prefill-1 .. T-1, read with the prompt
    idx[:, :prefill] in one call and then one position per call."""
    cache = KVCache(model.config, idx.shape[0])
    mask = None if padding_mask is None else padding_mask[:, :prefill]
    steps = [model.forward_cached(idx[:, :prefill], cache, mask).copy()]
    for t in range(prefill, idx.shape[1]):
        steps.append(model.forward_cached(idx[:, t:t + 1], cache).copy())
    assert cache.length == idx.shape[1]
    return np.stack(steps, axis=1)


@pytest.mark.parametrize("norm, positional, padded",
                         list(itertools.product(("pre", "post"), ("learned", "sinusoidal"),
                                                (False, True))))
def test_every_step_equals_the_full_forward(norm, positional, padded):
    model = make_model(norm=norm, positional=positional, activation="relu" if padded else "gelu")
    rng = np.random.default_rng(1)
    idx = rng.integers(0, V, (3, BLOCK))
    padding_mask = None
    if padded:                            # rows of 16, 12 and 5 real tokens, left-padded
        padding_mask = np.ones((3, BLOCK), np.uint8)
        padding_mask[1, :4] = padding_mask[2, :11] = 0
    full = model.forward(idx, padding_mask=padding_mask)
    # the padding must lie in the prefill; with 11, row 2 is padding only there
    for prefill in (11, 13, BLOCK) if padded else (1, 7, BLOCK):
        cached = cached_logits(model, idx, prefill, padding_mask)
        np.testing.assert_allclose(cached, full[:, prefill - 1:], rtol=0, atol=1e-5)


def test_a_padded_row_equals_its_prompt_alone():
    model = make_model()
    prompt = np.array([[4, 8, 15, 16, 23]])
    batch = np.array([[0, 0, 0, 4, 8, 15, 16, 23], [1, 2, 3, 4, 5, 6, 7, 8]])
    padding_mask = np.array([[0, 0, 0, 1, 1, 1, 1, 1], [1] * 8])
    cache = KVCache(model.config, 2)
    together = model.forward_cached(batch, cache, padding_mask)[0].copy()
    alone = model.forward_cached(prompt, KVCache(model.config, 1))[0]
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5)


def test_reset_starts_a_new_context_and_caches_are_independent():
    model = make_model()
    idx = np.random.default_rng(2).integers(0, V, (1, 9))
    expected = model.forward(idx)[:, -1]
    cache, other = KVCache(model.config, 1), KVCache(model.config, 1)
    model.forward_cached(idx[:, :4], other)
    model.forward_cached(idx[:, ::-1], cache)
    cache.reset()
    np.testing.assert_allclose(model.forward_cached(idx, cache), expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(model.forward_cached(idx[:, 4:], other), expected, rtol=0,
                               atol=1e-5)


def test_generation_leaves_a_pending_backward_intact():
    """forward_cached uses the cache's buffers, not the training activations."""
    model = make_model()
    rng = np.random.default_rng(4)
    idx, targets = rng.integers(0, V, (2, 10)), rng.integers(0, V, (2, 10))
    model.zero_grad()
    model.loss(idx, targets)
    model.backward()
    expected = model.grads.flat.copy()
    model.zero_grad()
    model.loss(idx, targets)
    model.forward_cached(rng.integers(0, V, (3, 5)), KVCache(model.config, 3))
    model.backward()
    np.testing.assert_array_equal(model.grads.flat, expected)


def test_misuse_is_refused_with_a_reason():
    model = make_model()
    cache = KVCache(model.config, 2)
    with pytest.raises(ValueError, match="one row per cache row"):
        model.forward_cached(np.zeros((3, 4), int), cache)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.forward_cached(np.full((2, 4), V), cache)
    with pytest.raises(ValueError, match=rf"\[1, 3\] = {V} is out of range"):  # int32: the kernel's
        model.forward_cached(np.array([[0, 1, 2, 3], [0, 1, 2, V]], np.int32), cache)
    assert cache.length == 0
    with pytest.raises(ValueError, match="padding_mask has shape"):
        model.forward_cached(np.zeros((2, 4), int), cache, np.ones((2, 5)))
    model.forward_cached(np.zeros((2, BLOCK - 1), int), cache)
    with pytest.raises(ValueError, match="first call"):
        model.forward_cached(np.zeros((2, 1), int), cache, np.ones((2, 1)))
    with pytest.raises(ValueError, match="do not fit"):
        model.forward_cached(np.zeros((2, 2), int), cache)
    model.forward_cached(np.zeros((2, 1), int), cache)        # the last free position
    assert cache.length == BLOCK
    with pytest.raises(ValueError, match="batch_size"):
        KVCache(model.config, 0)


def test_a_smaller_capacity_holds_that_many_positions_with_the_same_logits():
    model = make_model()
    idx = np.random.default_rng(5).integers(0, V, (2, 6))
    cache = KVCache(model.config, 2, capacity=6)
    assert cache.keys.shape[3] == cache.values.shape[3] == 6
    model.forward_cached(idx[:, :4], cache)
    model.forward_cached(idx[:, 4:5], cache)
    np.testing.assert_allclose(model.forward_cached(idx[:, 5:], cache),
                               model.forward(idx)[:, -1], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="cache holds 6 of capacity=6"):
        model.forward_cached(idx[:, :1], cache)
    for capacity in (0, BLOCK + 1, 2.0, True):
        with pytest.raises(ValueError, match="capacity"):
            KVCache(model.config, 1, capacity)


def test_gathered_rows_continue_as_each_alone():
    """Sequences of different lengths, prefilled apart, gathered into one batch (right-aligned,
    left-padded) and stepped together, give each sequence's logits alone; gathering a cache
    into itself drops a row and keeps the others."""
    model = make_model()
    rng = np.random.default_rng(2)
    prompts = [rng.integers(0, V, n) for n in (3, 9, 6)]
    steps = rng.integers(0, V, (3, 4))
    alone = [cached_logits(model, np.concatenate([p, s])[None], len(p))[0] for p, s in
             zip(prompts, steps)]
    first = KVCache(model.config, 2)          # rows 0 and 1, left-padded, one step taken
    model.forward_cached(np.array([[0] * 6 + list(prompts[0]), prompts[1]]), first,
                         np.array([[0] * 6 + [1] * 3, [1] * 9]))
    model.forward_cached(steps[:2, :1], first)
    newcomer = KVCache(model.config, 1)
    model.forward_cached(prompts[2][None], newcomer)
    batch = KVCache(model.config, 3)
    batch.gather([(first, 0, 4), (first, 1, 10), (newcomer, 0, 6)])
    assert batch.length == 10
    logits = [model.forward_cached(np.array([[steps[0, 1]], [steps[1, 1]], [steps[2, 0]]]),
                                   batch).copy()]
    logits.append(model.forward_cached(np.array([[steps[0, 2]], [steps[1, 2]], [steps[2, 1]]]),
                                       batch).copy())
    for row, offset in ((0, 2), (1, 2), (2, 1)):
        np.testing.assert_allclose(logits[0][row], alone[row][offset], rtol=0, atol=1e-5)
        np.testing.assert_allclose(logits[1][row], alone[row][offset + 1], rtol=0, atol=1e-5)
    pair = KVCache(model.config, 2)
    pair.gather([(batch, 0, 6), (batch, 2, 8)])     # row 1 leaves
    last = model.forward_cached(np.array([[steps[0, 3]], [steps[2, 2]]]), pair)
    np.testing.assert_allclose(last[0], alone[0][4], rtol=0, atol=1e-5)
    np.testing.assert_allclose(last[1], alone[2][3], rtol=0, atol=1e-5)
    batch.gather([(batch, 1, 12), (batch, 2, 8), (batch, 2, 8)])
    with pytest.raises(ValueError, match="already overwritten"):
        batch.gather([(batch, 1, 12), (batch, 0, 12), (batch, 2, 8)])
    with pytest.raises(ValueError, match="not a row"):
        pair.gather([(batch, 0, 13), (batch, 1, 8)])
