"""llm/_ext/matmul (csrc/matmul.c): GEMM against float64 NumPy, the linear layer's forward and
backward (finite differences), thread-count agreement and argument errors."""
import os

import numpy as np
import pytest

import llm
from llm._ext import half, matmul

# Sizes around the micro-tile and cache-block edges of every micro-kernel (MR 4/6/12, NR 16/32,
# MC 128/144, KC 256/384), the few-row path (M <= 4) and 1. Whole MR-row panels of a row-major A
# are read in place and a partial one packed; with AVX-512, so are op(B)'s NR-column panels in k
# slices over 256 (k = 260, 513, 769).
ODD_SIZES = [(1, 1, 1), (1, 300, 17), (3, 17, 65), (17, 1, 3), (65, 127, 33), (127, 3, 300),
             (300, 65, 127), (169, 257, 1), (2, 513, 2), (145, 260, 129), (13, 769, 40)]


def random(rng, *shape):
    return rng.standard_normal(shape, dtype=np.float32)


def tolerance(k):
    """float32 accumulation over k terms of products of standard normals: error ~ sqrt(k) * eps."""
    return 1e-5 * (1 + np.sqrt(k)) * 4


def reference(a, b, trans_a, trans_b):
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    return (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m, k, n", ODD_SIZES)
def test_gemm_matches_float64_numpy(m, k, n, trans_a, trans_b, simd_level):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = random(rng, *((k, m) if trans_a else (m, k)))
    b = random(rng, *((n, k) if trans_b else (k, n)))
    c = np.full((m, n), np.nan, dtype=np.float32)  # beta = 0 must not read C
    matmul.gemm(c, a, b, trans_a=trans_a, trans_b=trans_b)
    np.testing.assert_allclose(c, reference(a, b, trans_a, trans_b), rtol=0, atol=tolerance(k))


@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.25), (2.0, 0.0)])
def test_gemm_alpha_beta(alpha, beta, simd_level):
    rng = np.random.default_rng(1)
    m, k, n = 37, 800, 70  # k spans several KC slices: later slices accumulate onto the first
    a, b, c0 = random(rng, m, k), random(rng, k, n), random(rng, m, n)
    c = c0.copy()
    matmul.gemm(c, a, b, alpha=alpha, beta=beta)
    expected = alpha * reference(a, b, False, False) + beta * c0.astype(np.float64)
    np.testing.assert_allclose(c, expected, rtol=0, atol=tolerance(k) * 3)


@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m", range(1, 9))
def test_few_rows_every_row_count(m, trans_b, simd_level):
    """The few-row path (m <= 8) has an instance per row count; n = 405 leaves a partial strip of
    every kernel's widths, k = 165 a partial vector, and B (267 KB) is split by 2 threads."""
    rng = np.random.default_rng(m)
    k, n = 165, 405
    a = random(rng, m, k)
    b = random(rng, *((n, k) if trans_b else (k, n)))
    c0 = random(rng, m, n)
    expected = 0.5 * reference(a, b, False, trans_b) - 2.0 * c0.astype(np.float64)
    for threads in (1, 2):
        llm.set_num_threads(threads)
        c = c0.copy()
        matmul.gemm(c, a, b, trans_b=trans_b, alpha=0.5, beta=-2.0)
        np.testing.assert_allclose(c, expected, rtol=0, atol=tolerance(k) * 3)


@pytest.mark.parametrize("transpose_weight", [False, True])
@pytest.mark.parametrize("m", [1, 3, 8])
def test_few_rows_forward_with_bias_streams_every_row_of_b(m, transpose_weight, simd_level):
    """The few-row forward with a bias: C starts from the bias and B's rows are added in blocks
    of 8 (k = 803: 100 blocks and 3 rows left over), or B's columns read 8 at a time
    (n = 1029: 128 passes and 5 columns left over); C is not read (NaN there stays out)."""
    rng = np.random.default_rng(10 + m)
    k, n = 803, 1029
    inp = random(rng, m, k)
    weight = random(rng, *((n, k) if transpose_weight else (k, n)))
    bias = random(rng, n)
    w64 = weight.astype(np.float64)
    expected = inp.astype(np.float64) @ (w64.T if transpose_weight else w64) + bias
    for threads in (1, 2):
        llm.set_num_threads(threads)
        out = np.full((m, n), np.nan, dtype=np.float32)
        matmul.matmul_forward(out, inp, weight, bias, transpose_weight=transpose_weight)
        np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance(k))


