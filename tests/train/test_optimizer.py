"""llm/train/optimizer.py: AdamW state over the flat buffer, decay only where masked, save/load."""
import numpy as np
import pytest

from llm.train.optimizer import AdamW


def make(n=10, weight_decay=0.1):
    params = np.linspace(-1, 1, n).astype(np.float32)
    grads = np.zeros(n, np.float32)
    mask = (np.arange(n) % 2).astype(np.uint8)
    return AdamW(params, grads, mask, 0.9, 0.99, 1e-8, weight_decay), params, grads, mask


def test_steps_follow_adam_with_decoupled_decay_on_the_mask():
    optimizer, params, grads, mask = make()
    reference = params.astype(np.float64)
    m = np.zeros(10)
    v = np.zeros(10)
    rng = np.random.default_rng(0)
    for step in range(1, 4):
        grads[:] = rng.standard_normal(10)
        lr = 0.01 * step
        optimizer.step(lr)
        reference -= lr * 0.1 * reference * mask
        m = 0.9 * m + 0.1 * grads
        v = 0.99 * v + 0.01 * grads.astype(np.float64) ** 2
        reference -= lr * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.99 ** step)) + 1e-8)
    assert optimizer.step_count == 3
    np.testing.assert_allclose(params, reference, rtol=1e-5, atol=1e-6)


def test_zero_gradient_decays_only_masked_entries():
    optimizer, params, _, mask = make()
    before = params.copy()
    optimizer.step(0.5)
    np.testing.assert_allclose(params[mask == 1], before[mask == 1] * (1 - 0.05), rtol=1e-6)
    np.testing.assert_array_equal(params[mask == 0], before[mask == 0])


def test_save_load_restores_the_moments_and_step(tmp_path):
    optimizer, _, grads, _ = make()
    grads[:] = 0.3
    optimizer.step(0.1)
    optimizer.step(0.1)
    optimizer.save(tmp_path / "opt.safetensors")
    restored, _, _, _ = make()
    restored.load(tmp_path / "opt.safetensors")
    assert restored.step_count == 2
    np.testing.assert_array_equal(restored.m, optimizer.m)
    np.testing.assert_array_equal(restored.v, optimizer.v)
    other, _, _, _ = make(n=12)
    with pytest.raises(ValueError, match="should have shape"):
        other.load(tmp_path / "opt.safetensors")


@pytest.mark.parametrize("changes, message", [
    ({"beta1": 1.0}, "beta1"), ({"beta2": -0.1}, "beta2"), ({"eps": 0.0}, "eps"),
    ({"weight_decay": -1.0}, "weight_decay")])
def test_bad_hyperparameters(changes, message):
    values = {"beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "weight_decay": 0.1, **changes}
    params = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=message):
        AdamW(params, params.copy(), np.zeros(4, np.uint8), **values)
