"""Compute-kernel benchmarks: ours against NumPy in the same run.

matmul: GFLOPS of the linear layer's three products — forward (inp @ W), dinp (dout @ Wᵀ) and
dweight (inpᵀ @ dout) — at GPT-2-small-like shapes, against NumPy's matmul (OpenBLAS) doing the
same product. Ours accumulates (+=) in the backward forms, as the training loop needs; NumPy
overwrites, which saves it a read of the output, so the ratio is conservative.

Run all:        python -m pytest benchmarks/test_kernels_bench.py -k matmul
Quick ratio:    python -m pytest benchmarks/test_kernels_bench.py -k "matmul and 768x128x384"
Thread count:   LLM_NUM_THREADS (ours) and OPENBLAS_NUM_THREADS (NumPy); both default to all cores.
A table of GFLOPS and ratios (median times) is printed at the end of the session.
"""
import numpy as np
import pytest

from llm._ext import matmul

pytest.importorskip("pytest_benchmark")

# (M, K, N): inp (M, K) @ W (K, N).
MATMUL_SHAPES = [(768, 128, 384), (768, 128, 512), (768, 512, 128), (16384, 384, 1152),
                 (16384, 384, 1536), (16384, 1536, 384), (1024, 1024, 1024)]
MATMUL_FORMS = ["forward", "dinp", "dweight"]


def shape_id(shape):
    return "x".join(map(str, shape))


@pytest.fixture(scope="module")
def gflops_table(request):
    """Collects (shape, form, implementation) -> GFLOPS and prints the ratios at the end."""
    table = {}
    yield table
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if not table or reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():  # a fixture's teardown output is captured
        reporter.write_line("")
        reporter.write_line("matmul GFLOPS (median time), ours / numpy = ratio:")
        for shape in MATMUL_SHAPES:
            cells = []
            for form in MATMUL_FORMS:
                ours, numpy_ = table.get((shape, form, "ours")), table.get((shape, form, "numpy"))
                if ours and numpy_:
                    cells.append(f"{form} {ours:6.1f} / {numpy_:6.1f} = {ours / numpy_:4.2f}")
            if cells:
                reporter.write_line(f"  {shape_id(shape):>16}  " + "   ".join(cells))


@pytest.fixture(scope="module")
def operands():
    """Random float32 operands per shape, made once (the large ones take ~150 MB)."""
    rng = np.random.default_rng(0)
    cache = {}

    def make(shape):
        if shape not in cache:
            cache.clear()  # keep one shape's arrays alive at a time
            m, k, n = shape
            cache[shape] = {
                "inp": rng.standard_normal((m, k), dtype=np.float32),
                "weight": rng.standard_normal((k, n), dtype=np.float32) * 0.05,
                "dout": rng.standard_normal((m, n), dtype=np.float32),
                "out": np.zeros((m, n), dtype=np.float32),
                "dinp": np.zeros((m, k), dtype=np.float32),
                "dweight": np.zeros((k, n), dtype=np.float32),
            }
        return cache[shape]

    return make


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
    gflops = 2 * m * n * k / benchmark.stats.stats.median / 1e9
    benchmark.extra_info["gflops"] = round(gflops, 1)
    gflops_table[(shape, form, implementation)] = gflops
