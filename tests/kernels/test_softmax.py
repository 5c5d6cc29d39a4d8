"""softmax_forward / softmax_backward against a float64 NumPy reference and finite differences."""
import numpy as np
import pytest

from llm._ext.softmax import softmax_backward, softmax_forward


def softmax_reference(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 3, 17), (5, 1000 + 13), (33,)])
def test_forward_matches_float64_reference(shape):
    x = (np.random.default_rng(0).standard_normal(shape) * 4).astype(np.float32)
    out = np.empty_like(x)
    softmax_forward(out, x)
    # Within 2e-6 relative of the exact value (vectorised exp: 2 ulp; row sum in double).
    np.testing.assert_allclose(out, softmax_reference(x), rtol=2e-6, atol=1e-12)


def test_forward_is_stable_for_huge_logits_and_masks_minus_infinity():
    x = np.array([[1e4, -1e4, 1e4 - 1.0, -np.inf], [-np.inf, -np.inf, 3.0, -np.inf]], np.float32)
    out = np.empty_like(x)
    softmax_forward(out, x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, softmax_reference(x), rtol=2e-6, atol=0)
    assert out[0, 3] == 0 and out[1].tolist() == [0, 0, 1, 0]


def test_forward_in_place():
    x = np.random.default_rng(1).standard_normal((4, 9)).astype(np.float32)
    expected = softmax_reference(x)
    softmax_forward(x, x)
    np.testing.assert_allclose(x, expected, rtol=2e-6)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 2, 6)])
def test_backward_matches_finite_differences_and_accumulates(shape, numeric_gradient):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(np.float32)
    dout = rng.standard_normal(shape).astype(np.float32)
    out = np.empty_like(x)
    softmax_forward(out, x)
    dx = np.full_like(x, 0.5)
    softmax_backward(dx, dout, out)
    expected = numeric_gradient(lambda v: np.sum(softmax_reference(v) * dout), x)
    # float32 kernel vs exact float64 gradient: 1e-5 absolute on O(1) values.
    np.testing.assert_allclose(dx - 0.5, expected, rtol=1e-5, atol=1e-5)


def test_one_and_two_threads_agree_bit_for_bit(with_threads):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((128, 301)).astype(np.float32)   # above the one-thread size
    dout = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        out, dx = np.empty_like(x), np.zeros_like(x)
        softmax_forward(out, x)
        softmax_backward(dx, dout, out)
        return out, dx

    for one, two in zip(with_threads(1, run), with_threads(2, run)):
        np.testing.assert_array_equal(one, two)


def test_bad_arguments_raise_value_error_naming_them():
    x = np.zeros((4, 6), np.float32)
    out = np.zeros_like(x)
    with pytest.raises(ValueError, match="x must be float32"):
        softmax_forward(out, x.astype(np.float64))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        softmax_forward(np.zeros((6, 4), np.float32), x.T)
    with pytest.raises(ValueError, match="out has shape"):
        softmax_forward(np.zeros((4, 5), np.float32), x)
    buffer = np.zeros(24, np.float32)
    with pytest.raises(ValueError, match="out overlaps x"):
        softmax_forward(buffer[1:], buffer[:-1])
    with pytest.raises(ValueError, match="dout has shape"):
        softmax_backward(np.zeros_like(x), np.zeros((4, 7), np.float32), out)
    with pytest.raises(ValueError, match="dx overlaps dout"):
        softmax_backward(out, out, x)
    with pytest.raises(ValueError, match="x must have at least one dimension"):
        softmax_forward(np.zeros((), np.float32), np.zeros((), np.float32))
