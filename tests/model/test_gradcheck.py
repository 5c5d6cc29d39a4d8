"""Whole-model gradient check: for every combination of the five binary options (pre/post norm,
GELU/ReLU, learned/sinusoidal positions, tied/untied head, padding mask on/off), the gradient our
C kernels compute (float32) matches central differences of the float64 NumPy reference model
(tests/model/reference.py) on sampled entries of every parameter tensor, and the forward pass
matches the reference's logits and loss."""
import itertools

import numpy as np
import pytest

from llm.model import GPT, GPTConfig
from tests.model import reference

OPTIONS = list(itertools.product(("pre", "post"), ("gelu", "relu"), ("learned", "sinusoidal"),
                                 (True, False), (False, True)))
B, T = 3, 5
STEP = 1e-5               # central-difference step in float64: truncation error ~STEP^2
ENTRIES_PER_TENSOR = 2    # sampled entries, plus one random direction over the whole tensor


def tiny_model(norm, activation, positional, tie, label_smoothing, seed):
    config = GPTConfig(vocab_size=11, block_size=T, n_layer=2, n_head=2, d_model=8, d_ff=16,
                       activation=activation, norm=norm, positional=positional,
                       tie_embeddings=tie, label_smoothing=label_smoothing, seed=seed)
    model = GPT(config)
    # GPT-2 init leaves biases 0 and LayerNorm weights 1; random values exercise every term
    rng = np.random.default_rng(seed)
    model.params.flat[:] = rng.normal(0.0, 0.5, model.params.size)
    return model


def batch(seed, padded):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 11, (B, T))
    targets = rng.integers(0, 11, (B, T))
    if not padded:
        return idx, targets, None
    mask = np.ones((B, T), dtype=np.uint8)
    mask[1, :2] = 0      # left padding
    mask[2, :4] = 0      # one real token
    return idx, targets, mask


@pytest.mark.parametrize("norm, activation, positional, tie, padded", OPTIONS)
def test_gradient_matches_reference_finite_differences(norm, activation, positional, tie, padded):
    seed = OPTIONS.index((norm, activation, positional, tie, padded))
    label_smoothing = 0.1 if seed % 2 else 0.0
    model = tiny_model(norm, activation, positional, tie, label_smoothing, seed)
    idx, targets, mask = batch(seed, padded)
    params = {name: view.astype(np.float64) for name, view in model.params.items()}

    def reference_loss():
        return reference.loss(params, model.config, idx, targets, mask, padding_mask=mask)

    logits = model.forward(idx, padding_mask=mask)
    expected_logits = reference.forward(params, model.config, idx, padding_mask=mask)
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-4, atol=1e-5)
    model.zero_grad()
    loss = model.loss(idx, targets, mask=mask, padding_mask=mask)
    np.testing.assert_allclose(loss, reference_loss(), rtol=1e-5)
    model.backward()

    rng = np.random.default_rng(seed)
    for name, value in params.items():
        grad = model.grads[name].astype(np.float64)
        flat = value.reshape(-1)
        entries = rng.choice(flat.size, ENTRIES_PER_TENSOR, replace=False)
        directions = [np.eye(1, flat.size, e)[0] for e in entries] + \
                     [rng.standard_normal(flat.size)]
        for direction in directions:
            original = flat.copy()
            flat += STEP * direction
            plus = reference_loss()
            flat[:] = original - STEP * direction
            minus = reference_loss()
            flat[:] = original
            numeric = (plus - minus) / (2 * STEP)
            analytic = grad.reshape(-1) @ direction
            # float32 accumulation error, relative to the Cauchy-Schwarz bound of |grad . d|
            bound = np.linalg.norm(grad) * np.linalg.norm(direction) + 1e-3
            assert abs(analytic - numeric) <= 1e-3 * bound, \
                f"{name}: analytic {analytic:.6g} vs numeric {numeric:.6g}"