def test_gemm_with_k_zero_scales_c():
    c = np.full((3, 4), 2.0, dtype=np.float32)
    matmul.gemm(c, np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32), beta=0.5)
    np.testing.assert_array_equal(c, 1.0)
    c[0, 0] = np.nan
    matmul.gemm(c, np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32), beta=0.0)
    np.testing.assert_array_equal(c, 0.0)


@pytest.mark.parametrize("transpose_weight", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_forward_matches_numpy_with_leading_dims(transpose_weight, with_bias, simd_level):
    rng = np.random.default_rng(2)
    batch, time, k, n = 3, 17, 65, 129
    inp = random(rng, batch, time, k)
    weight = random(rng, *((n, k) if transpose_weight else (k, n)))
    bias = random(rng, n) if with_bias else None
    out = np.full((batch, time, n), np.nan, dtype=np.float32)
    matmul.matmul_forward(out, inp, weight, bias, transpose_weight=transpose_weight)
    w64 = weight.astype(np.float64)
    expected = inp.astype(np.float64) @ (w64.T if transpose_weight else w64)
    if with_bias:
        expected += bias
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance(k))


def loss_and_forward(inp, weight, bias, dout, transpose_weight):
    """L = sum(out * dout) in float64, so dL/dout = dout."""
    w = weight.T if transpose_weight else weight
    return float(np.sum((inp.astype(np.float64) @ w + bias) * dout))


@pytest.mark.parametrize("transpose_weight", [False, True])
def test_backward_matches_finite_differences(transpose_weight):
    rng = np.random.default_rng(3)
    m, k, n = 7, 5, 6
    inp, dout, bias = random(rng, 2, m, k), random(rng, 2, m, n), random(rng, n)
    weight = random(rng, *((n, k) if transpose_weight else (k, n)))
    # Gradients accumulate onto what is already there.
    start = {"inp": random(rng, *inp.shape), "weight": random(rng, *weight.shape),
             "bias": random(rng, n)}
    grads = {name: g.copy() for name, g in start.items()}
    matmul.matmul_backward(grads["inp"], grads["weight"], grads["bias"], dout, inp, weight,
                           transpose_weight=transpose_weight)
    params = {"inp": inp.astype(np.float64), "weight": weight.astype(np.float64),
              "bias": bias.astype(np.float64)}
    eps = 1e-4
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            saved = value[index]
            value[index] = saved + eps
            up = loss_and_forward(params["inp"], params["weight"], params["bias"], dout,
                                  transpose_weight)
            value[index] = saved - eps
            down = loss_and_forward(params["inp"], params["weight"], params["bias"], dout,
                                    transpose_weight)
            value[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[name] - start[name], numeric, rtol=1e-4, atol=1e-4,
                                   err_msg=name)


@pytest.mark.parametrize("transpose_weight", [False, True])
def test_backward_at_larger_shape_matches_numpy_and_skips_none(transpose_weight):
    rng = np.random.default_rng(4)
    m, k, n = 300, 127, 65
    inp, dout = random(rng, m, k), random(rng, m, n)
    weight = random(rng, *((n, k) if transpose_weight else (k, n)))
    dinp, dweight, dbias = random(rng, m, k), random(rng, *weight.shape), random(rng, n)
    expected_dinp = dinp + dout.astype(np.float64) @ (weight if transpose_weight else weight.T)
    dw = inp.T.astype(np.float64) @ dout
    expected_dweight = dweight + (dw.T if transpose_weight else dw)
    expected_dbias = dbias + dout.astype(np.float64).sum(axis=0)
    matmul.matmul_backward(dinp, None, None, dout, inp, weight, transpose_weight=transpose_weight)
    matmul.matmul_backward(None, dweight, None, dout, inp, weight,
                           transpose_weight=transpose_weight)
    matmul.matmul_backward(None, None, dbias, dout, inp, weight, transpose_weight=transpose_weight)
    np.testing.assert_allclose(dinp, expected_dinp, rtol=0, atol=tolerance(n))
    np.testing.assert_allclose(dweight, expected_dweight, rtol=0, atol=tolerance(m))
    np.testing.assert_allclose(dbias, expected_dbias, rtol=0, atol=tolerance(m))


