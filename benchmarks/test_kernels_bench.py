"""Compute-kernel benchmarks: ours against NumPy in the same run.

matmul: GFLOPS of the linear layer's three products — forward (inp @ W), dinp (dout @ Wᵀ) and
dweight (inpᵀ @ dout) — at GPT-2-small-like shapes, against NumPy's matmul (OpenBLAS) doing the
same product. Ours accumulates (+=) in the backward forms, as the training loop needs; NumPy
overwrites, which saves it a read of the output, so the ratio is conservative.

matmul_one_row: generation's products, one token at a time: x (1, K) @ W (K, N) as matmul_forward
does them, in GB/s of weight read (the weight dominates the traffic), against NumPy's x @ W. The
weights are cycled through copies that fill 8 MB for the small model's shapes (d_model 128: its
3 MB of weights stay in L3 from token to token) and 96 MB for the large model's (d_model 384: 42 MB
a token, more than L3) and for a tied lm head x @ wteᵀ with GPT-2's vocabulary.

Run all:        python -m pytest benchmarks/test_kernels_bench.py -k matmul
Quick ratio:    python -m pytest benchmarks/test_kernels_bench.py -k "matmul and 768x128x384"
Generation:     python -m pytest benchmarks/test_kernels_bench.py -k matmul_one_row
Thread count:   LLM_NUM_THREADS (ours) and OPENBLAS_NUM_THREADS (NumPy); both default to all cores.
Tables of GFLOPS or GB/s and ratios (median times) are printed at the end of the session; the
GFLOPS table ends with the FMA peak of the SIMD level in force on as many threads
(matmul.fma_peak_gflops: FMA chains alone, our own roofline) and our best figure's share of it;
the one-row table with the read bandwidth (matmul.read_bandwidth_gbs: a sum over 256 MB in memory
order) and our best figure's share of that.
AVX2 like for like on an AVX-512 machine: LLM_SIMD=avx2 OPENBLAS_CORETYPE=Haswell (that command
only) — both sides then run 256-bit kernels.
"""
import itertools

import numpy as np
import pytest

from benchmarks.timing import benchmark_median
from llm._ext import matmul, runtime

pytest.importorskip("pytest_benchmark")

# (M, K, N): inp (M, K) @ W (K, N).
MATMUL_SHAPES = [(768, 128, 384), (768, 128, 512), (768, 512, 128), (16384, 384, 1152),
                 (16384, 384, 1536), (16384, 1536, 384), (1024, 1024, 1024)]
MATMUL_FORMS = ["forward", "dinp", "dweight"]


def shape_id(shape):
    return "x".join(map(str, shape))


# Generation: (K, N, transpose_weight, bytes of weight copies cycled through).
ONE_ROW_SHAPES = [(128, 384, False, 8 << 20), (128, 128, False, 8 << 20),
                  (128, 512, False, 8 << 20), (512, 128, False, 8 << 20),
                  (384, 1152, False, 96 << 20), (384, 384, False, 96 << 20),
                  (384, 1536, False, 96 << 20), (1536, 384, False, 96 << 20),
                  (128, 50257, True, 96 << 20)]


# The memory roofline's buffer: 256 MB, past every cache.
READ_PROBE_FLOATS = 64 << 20


def one_row_id(shape):
    k, n, transposed, _ = shape
    return f"1x{k}x{n}" + ("T" if transposed else "")


def print_at_end(request, title, lines):
    """Writes a table under the test results (a fixture's teardown output is captured)."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if not lines or reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(title)
        for line in lines:
            reporter.write_line(line)


@pytest.fixture(scope="module")
def gflops_table(request):
    """Collects (shape, form, implementation) -> GFLOPS and prints the ratios at the end."""
    table = {}
    yield table
    lines = []
    for shape in MATMUL_SHAPES:
        cells = []
        for form in MATMUL_FORMS:
            ours, numpy_ = table.get((shape, form, "ours")), table.get((shape, form, "numpy"))
            if ours and numpy_:
                cells.append(f"{form} {ours:6.1f} / {numpy_:6.1f} = {ours / numpy_:4.2f}")
        if cells:
            lines.append(f"  {shape_id(shape):>16}  " + "   ".join(cells))
    if lines:  # the roofline beside the table, measured at the end, as quiet as the table
        threads, level = runtime.max_threads(), runtime.simd_level()
        peak = matmul.fma_peak_gflops(threads)
        best = max(table[key] for key in table if key[2] == "ours")
        lines.append(f"  FMA peak ({level}, {threads} thread(s), matmul.fma_peak_gflops): "
                     f"{peak:.1f} GFLOPS; our best above is {best / peak:.0%} of it")
    print_at_end(request, "matmul GFLOPS (median time), ours / numpy = ratio:", lines)


@pytest.fixture(scope="module")
def bandwidth_table(request):
    """Collects (shape, implementation) -> GB/s and prints the ratios at the end."""
    table = {}
    yield table
    lines = []
    for shape in ONE_ROW_SHAPES:
        ours, numpy_ = table.get((shape, "ours")), table.get((shape, "numpy"))
        if ours and numpy_:
            lines.append(f"  {one_row_id(shape):>14}  {ours:6.1f} / {numpy_:6.1f} = "
                         f"{ours / numpy_:4.2f}   ({shape[3] >> 20} MB of copies)")
    if lines:  # the roofline beside the table
        threads, level = runtime.max_threads(), runtime.simd_level()
        memory = matmul.read_bandwidth_gbs(np.ones(READ_PROBE_FLOATS, np.float32), threads)
        # the shapes whose copies outgrow L3 (the small model's stay in it, and beat memory)
        from_memory = [gbs for (shape, who), gbs in table.items()
                       if who == "ours" and shape[3] >= 96 << 20]
        lines.append(f"  read bandwidth ({level}, {threads} thread(s), matmul.read_bandwidth_gbs "
                     f"over {READ_PROBE_FLOATS >> 18} MB): {memory:.1f} GB/s; ours from memory "
                     f"(96 MB of copies) {min(from_memory, default=0) / memory:.0%}–"
                     f"{max(from_memory, default=0) / memory:.0%} of it")
    print_at_end(request, "matmul one row: GB/s of weight read (median time), ours / numpy = "
                 "ratio:", lines)


def latest_shape_cache(build):
    """build(shape) memoised for the latest shape only: the benchmarks go shape by shape, and
    keeping one shape's arrays alive at a time bounds the memory (the large ones take ~150 MB)."""
    cache = {}

    def make(shape):
        if shape not in cache:
            cache.clear()
            cache[shape] = build(shape)
        return cache[shape]

    return make


