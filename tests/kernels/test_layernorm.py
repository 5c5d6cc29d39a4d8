"""layernorm_forward / layernorm_backward against float64 NumPy and finite differences."""
import numpy as np
import pytest

from llm._ext.layernorm import backward_scratch_size, layernorm_backward, layernorm_forward

EPS = 1e-5


def layernorm_reference(x, weight, bias, eps=EPS):
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + eps)
    return (x - mean) * rstd * weight + bias, mean[..., 0], rstd[..., 0]


def random_inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32)
    weight = rng.standard_normal(shape[-1]).astype(np.float32)
    bias = rng.standard_normal(shape[-1]).astype(np.float32)
    return x, weight, bias


def forward(x, weight, bias):
    out = np.empty_like(x)
    mean = np.empty(x.shape[:-1], np.float32)
    rstd = np.empty(x.shape[:-1], np.float32)
    layernorm_forward(out, mean, rstd, x, weight, bias)
    return out, mean, rstd


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 5, 33), (17, 769)])
def test_forward_matches_float64_reference(shape):
    x, weight, bias = random_inputs(shape)
    out, mean, rstd = forward(x, weight, bias)
    ref_out, ref_mean, ref_rstd = layernorm_reference(x, weight, bias)
    # Statistics in double: mean and rstd within float32 rounding; out within a few ulp of
    # its O(1) terms.
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(rstd, ref_rstd, rtol=1e-6)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=2e-6)


def test_forward_in_place_and_with_flat_statistics():
    x, weight, bias = random_inputs((2, 3, 10), seed=1)
    ref_out, ref_mean, _ = layernorm_reference(x, weight, bias)
    mean, rstd = np.empty(6, np.float32), np.empty(6, np.float32)
    layernorm_forward(x, mean, rstd, x, weight, bias)
    np.testing.assert_allclose(x, ref_out, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(mean, ref_mean.reshape(-1), rtol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (5, 33), (2, 300, 64)])   # the last one threaded
def test_forward_with_residual_adds_it_in_place_then_normalizes(shape):
    x, weight, bias = random_inputs(shape, seed=4)
    residual = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    total = x + residual                        # float32 rounding, as the kernel's add
    out, mean, rstd = forward(total.copy(), weight, bias)
    residual_before = residual.copy()
    fused_out = np.empty_like(x)
    fused_mean, fused_rstd = np.empty(shape[:-1], np.float32), np.empty(shape[:-1], np.float32)
    layernorm_forward(fused_out, fused_mean, fused_rstd, x, weight, bias, residual=residual)
    np.testing.assert_array_equal(x, total)
    np.testing.assert_array_equal(residual, residual_before)
    for fused, separate in ((fused_out, out), (fused_mean, mean), (fused_rstd, rstd)):
        np.testing.assert_array_equal(fused, separate)


def test_forward_with_residual_rejects_what_it_cannot_write_or_overlaps():
    x, weight, bias = random_inputs((4, 6))
    out, mean, rstd = forward(x, weight, bias)
    residual = np.ones_like(x)
    with pytest.raises(ValueError, match="residual has shape"):
        layernorm_forward(out, mean, rstd, x, weight, bias, residual=residual[:2])
    with pytest.raises(ValueError, match="residual must be float32"):
        layernorm_forward(out, mean, rstd, x, weight, bias, residual=residual.astype(np.float64))
    read_only = x.copy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="x is read-only"):
        layernorm_forward(out, mean, rstd, read_only, weight, bias, residual=residual)
    with pytest.raises(ValueError, match="x overlaps residual"):
        layernorm_forward(out, mean, rstd, x, weight, bias, residual=x)
    with pytest.raises(ValueError, match="out overlaps residual"):
        layernorm_forward(out, mean, rstd, x, weight, bias, residual=out)


@pytest.mark.parametrize("shape", [(1, 2), (3, 7), (2, 2, 5)])
def test_backward_matches_finite_differences_and_accumulates(shape, numeric_gradient):
    x, weight, bias = random_inputs(shape, seed=2)
    dout = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    _, mean, rstd = forward(x, weight, bias)
    dx, dweight, dbias = np.full_like(x, 0.25), np.full_like(weight, 0.5), np.full_like(bias, -1)
    layernorm_backward(dx, dweight, dbias, dout, x, weight, mean, rstd)

    def loss(x_, weight_, bias_):
        return np.sum(layernorm_reference(x_, weight_, bias_)[0] * dout)

    # float32 kernel vs exact float64 gradients of O(1): 2e-5 absolute (x ~ 3 +- 2, rstd ~ 0.5).
    tolerance = dict(rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(dx - 0.25, numeric_gradient(lambda v: loss(v, weight, bias), x),
                               **tolerance)
    np.testing.assert_allclose(dweight - 0.5,
                               numeric_gradient(lambda v: loss(x, v, bias), weight), **tolerance)
    np.testing.assert_allclose(dbias + 1, numeric_gradient(lambda v: loss(x, weight, v), bias),
                               **tolerance)


def test_backward_over_many_row_blocks_matches_analytic_float64():
    x, weight, bias = random_inputs((2, 150, 70), seed=6)     # 300 rows: 5 blocks of 64
    dout = np.random.default_rng(7).standard_normal(x.shape).astype(np.float32)
    _, mean, rstd = forward(x, weight, bias)
    dx, dweight, dbias = np.zeros_like(x), np.zeros_like(weight), np.zeros_like(bias)
    layernorm_backward(dx, dweight, dbias, dout, x, weight, mean, rstd)
    _, ref_mean, ref_rstd = layernorm_reference(x, weight, bias)
    norm = (x - ref_mean[..., None]) * ref_rstd[..., None]
    dnorm = dout.astype(np.float64) * weight
    ref_dx = ref_rstd[..., None] * (dnorm - dnorm.mean(-1, keepdims=True)
                                    - norm * (dnorm * norm).mean(-1, keepdims=True))
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-5, atol=2e-5)
    # Sums of 300 float32 terms of O(1): 1e-5 relative to their O(sqrt(300)) size.
    np.testing.assert_allclose(dweight, (dout * norm).sum(axis=(0, 1)), rtol=0, atol=2e-4)
    np.testing.assert_allclose(dbias, dout.astype(np.float64).sum(axis=(0, 1)), rtol=0,
                               atol=2e-4)