@pytest.mark.parametrize("transpose_weight", [False, True])
@pytest.mark.parametrize("m, k, n", [(300, 127, 65), (800, 64, 96)])   # k-sliced: m > kc
def test_backward_without_accumulate_writes_weight_grads_and_adds_dinp(m, k, n, transpose_weight,
                                                                      simd_level):
    rng = np.random.default_rng(5)
    inp, dout = random(rng, m, k), random(rng, m, n)
    weight = random(rng, *((n, k) if transpose_weight else (k, n)))
    dinp = random(rng, m, k)
    expected_dinp = dinp.copy()
    expected_dweight, expected_dbias = np.zeros_like(weight), np.zeros(n, np.float32)
    matmul.matmul_backward(expected_dinp, expected_dweight, expected_dbias, dout, inp, weight,
                           transpose_weight=transpose_weight)
    dweight, dbias = np.full_like(weight, np.nan), np.full(n, np.nan, np.float32)  # never read
    matmul.matmul_backward(dinp, dweight, dbias, dout, inp, weight,
                           transpose_weight=transpose_weight, accumulate_weights=False)
    np.testing.assert_array_equal(dinp, expected_dinp)
    np.testing.assert_array_equal(dweight, expected_dweight)
    np.testing.assert_array_equal(dbias, expected_dbias)


# Few rows; rows split; columns split; a single tile (one thread's block is empty).
@pytest.mark.parametrize("m, k, n", [(1, 768, 1000), (513, 300, 200), (64, 1100, 2100),
                                     (10, 3000, 30)])
def test_one_and_two_threads_agree(m, k, n):
    rng = np.random.default_rng(5)
    a, b = random(rng, m, k), random(rng, n, k)
    results = []
    for threads in (1, 2):
        llm.set_num_threads(threads)
        c = np.empty((m, n), dtype=np.float32)
        matmul.gemm(c, a, b, trans_b=True)
        results.append(c)
    # Every element sums its k products in the same order whatever the split, so the results
    # are in fact identical; the issue asks for agreement to 1e-5.
    np.testing.assert_allclose(results[0], results[1], rtol=0, atol=1e-5)


