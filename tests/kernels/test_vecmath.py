"""The vectorised exp under softmax, cross-entropy and GELU: ulp accuracy at every SIMD level."""
import numpy as np
import pytest

from llm._ext.vecmath import exp_sum

TINY = np.finfo(np.float32).tiny


def ulp_error(value, exact):
    """|value - exact| in units of the last place of exact rounded to float32."""
    return np.abs(value.astype(np.float64) - exact) / np.spacing(exact.astype(np.float32))


def test_exp_within_two_ulp_over_the_normal_range(simd_level):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-87.3, 88.7, 200_000), rng.uniform(-1, 1, 50_000),
                        np.linspace(88.0, 88.72, 1001)]).astype(np.float32)
    out = np.empty_like(x)
    exp_sum(out, x)
    exact = np.exp(x.astype(np.float64))
    assert ulp_error(out, exact).max() <= 2.0
    # Sums are accumulated in float blocks of 256 values, so they overflow near FLT_MAX / 256.
    moderate = x[x < 80]
    assert exp_sum(None, moderate) == pytest.approx(np.exp(moderate.astype(
        np.float64)).sum(), rel=1e-6)


def test_exp_limits_and_denormals(simd_level):
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 88.73, 1e30, -104.0, -1e30], np.float32)
    out = np.empty_like(x)
    exp_sum(out, x)
    assert out[0] == np.inf and out[1] == 0 and np.isnan(out[2]) and out[3] == 1
    assert out[4] == np.inf and out[5] == np.inf and out[6] == 0 and out[7] == 0
    below_normal = np.linspace(-103.0, -87.4, 999).astype(np.float32)
    out = np.empty_like(below_normal)
    exp_sum(out, below_normal)
    exact = np.exp(below_normal.astype(np.float64))
    assert np.all(np.abs(out - exact) <= 2 * np.spacing(np.float32(0)))   # 2 denormal steps


@pytest.mark.parametrize("n", [0, 1, 7, 15, 16, 17, 255, 256, 257, 1000])
def test_shift_tails_in_place_and_sum_only(simd_level, n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    exact = np.exp((x - np.float32(0.5)).astype(np.float64))   # the shift is a float32 subtraction
    assert exp_sum(None, x, 0.5) == pytest.approx(exact.sum(), rel=1e-6, abs=0)
    total = exp_sum(x, x, 0.5)
    assert total == pytest.approx(exact.sum(), rel=1e-6, abs=0)
    assert ulp_error(x, exact).max(initial=0) <= 2.0


def test_bad_arguments():
    x = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="x must be float32"):
        exp_sum(None, x.astype(np.float64))
    with pytest.raises(ValueError, match="out has shape"):
        exp_sum(np.zeros(3, np.float32), x)
