"""GELU (tanh approximation) and ReLU against float64 NumPy and finite differences."""
import numpy as np
import pytest

from llm._ext.activation import gelu_backward, gelu_forward, relu_backward, relu_forward


def gelu_tanh_form(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def gelu_reference(x):
    """GPT-2's GELU as x * sigmoid(2u), which equals 0.5 x (1 + tanh(u)) but does not cancel:
    below x = -5 the tanh form loses all digits even in float64 (1 + tanh(u) ~ 1e-16)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):   # exp -> inf gives the right limit, -0
        return x / (1.0 + np.exp(-2.0 * np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def test_gelu_reference_is_the_tanh_form():
    x = np.linspace(-5, 5, 1001)
    np.testing.assert_allclose(gelu_reference(x), gelu_tanh_form(x), rtol=1e-9, atol=1e-12)


def relu_reference(x):
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def test_gelu_forward_matches_float64_reference_over_a_wide_range():
    x = np.concatenate([np.linspace(-30, 30, 100_003), [0.0, -0.0, 1e-30, -1e-30]]).astype(
        np.float32).reshape(-1, 1)
    out = np.empty_like(x)
    gelu_forward(out, x)
    exact = gelu_reference(x)
    # Within 3e-6 relative for x > -5. Further left the result decays like exp(-x^3 / 10) and
    # exp's argument, rounded to float32, carries |2u| * 2^-24 relative error (4e-6 at x = -9;
    # PyTorch's float32 tanh form has no correct digit there): 1e-5 relative down to 1e-30.
    moderate = x > -5
    np.testing.assert_allclose(out[moderate], exact[moderate], rtol=3e-6, atol=0)
    np.testing.assert_allclose(out, exact, rtol=1e-5, atol=1e-30)


@pytest.mark.parametrize("name", ["gelu", "relu"])
def test_forward_in_place_and_special_values(name):
    forward, reference = {"gelu": (gelu_forward, gelu_reference),
                          "relu": (relu_forward, relu_reference)}[name]
    x = np.array([[-np.inf, -50.0, -1.0], [0.0, 2.5, np.inf]], np.float32)
    expected = reference(x[:, 1:])
    forward(x, x)
    np.testing.assert_allclose(x[:, 1:], expected, rtol=2e-6)
    assert x[1, 2] == np.inf
    nan = np.array([np.nan], np.float32)
    forward(nan, nan)
    assert np.isnan(nan[0])


@pytest.mark.parametrize("name", ["gelu", "relu"])
@pytest.mark.parametrize("shape", [(1,), (3, 7), (2, 3, 5)])
def test_backward_matches_finite_differences_and_writes_in_place(name, shape, numeric_gradient):
    forward, backward, reference = {"gelu": (gelu_forward, gelu_backward, gelu_reference),
                                    "relu": (relu_forward, relu_backward, relu_reference)}[name]
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    x[np.abs(x) < 1e-3] = 0.5          # keep ReLU's kink out of the differences' reach
    dout = rng.standard_normal(shape).astype(np.float32)
    out = np.empty_like(x)
    forward(out, x)
    dx = np.full_like(x, np.nan)       # written, never read
    backward(dx, dout, x, out)
    expected = numeric_gradient(lambda v: np.sum(reference(v) * dout), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-5, atol=1e-6)
    backward(dout, dout, x, out)       # in place: dx is dout
    np.testing.assert_array_equal(dout, dx)


def gelu_derivative(x):
    """d/dx of gelu_reference in float64: s + 2 x s (1 - s) du/dx, s = sigmoid(2u)."""
    x = np.asarray(x, dtype=np.float64)
    c = np.sqrt(2.0 / np.pi)
    with np.errstate(over="ignore"):
        s = 1.0 / (1.0 + np.exp(-2.0 * c * (x + 0.044715 * x ** 3)))
    return s + 2.0 * x * s * (1.0 - s) * c * (1.0 + 3.0 * 0.044715 * x ** 2)


def test_gelu_backward_matches_the_analytic_derivative_over_a_wide_range():
    # backward reads the sigmoid back as out / x, and uses its series near 0 (|x| < 1e-3): the
    # range crosses that boundary, reaches 0 and values far below it, and the saturated tails.
    near_zero = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 9.99e-4, -9.99e-4, 1e-3, -1e-3,
                          1.01e-3, -1.01e-3])
    x = np.concatenate([np.linspace(-30, 30, 100_003), near_zero]).astype(np.float32)
    out = np.empty_like(x)
    gelu_forward(out, x)
    dx = np.empty_like(x)
    gelu_backward(dx, np.ones_like(x), x, out)
    np.testing.assert_allclose(dx, gelu_derivative(x), rtol=1e-5, atol=1e-7)


def test_large_arrays_split_across_threads_give_identical_results(with_threads):
    x = (np.random.default_rng(2).standard_normal(100_003) * 4).astype(np.float32)
    dout = np.ones_like(x)

    def run():
        results = []
        for forward, backward in ((gelu_forward, gelu_backward), (relu_forward, relu_backward)):
            out, dx = np.empty_like(x), np.zeros_like(x)
            forward(out, x)
            backward(dx, dout, x, out)
            results += [out, dx]
        return results

    for one, two in zip(with_threads(1, run), with_threads(2, run)):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("forward, backward", [(gelu_forward, gelu_backward),
                                               (relu_forward, relu_backward)])
def test_bad_arguments_raise_value_error_naming_them(forward, backward):
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="x must be float32"):
        forward(np.zeros_like(x), x.astype(np.float64))
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        forward(np.zeros((4, 3), np.float32), x.T)
    with pytest.raises(ValueError, match="out has shape"):
        forward(np.zeros(12, np.float32), x)
    with pytest.raises(ValueError, match="out is read-only"):
        read_only = np.zeros_like(x)
        read_only.flags.writeable = False
        forward(read_only, x)
    out = np.zeros_like(x)
    with pytest.raises(ValueError, match="dout has shape"):
        backward(np.zeros_like(x), np.zeros((3, 5), np.float32), x, out)
    with pytest.raises(ValueError, match="out has shape"):
        backward(np.zeros_like(x), np.zeros_like(x), x, np.zeros(12, np.float32))
    with pytest.raises(ValueError, match="dx overlaps x"):
        backward(x, np.zeros_like(x), x, out)
    with pytest.raises(ValueError, match="dx overlaps out"):
        backward(out, np.zeros_like(x), x, out)
    with pytest.raises(ValueError, match="x must be a numpy.ndarray"):
        forward(np.zeros(3, np.float32), [1.0, 2.0, 3.0])