def test_concurrent_calls_from_python_threads_are_independent():
    """The GIL is released and each calling thread has its own packing workspace."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(6)
    problems = [(random(rng, m, 300), random(rng, 300, 129)) for m in (5, 40, 200, 333)] * 3

    def product(operands):
        a, b = operands
        return matmul.gemm(np.empty((a.shape[0], b.shape[1]), dtype=np.float32), a, b)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(product, problems))
    for (a, b), c in zip(problems, results):
        np.testing.assert_allclose(c, reference(a, b, False, False), rtol=0, atol=tolerance(300))


def test_bad_arguments_raise_value_error_naming_them():
    f32 = np.float32
    inp, weight = np.zeros((4, 129), f32), np.zeros((128, 384), f32)
    out = np.zeros((4, 384), f32)
    with pytest.raises(ValueError,
                       match=r"weight has shape \(128, 384\).*inp's last dimension is 129"):
        matmul.matmul_forward(out, inp, weight)
    inp = np.zeros((4, 128), f32)
    with pytest.raises(ValueError, match="inp must be float32, got float64"):
        matmul.matmul_forward(out, inp.astype(np.float64), weight)
    with pytest.raises(ValueError, match="weight must be C-contiguous"):
        matmul.matmul_forward(out, inp, np.zeros((384, 128), f32).T)
    with pytest.raises(ValueError, match=r"out has shape \(4, 383\)"):
        matmul.matmul_forward(np.zeros((4, 383), f32), inp, weight)
    with pytest.raises(ValueError, match=r"bias has shape \(383,\)"):
        matmul.matmul_forward(out, inp, weight, np.zeros(383, f32))
    with pytest.raises(ValueError, match="bias must be float32, got float64"):
        matmul.matmul_forward(out, inp, weight, np.zeros(384))
    with pytest.raises(ValueError, match=r"out has shape \(2, 2, 384\); expected \(4, 384\)"):
        matmul.matmul_forward(np.zeros((2, 2, 384), f32), inp, weight)
    with pytest.raises(ValueError, match="out overlaps inp"):
        square = np.zeros((4, 4), f32)
        matmul.matmul_forward(square, square, np.zeros((4, 4), f32))
    with pytest.raises(ValueError, match="out is read-only"):
        out.setflags(write=False)
        matmul.matmul_forward(out, inp, weight)
    with pytest.raises(ValueError, match="dweight has shape"):
        matmul.matmul_backward(None, np.zeros((384, 128), f32), None, np.zeros((4, 384), f32),
                               inp, weight)
    with pytest.raises(ValueError, match=r"dinp has shape \(4, 127\)"):
        matmul.matmul_backward(np.zeros((4, 127), f32), None, None, np.zeros((4, 384), f32), inp,
                               weight)
    with pytest.raises(ValueError, match=r"dbias is read-only"):
        dbias = np.zeros(384, f32)
        dbias.setflags(write=False)
        matmul.matmul_backward(None, None, dbias, np.zeros((4, 384), f32), inp, weight)
    with pytest.raises(ValueError, match=r"dout has shape \(4, 385\)"):
        matmul.matmul_backward(None, None, None, np.zeros((4, 385), f32), inp, weight)
    with pytest.raises(ValueError, match="dinp overlaps dweight"):
        shared = np.zeros((128, 128), f32)
        matmul.matmul_backward(shared, shared, None, np.zeros((128, 128), f32),
                               np.zeros((128, 128), f32), np.zeros((128, 128), f32))
    with pytest.raises(ValueError, match=r"b has shape \(3, 5\)"):
        matmul.gemm(np.zeros((2, 5), f32), np.zeros((2, 4), f32), np.zeros((3, 5), f32))
    with pytest.raises(ValueError, match=r"c has shape \(2, 4\); expected \(2, 5\)"):
        matmul.gemm(np.zeros((2, 4), f32), np.zeros((2, 3), f32), np.zeros((3, 5), f32))
    with pytest.raises(ValueError, match="a has shape"):
        matmul.gemm(np.zeros((2, 5), f32), np.zeros(6, f32), np.zeros((3, 5), f32))
    with pytest.raises(ValueError, match="a must be a numpy.ndarray, got list"):
        matmul.gemm(np.zeros((2, 5), f32), [[1.0]], np.zeros((3, 5), f32))


# ---------------------------------------------------------------- 16-bit weights

def half_weights(rng, shape, kind):
    """(uint16 bits of kind, their exact float64 values): random normal weights rounded."""
    w = random(rng, *shape)
    bits = half.to_half(np.empty(shape, np.uint16), w, kind)
    return bits, half.to_float(np.empty(shape, np.float32), bits, kind).astype(np.float64)


# m = 1..9 covers every few-row instance (m <= 8, B widened in registers) and the packed GEMM
# path (m = 9, B widened while packed); n not a multiple of 8 or 16 and k odd leave partial
# vectors in both orientations; (20, 300, 1000) spans several k slices and column blocks.
HALF_SIZES = [(m, 165, 405) for m in range(1, 10)] + \
             [(1, 1, 1), (3, 7, 5), (9, 33, 17), (20, 300, 1000), (13, 769, 40)]


@pytest.mark.parametrize("kind", ["bf16", "f16"])
@pytest.mark.parametrize("transpose_weight", [False, True])
@pytest.mark.parametrize("m, k, n", HALF_SIZES)
def test_forward_half_matches_float64_numpy_of_the_widened_weights(m, k, n, transpose_weight,
                                                                   kind, simd_level):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    x, bias = random(rng, m, k), random(rng, n)
    bits, w = half_weights(rng, (n, k) if transpose_weight else (k, n), kind)
    expected = x.astype(np.float64) @ (w.T if transpose_weight else w) + bias
    for threads in (1, 2):
        llm.set_num_threads(threads)
        out = np.full((m, n), np.nan, np.float32)
        matmul.matmul_forward(out, x, bits, bias, transpose_weight=transpose_weight, kind=kind)
        # the products are exact in float32 (the weights' values are float32): float32 sums only
        np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance(k))


@pytest.mark.parametrize("kind", ["bf16", "f16"])
def test_forward_half_with_leading_dims_and_no_bias(kind, simd_level):
    rng = np.random.default_rng(5)
    x = random(rng, 2, 3, 64)
    bits, w = half_weights(rng, (64, 48), kind)
    out = np.empty((2, 3, 48), np.float32)
    matmul.matmul_forward(out, x, bits, kind=kind)
    np.testing.assert_allclose(out, x.astype(np.float64) @ w, rtol=0, atol=tolerance(64))


def test_forward_half_bad_arguments_raise_value_error_naming_them():
    f32 = np.float32
    inp, out = np.zeros((4, 128), f32), np.zeros((4, 384), f32)
    bits = np.zeros((128, 384), np.uint16)
    with pytest.raises(ValueError, match="kind='fp8'"):
        matmul.matmul_forward(out, inp, bits, kind="fp8")
    with pytest.raises(ValueError, match="weight must be uint16, got float32"):
        matmul.matmul_forward(out, inp, bits.astype(f32), kind="bf16")
    with pytest.raises(ValueError, match="weight must be uint16, got float16"):
        matmul.matmul_forward(out, inp, bits.view(np.float16), kind="f16")
    with pytest.raises(ValueError, match=r"weight has shape \(128, 384\).*inp's last dimension"):
        matmul.matmul_forward(out, np.zeros((4, 129), f32), bits, kind="bf16")
    with pytest.raises(ValueError, match=r"weight has shape \(128, 384\) \(transpose_weight=Tr"):
        matmul.matmul_forward(out, inp, bits, transpose_weight=True, kind="bf16")
    with pytest.raises(ValueError, match="weight must be C-contiguous"):
        matmul.matmul_forward(out, inp, np.zeros((384, 128), np.uint16).T, kind="f16")
    with pytest.raises(ValueError, match=r"out has shape \(4, 383\)"):
        matmul.matmul_forward(np.zeros((4, 383), f32), inp, bits, kind="f16")
    with pytest.raises(ValueError, match=r"bias has shape \(383,\)"):
        matmul.matmul_forward(out, inp, bits, np.zeros(383, f32), kind="f16")
    with pytest.raises(ValueError, match="weight must be a numpy.ndarray"):
        matmul.matmul_forward(out, inp, None, kind="f16")


def test_fma_peak_bounds_the_gemm_and_rejects_no_threads(simd_level):
    """The roofline the benchmarks report: no GEMM at the same level runs faster than it (a
    probe that measured latency-bound chains, or half the vector width, would fail here)."""
    import time

    llm.set_num_threads(1)
    rng = np.random.default_rng(11)
    a, b = random(rng, 288, 256), random(rng, 256, 512)
    c = np.empty((288, 512), dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        matmul.gemm(c, a, b)
        best = min(best, time.perf_counter() - start)
    peak = matmul.fma_peak_gflops(1)
    assert np.isfinite(peak) and peak > 0
    assert 2 * 288 * 256 * 512 / best / 1e9 <= 1.2 * peak
    with pytest.raises(ValueError, match="threads=0"):
        matmul.fma_peak_gflops(0)


def test_read_bandwidth_sees_the_memory_level_and_rejects_bad_input(simd_level):
    """The memory roofline the one-row benchmarks report: data in L2 streams several times faster
    than data from DRAM (a probe that skipped its reads, or timed nothing, would not tell them
    apart)."""
    llm.set_num_threads(1)
    in_cache, in_memory = np.ones(128 << 10, np.float32), np.ones(32 << 20, np.float32)
    cached, memory = matmul.read_bandwidth_gbs(in_cache), matmul.read_bandwidth_gbs(in_memory)
    assert np.isfinite(memory) and memory > 0
    # AddressSanitizer (scripts/asan_tests.sh) checks every load: the scalar level's probe then
    # runs slower than memory whatever the buffer
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        assert cached > 1.5 * memory
    with pytest.raises(ValueError, match="threads=0"):
        matmul.read_bandwidth_gbs(in_cache, threads=0)
    with pytest.raises(ValueError, match="empty"):
        matmul.read_bandwidth_gbs(np.ones(0, np.float32))
    with pytest.raises(ValueError, match="x"):
        matmul.read_bandwidth_gbs(np.ones(16, np.float64))