@pytest.fixture(scope="module")
def operands():
    """Random float32 operands per shape, made once."""
    rng = np.random.default_rng(0)

    def build(shape):
        m, k, n = shape
        return {
            "inp": rng.standard_normal((m, k), dtype=np.float32),
            "weight": rng.standard_normal((k, n), dtype=np.float32) * 0.05,
            "dout": rng.standard_normal((m, n), dtype=np.float32),
            "out": np.zeros((m, n), dtype=np.float32),
            "dinp": np.zeros((m, k), dtype=np.float32),
            "dweight": np.zeros((k, n), dtype=np.float32),
        }

    return latest_shape_cache(build)


def matmul_call(implementation, form, arrays):
    inp, weight, dout = arrays["inp"], arrays["weight"], arrays["dout"]
    out, dinp, dweight = arrays["out"], arrays["dinp"], arrays["dweight"]
    if implementation == "ours":
        return {
            "forward": lambda: matmul.matmul_forward(out, inp, weight),
            "dinp": lambda: matmul.matmul_backward(dinp, None, None, dout, inp, weight),
            "dweight": lambda: matmul.matmul_backward(None, dweight, None, dout, inp, weight),
        }[form]
    return {
        "forward": lambda: np.matmul(inp, weight, out=out),
        "dinp": lambda: np.matmul(dout, weight.T, out=dinp),
        "dweight": lambda: np.matmul(inp.T, dout, out=dweight),
    }[form]


@pytest.mark.parametrize("implementation", ["ours", "numpy"])
@pytest.mark.parametrize("form", MATMUL_FORMS)
@pytest.mark.parametrize("shape", MATMUL_SHAPES, ids=shape_id)
def test_matmul(benchmark, gflops_table, operands, shape, form, implementation):
    m, k, n = shape
    benchmark.group = f"matmul {shape_id(shape)} {form}"
    call = matmul_call(implementation, form, operands(shape))
    call()  # warm up: page in the output, wake the thread pool
    benchmark.pedantic(call, rounds=max(5, min(200, int(2e10 / (2 * m * n * k)))), warmup_rounds=2)
    median = benchmark_median(benchmark)
    if median is None:
        return
    gflops = 2 * m * n * k / median / 1e9
    benchmark.extra_info["gflops"] = round(gflops, 1)
    gflops_table[(shape, form, implementation)] = gflops


@pytest.fixture(scope="module")
def one_row_operands():
    """x (1, K) and copies of W per shape, made once (up to 96 MB)."""
    rng = np.random.default_rng(1)

    def build(shape):
        k, n, transposed, working_set = shape
        copies = max(2, -(-working_set // (4 * k * n)))
        weight_shape = (n, k) if transposed else (k, n)
        return (rng.standard_normal((1, k), dtype=np.float32),
                [rng.random(weight_shape, dtype=np.float32) for _ in range(copies)])

    return latest_shape_cache(build)


@pytest.mark.parametrize("implementation", ["ours", "numpy"])
@pytest.mark.parametrize("shape", ONE_ROW_SHAPES, ids=one_row_id)
def test_matmul_one_row(benchmark, bandwidth_table, one_row_operands, shape, implementation):
    k, n, transposed, _ = shape
    benchmark.group = f"matmul_one_row {one_row_id(shape)}"
    x, weights = one_row_operands(shape)
    out = np.empty((1, n), dtype=np.float32)
    next_weight = itertools.cycle(weights).__next__
    if implementation == "ours":
        def call():
            matmul.matmul_forward(out, x, next_weight(), transpose_weight=transposed)
    else:
        def call():
            weight = next_weight()
            np.matmul(x, weight.T if transposed else weight, out=out)
    call()
    benchmark.pedantic(call, rounds=30, iterations=len(weights), warmup_rounds=1)
    median = benchmark_median(benchmark)
    if median is None:
        return
    gbs = 4 * k * n / median / 1e9
    benchmark.extra_info["gbs"] = round(gbs, 1)
    bandwidth_table[(shape, implementation)] = gbs
