"""AdamW and gradient clipping against a NumPy re-implementation and torch.optim.AdamW."""
import numpy as np
import pytest

from llm._ext.adamw import (adamw_step, clip_grad_norm, clip_scale, decay_mask_from_ranges,
                            grad_norm)

HYPER = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)


def adamw_reference(params, grads, m, v, lr, beta1, beta2, eps, weight_decay, step, decay_mask):
    """torch.optim.AdamW's update in float64 (returns new params, m, v)."""
    p, g = params.astype(np.float64), grads.astype(np.float64)
    p = np.where(decay_mask.astype(bool), p * (1 - lr * weight_decay), p)
    m = m + (1 - beta1) * (g - m)
    v = beta2 * v + (1 - beta2) * g * g
    denom = np.sqrt(v) / np.sqrt(1 - beta2 ** step) + eps
    return p - lr / (1 - beta1 ** step) * m / denom, m, v


def random_state(n, seed=0):
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(n).astype(np.float32)
    return params, np.zeros(n, np.float32), np.zeros(n, np.float32), rng


def test_steps_match_numpy_reference_with_a_decay_mask():
    n = 1001
    params, m, v, rng = random_state(n)
    mask = decay_mask_from_ranges(n, [(0, 500), (700, 1001)])
    ref_p, ref_m, ref_v = params.astype(np.float64), np.zeros(n), np.zeros(n)
    for step in range(1, 6):
        grads = rng.standard_normal(n).astype(np.float32)
        adamw_step(params, grads, m, v, **HYPER, step=step, decay_mask=mask)
        ref_p, ref_m, ref_v = adamw_reference(ref_p, grads, ref_m, ref_v, **HYPER, step=step,
                                              decay_mask=mask)
    # float32 arithmetic vs float64 over 5 steps: parameters within 1e-6 relative + 1e-6.
    np.testing.assert_allclose(params, ref_p, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m, ref_m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(v, ref_v, rtol=1e-5, atol=1e-9)


def test_no_mask_decays_everything_and_zero_decay_mask_decays_nothing():
    params, m, v, rng = random_state(64, seed=1)
    grads = rng.standard_normal(64).astype(np.float32)
    everywhere, nowhere = params.copy(), params.copy()
    adamw_step(everywhere, grads, m.copy(), v.copy(), **HYPER, step=1)
    adamw_step(nowhere, grads, m.copy(), v.copy(), **HYPER, step=1,
               decay_mask=np.zeros(64, np.uint8))
    ones = decay_mask_from_ranges(64, [(0, 64)])
    masked = params.copy()
    adamw_step(masked, grads, m.copy(), v.copy(), **HYPER, step=1, decay_mask=ones)
    # The compiler may contract the two paths into FMAs differently: 1 ulp.
    np.testing.assert_allclose(everywhere, masked, rtol=1.2e-7, atol=1e-9)
    ref = adamw_reference(params, grads, m, v, **HYPER, step=1, decay_mask=np.zeros(64))[0]
    np.testing.assert_allclose(nowhere, ref, rtol=1e-6, atol=1e-7)


def test_matches_torch_adamw_for_a_few_steps():
    torch = pytest.importorskip("torch")
    n, split = 777, 500
    params, m, v, rng = random_state(n, seed=2)
    torch_decayed = torch.nn.Parameter(torch.tensor(params[:split]))
    torch_plain = torch.nn.Parameter(torch.tensor(params[split:]))
    optimizer = torch.optim.AdamW(
        [{"params": [torch_decayed]}, {"params": [torch_plain], "weight_decay": 0.0}],
        lr=HYPER["lr"], betas=(HYPER["beta1"], HYPER["beta2"]), eps=HYPER["eps"],
        weight_decay=HYPER["weight_decay"])
    mask = decay_mask_from_ranges(n, [(0, split)])
    for step in range(1, 5):
        grads = rng.standard_normal(n).astype(np.float32)
        adamw_step(params, grads, m, v, **HYPER, step=step, decay_mask=mask)
        torch_decayed.grad = torch.tensor(grads[:split])
        torch_plain.grad = torch.tensor(grads[split:])
        optimizer.step()
    expected = np.concatenate([torch_decayed.detach().numpy(), torch_plain.detach().numpy()])
    # Same float32 formula; only operation order/FMA differ: a few ulp.
    np.testing.assert_allclose(params, expected, rtol=2e-6, atol=1e-7)


def test_step_is_independent_of_threads(with_threads):
    params, m, v, rng = random_state(100_003, seed=5)    # above the one-thread size
    grads = rng.standard_normal(100_003).astype(np.float32)
    mask = decay_mask_from_ranges(100_003, [(0, 50_000)])

    def run():
        state = [params.copy(), m.copy(), v.copy()]
        for step in (1, 2):
            adamw_step(state[0], grads, state[1], state[2], **HYPER, step=step, decay_mask=mask)
        return state

    for one, two in zip(with_threads(1, run), with_threads(2, run)):
        np.testing.assert_array_equal(one, two)


def test_grad_norm_is_accurate_and_independent_of_threads(with_threads):
    grads = (np.random.default_rng(3).standard_normal(300_001) * 1e-3).astype(np.float32)
    exact = np.sqrt(np.sum(grads.astype(np.float64) ** 2))
    one, two = with_threads(1, grad_norm, grads), with_threads(2, grad_norm, grads)
    assert one == two
    assert one == pytest.approx(exact, rel=1e-13)
    assert grad_norm(np.zeros(0, np.float32)) == 0.0


def test_clip_grad_norm_scales_only_above_max_norm():
    grads = np.array([3.0, 4.0], np.float32)
    assert clip_grad_norm(grads, 10.0) == pytest.approx(5.0)
    assert grads.tolist() == [3.0, 4.0]
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(grads, [0.6, 0.8], rtol=1e-6)
    assert grad_norm(grads) == pytest.approx(1.0, rel=1e-6)
    broken = np.array([1.0, np.inf], np.float32)
    assert clip_grad_norm(broken, 1.0) == np.inf
    assert broken.tolist() == [1.0, np.inf]


def test_clip_scale_is_the_factor_clip_grad_norm_applies():
    assert clip_scale(5.0, 10.0) == 1.0
    assert clip_scale(5.0, 5.0) == np.float32(5.0 / (5.0 + 1e-6))   # as torch: the 1e-6 bites
    assert clip_scale(5.0, 1.0) == np.float32(1.0 / (5.0 + 1e-6))
    assert clip_scale(np.inf, 1.0) == 1.0 and clip_scale(np.nan, 1.0) == 1.0
    grads = np.random.default_rng(3).standard_normal(1000).astype(np.float32)
    clipped = grads.copy()
    norm = clip_grad_norm(clipped, 2.0)
    np.testing.assert_array_equal(clipped, grads * np.float32(clip_scale(norm, 2.0)))


def test_grad_scale_steps_exactly_as_on_clipped_gradients():
    """adamw_step(grad_scale=clip_scale(...)) leaves grads alone and updates the parameters bit
    for bit as clip_grad_norm then adamw_step would."""
    n = 5000
    params, m, v, rng = random_state(n, seed=6)
    mask = decay_mask_from_ranges(n, [(0, 3000)])
    twin = [a.copy() for a in (params, m, v)]
    for step in range(1, 4):
        grads = (rng.standard_normal(n) * 3).astype(np.float32)
        kept = grads.copy()
        scale = clip_scale(grad_norm(grads), 1.0)
        assert scale < 1.0
        adamw_step(params, grads, m, v, **HYPER, step=step, decay_mask=mask, grad_scale=scale)
        np.testing.assert_array_equal(grads, kept)
        clip_grad_norm(grads, 1.0)
        adamw_step(*twin[:1], grads, *twin[1:], **HYPER, step=step, decay_mask=mask)
        for ours, theirs in zip((params, m, v), twin):
            np.testing.assert_array_equal(ours, theirs)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    grads = np.random.default_rng(4).standard_normal(1000).astype(np.float32)
    tensor = torch.nn.Parameter(torch.zeros(1000))
    tensor.grad = torch.tensor(grads)
    torch_norm = torch.nn.utils.clip_grad_norm_([tensor], 2.0)
    assert clip_grad_norm(grads, 2.0) == pytest.approx(torch_norm.item(), rel=1e-6)
    np.testing.assert_allclose(grads, tensor.grad.numpy(), rtol=1e-6)


def test_decay_mask_from_ranges_rejects_ranges_outside_the_buffer():
    assert decay_mask_from_ranges(5, [(1, 3)]).tolist() == [0, 1, 1, 0, 0]
    with pytest.raises(ValueError, match=r"range \[3, 6\) is not within \[0, 5\)"):
        decay_mask_from_ranges(5, [(3, 6)])


def test_bad_arguments_raise_value_error_naming_them():
    params, m, v, _ = random_state(8)
    grads = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="grads must be float32"):
        adamw_step(params, grads.astype(np.float64), m, v, **HYPER, step=1)
    with pytest.raises(ValueError, match="m has shape"):
        adamw_step(params, grads, m[:7], v, **HYPER, step=1)
    with pytest.raises(ValueError, match="params must be C-contiguous"):
        adamw_step(np.zeros(16, np.float32)[::2], grads, m, v, **HYPER, step=1)
    with pytest.raises(ValueError, match="decay_mask must be uint8"):
        adamw_step(params, grads, m, v, **HYPER, step=1, decay_mask=np.ones(8, bool))
    with pytest.raises(ValueError, match="step=0"):
        adamw_step(params, grads, m, v, **HYPER, step=0)
    with pytest.raises(ValueError, match="beta2=1.0"):
        adamw_step(params, grads, m, v, **{**HYPER, "beta2": 1.0}, step=1)
    with pytest.raises(ValueError, match="lr=nan"):
        adamw_step(params, grads, m, v, **{**HYPER, "lr": float("nan")}, step=1)
    with pytest.raises(ValueError, match="m overlaps v"):
        adamw_step(params, grads, m, m, **HYPER, step=1)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(grads, 0.0)
    with pytest.raises(ValueError, match="max_norm"):
        clip_scale(1.0, -1.0)
    with pytest.raises(ValueError, match="grad_scale=0.0"):
        adamw_step(params, grads, m, v, **HYPER, step=1, grad_scale=0.0)
    with pytest.raises(ValueError, match="grad_scale=inf"):
        adamw_step(params, grads, m, v, **HYPER, step=1, grad_scale=float("inf"))
    with pytest.raises(ValueError, match="grads has shape"):
        grad_norm(np.zeros((2, 4), np.float32))
