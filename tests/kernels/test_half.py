"""llm/_ext/half (csrc/half.h): float32 to bfloat16 / IEEE half bits and back. f16 against
NumPy's float16 (round to nearest even, overflow to infinity, subnormals); bf16 against a
reference that picks the nearer of the two neighbouring bf16 values in float64."""
import numpy as np
import pytest

from llm._ext import half


def to_half(x, kind):
    return half.to_half(np.empty(x.shape, np.uint16), x, kind)


def to_float(h, kind):
    return half.to_float(np.empty(h.shape, np.float32), h, kind)


def awkward_floats(rng, n=200_000):
    """Random floats of every magnitude, plus the edges: zeros, infinities, NaN, f16's largest
    finite value and the halfway points around it, subnormals of both formats, and exact ties
    of both formats' rounding."""
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, 65504, 65519.996, 65520, -65520,
                      65536, 2**-14, 2**-24, 2**-25, 2**-25 * 1.0001, 3 * 2**-25, 1e-45,
                      np.finfo(np.float32).max, np.finfo(np.float32).tiny], np.float32)
    ties = np.arange(0x3F800000, 0x3F800000 + 2**20, 2**12, dtype=np.uint32)  # ..., halfway, ...
    return np.concatenate([x, edges, ties.view(np.float32), (ties | 0x8000).view(np.float32)])


def bf16_value(h):
    """The float64 value of bf16 patterns h (uint32), an all-ones exponent read as 2^128 (the
    next power past the largest finite value: what IEEE rounding with an unbounded exponent
    compares with before it overflows)."""
    sign = np.where(h & 0x8000, -1.0, 1.0)
    exponent, mantissa = (h >> 7) & 0xFF, h & 0x7F
    normal = sign * (1 + mantissa / 128) * np.exp2(exponent.astype(np.float64) - 127)
    subnormal = sign * mantissa / 128 * 2.0**-126
    return np.where(exponent == 0, subnormal, np.where(exponent == 0xFF, sign * 2.0**128, normal))


def bf16_reference(x):
    """The nearest bf16 of each finite float, ties to the even bit pattern."""
    down = (x.view(np.uint32) >> 16).astype(np.uint32)     # toward zero
    up = down + 1                                          # away from zero
    exact = x.astype(np.float64)
    error_down, error_up = np.abs(bf16_value(down) - exact), np.abs(bf16_value(up) - exact)
    take_up = (error_up < error_down) | ((error_up == error_down) & (down % 2 == 1))
    return np.where(take_up, up, down).astype(np.uint16)


def test_f16_matches_numpy_float16_bit_for_bit():
    x = awkward_floats(np.random.default_rng(0))
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16).view(np.uint16)
    got = to_half(x, "f16")
    nan = np.isnan(x)
    np.testing.assert_array_equal(got[~nan], expected[~nan])
    # NaN stays NaN (quiet) with its sign
    back = to_float(got[nan], "f16")
    assert np.isnan(back).all()
    np.testing.assert_array_equal(np.signbit(back), np.signbit(x[nan]))
    assert (got[nan] & 0x0200).all()


def test_f16_edges():
    x = np.array([65504, 65519.99, 65520, 1e6, -np.inf, 2**-24, 2**-25, 3 * 2**-25, 2**-26],
                 np.float32)
    back = to_float(to_half(x, "f16"), "f16")
    np.testing.assert_array_equal(back, [65504, 65504, np.inf, np.inf, -np.inf, 2**-24, 0,
                                         2**-23, 0])


def test_bf16_rounds_to_nearest_even():
    x = awkward_floats(np.random.default_rng(1))
    got = to_half(x, "bf16")
    finite, nan = np.isfinite(x), np.isnan(x)
    np.testing.assert_array_equal(got[finite], bf16_reference(x[finite]))
    np.testing.assert_array_equal(to_float(got[np.isinf(x)], "bf16"), x[np.isinf(x)])
    back = to_float(got[nan], "bf16")
    assert np.isnan(back).all()
    np.testing.assert_array_equal(np.signbit(back), np.signbit(x[nan]))
    # exact values: 1 + 2^-8 is halfway between 1 and 1 + 2^-7, and goes to the even 1
    tie = np.array([1 + 2**-8, 1 + 3 * 2**-8, np.finfo(np.float32).max], np.float32)
    np.testing.assert_array_equal(to_float(to_half(tie, "bf16"), "bf16"),
                                  [1, 1 + 2**-6, np.inf])


@pytest.mark.parametrize("kind", ["bf16", "f16"])
def test_widening_is_exact_for_every_bit_pattern(kind):
    h = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    x = to_float(h, kind)
    if kind == "f16":
        expected = h.view(np.float16).astype(np.float32)
    else:
        expected = (h.astype(np.uint32) << 16).view(np.float32)
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(x), nan)
    np.testing.assert_array_equal(x[~nan], expected[~nan])
    # and back: every non-NaN pattern survives the round trip
    np.testing.assert_array_equal(to_half(x, kind)[~nan], h[~nan])


def test_bad_arguments_raise_value_error_naming_them():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="kind='f8'"):
        to_half(x, "f8")
    with pytest.raises(ValueError, match="x must be float32"):
        half.to_half(np.empty(3, np.uint16), np.zeros(3), "bf16")
    with pytest.raises(ValueError, match=r"out has shape \(3,\)"):
        half.to_half(np.empty(3, np.uint16), x, "bf16")
    with pytest.raises(ValueError, match="h must be uint16"):
        half.to_float(np.empty(3, np.float32), np.zeros(3, np.int16), "f16")