def test_one_and_two_threads_agree_bit_for_bit(with_threads):
    x, weight, bias = random_inputs((197, 200), seed=4)   # above the one-thread size
    dout = np.random.default_rng(5).standard_normal(x.shape).astype(np.float32)

    scratch = np.empty(backward_scratch_size(197, 200), np.float32)

    def run():
        out, mean, rstd = forward(x, weight, bias)
        dx, dweight, dbias = np.zeros_like(x), np.zeros_like(weight), np.zeros_like(bias)
        layernorm_backward(dx, dweight, dbias, dout, x, weight, mean, rstd, scratch=scratch)
        return out, mean, rstd, dx, dweight, dbias

    for one, two in zip(with_threads(1, run), with_threads(2, run)):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("shape", [(3, 7), (300, 130)])   # one block of rows, and several
def test_backward_without_accumulate_writes_dweight_dbias_and_adds_dx(shape):
    x, weight, bias = random_inputs(shape, seed=6)
    dout = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    _, mean, rstd = forward(x, weight, bias)
    dx = np.full_like(x, 0.25)
    expected_dx, expected_dweight, expected_dbias = dx.copy(), np.zeros_like(weight), \
        np.zeros_like(bias)
    layernorm_backward(expected_dx, expected_dweight, expected_dbias, dout, x, weight, mean, rstd)
    dweight, dbias = np.full_like(weight, np.nan), np.full_like(bias, np.nan)   # never read
    layernorm_backward(dx, dweight, dbias, dout, x, weight, mean, rstd, accumulate_weights=False)
    np.testing.assert_array_equal(dx, expected_dx)
    np.testing.assert_array_equal(dweight, expected_dweight)
    np.testing.assert_array_equal(dbias, expected_dbias)


def test_bad_arguments_raise_value_error_naming_them():
    x, weight, bias = random_inputs((4, 6))
    out, mean, rstd = forward(x, weight, bias)
    with pytest.raises(ValueError, match="x must be float32"):
        layernorm_forward(out, mean, rstd, x.astype(np.float64), weight, bias)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        layernorm_forward(out.T.copy(), mean, rstd, np.zeros((6, 4), np.float32).T, weight, bias)
    with pytest.raises(ValueError, match="weight has shape"):
        layernorm_forward(out, mean, rstd, x, weight[:5], bias)
    with pytest.raises(ValueError, match="rstd has shape"):
        layernorm_forward(out, mean, rstd[:3], x, weight, bias)
    with pytest.raises(ValueError, match="eps"):
        layernorm_forward(out, mean, rstd, x, weight, bias, eps=0.0)
    with pytest.raises(ValueError, match="out overlaps weight"):
        layernorm_forward(out, mean, rstd, x, out[0], bias)
    dx, dweight, dbias = np.zeros_like(x), np.zeros_like(weight), np.zeros_like(bias)
    with pytest.raises(ValueError, match="dout must be float32"):
        layernorm_backward(dx, dweight, dbias, out.astype(np.float16), x, weight, mean, rstd)
    with pytest.raises(ValueError, match="dbias has shape"):
        layernorm_backward(dx, dweight, dbias[:2], out, x, weight, mean, rstd)
    with pytest.raises(ValueError, match="dx overlaps dout"):
        layernorm_backward(dx, dweight, dbias, dx, x, weight, mean, rstd)
    with pytest.raises(ValueError, match="at least one channel"):
        layernorm_forward(out[:, :0].copy(), mean, rstd, x[:, :0].copy(), weight[:0], bias[:0])
    with pytest.raises(ValueError, match="scratch has shape"):
        layernorm_backward(dx, dweight, dbias, out, x, weight, mean, rstd,
                           scratch=np.empty(3, np.float32))
    with pytest.raises(ValueError, match="mean must be C-contiguous"):
        layernorm_backward(dx, dweight, dbias, out, x, weight, np.zeros(8, np.float32)[::2], rstd)
