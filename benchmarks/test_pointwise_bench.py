"""Pointwise and row kernels against NumPy and PyTorch (CPU) doing the same work, same run.

LayerNorm forward/backward (4096 x 768), GELU forward/backward (4096 x 3072), fused
cross-entropy forward+backward at V = 50257 (GPT-2) and V = 65 (characters), AdamW over 10M
parameters, embedding forward/backward. Each case's callables run in turn, round after round,
so all see the same machine noise; the table printed
at the end gives median milliseconds and the peers' time over ours (> 1: we are faster).
PyTorch uses the same thread count as our kernels (LLM_NUM_THREADS, default all cores) and is
called at its kernel level where that exists (aten.*_backward), so autograd is not timed;
"torch" allocates its outputs as its functional API does, "torch_out" writes into preallocated
arrays through the aten .out overloads (no page faults on fresh output buffers), as ours does.

    python -m pytest benchmarks/test_pointwise_bench.py
"""

import numpy as np
import pytest
from llm._ext.activation import gelu_backward, gelu_forward
from llm._ext.adamw import adamw_step
from llm._ext.crossentropy import crossentropy_forward_backward
from llm._ext.embedding import embedding_backward, embedding_forward
from llm._ext.layernorm import layernorm_backward, layernorm_forward

from benchmarks.timing import interleaved_medians, thread_count

pytest.importorskip("pytest_benchmark")
try:
    import torch
    torch.set_num_threads(thread_count())
except ImportError:
    torch = None

ROUNDS = 15
rng = np.random.default_rng(0)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)


# ---- NumPy equivalents (float32, in place where NumPy allows) ----

def numpy_layernorm_forward(x, weight, bias, eps=1e-5):
    mean = x.mean(axis=1, keepdims=True)
    centred = x - mean
    rstd = 1 / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + eps)
    return centred * rstd * weight + bias, mean, rstd


def numpy_layernorm_backward(dout, x, weight, mean, rstd):
    norm = (x - mean) * rstd
    dnorm = dout * weight
    dx = rstd * (dnorm - dnorm.mean(axis=1, keepdims=True)
                 - norm * (dnorm * norm).mean(axis=1, keepdims=True))
    return dx, (dout * norm).sum(axis=0), dout.sum(axis=0)


def numpy_gelu(x):
    return 0.5 * x * (1 + np.tanh(np.float32(0.7978845608) * (x + np.float32(0.044715) * x ** 3)))


def numpy_gelu_backward(dout, x):
    u = np.float32(0.7978845608) * (x + np.float32(0.044715) * x ** 3)
    t = np.tanh(u)
    du = np.float32(0.7978845608) * (1 + np.float32(3 * 0.044715) * x * x)
    return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)


def numpy_crossentropy(logits, targets):
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    sums = e.sum(axis=1, keepdims=True)
    rows = np.arange(len(targets))
    loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, targets]))
    e /= sums
    e[rows, targets] -= 1
    e /= len(targets)
    return loss, e


def numpy_adamw(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    p *= 1 - lr * weight_decay
    m += (1 - beta1) * (g - m)
    v *= beta2
    v += (1 - beta2) * g * g
    denom = np.sqrt(v) / np.sqrt(1 - beta2 ** step) + eps
    p -= lr / (1 - beta1 ** step) * m / denom


# ---- the cases: name -> {implementation: callable} ----

def layernorm_case(backward):
    N, C = 4096, 768
    x, weight, bias, dout = randn(N, C), randn(C), randn(C), randn(N, C)
    out, mean, rstd = np.empty_like(x), np.empty(N, np.float32), np.empty(N, np.float32)
    layernorm_forward(out, mean, rstd, x, weight, bias)
    dx, dweight, dbias = np.zeros_like(x), np.zeros(C, np.float32), np.zeros(C, np.float32)
    n_mean, n_rstd = mean[:, None], rstd[:, None]
    if backward:
        cases = {"ours": lambda: layernorm_backward(dx, dweight, dbias, dout, x, weight,
                                                    mean, rstd),
                 "numpy": lambda: numpy_layernorm_backward(dout, x, weight, n_mean, n_rstd)}
    else:
        cases = {"ours": lambda: layernorm_forward(out, mean, rstd, x, weight, bias),
                 "numpy": lambda: numpy_layernorm_forward(x, weight, bias)}
    if torch is not None:
        tx, tw, tb, td = map(torch.from_numpy, (x, weight, bias, dout))
        tmean, trstd = torch.from_numpy(mean)[:, None], torch.from_numpy(rstd)[:, None]
        t_outputs = (torch.empty(N, C), torch.empty(C), torch.empty(C)) if backward else \
            (torch.empty(N, C), torch.empty(N, 1), torch.empty(N, 1))
        if backward:
            arguments = (td, tx, [C], tmean, trstd, tw, tb, [True, True, True])
            cases["torch"] = lambda: torch.ops.aten.native_layer_norm_backward(*arguments)
            cases["torch_out"] = lambda: torch.ops.aten.native_layer_norm_backward.out(
                *arguments, out0=t_outputs[0], out1=t_outputs[1], out2=t_outputs[2])
        else:
            cases["torch"] = lambda: torch.ops.aten.native_layer_norm(tx, [C], tw, tb, 1e-5)
            cases["torch_out"] = lambda: torch.ops.aten.native_layer_norm.out(
                tx, [C], tw, tb, 1e-5, out0=t_outputs[0], out1=t_outputs[1], out2=t_outputs[2])
    return cases


def gelu_case(backward):
    x, dout = randn(4096, 3072), randn(4096, 3072)
    out, dx = np.empty_like(x), np.zeros_like(x)
    if backward:
        gelu_forward(out, x)   # backward reads the forward's output
        cases = {"ours": lambda: gelu_backward(dx, dout, x, out),
                 "numpy": lambda: numpy_gelu_backward(dout, x)}
    else:
        cases = {"ours": lambda: gelu_forward(out, x), "numpy": lambda: numpy_gelu(x)}
    if torch is not None:
        tx, td, t_out = torch.from_numpy(x), torch.from_numpy(dout), torch.empty(x.shape)
        if backward:
            cases["torch"] = lambda: torch.ops.aten.gelu_backward(td, tx, approximate="tanh")
            cases["torch_out"] = lambda: torch.ops.aten.gelu_backward.grad_input(
                td, tx, approximate="tanh", grad_input=t_out)
        else:
            cases["torch"] = lambda: torch.nn.functional.gelu(tx, approximate="tanh")
            cases["torch_out"] = lambda: torch.ops.aten.gelu.out(tx, approximate="tanh",
                                                                 out=t_out)
    return cases


def crossentropy_case(N, V):
    logits = randn(N, V, scale=2.0)
    targets = rng.integers(0, V, N).astype(np.int32)
    dlogits = np.empty_like(logits)
    cases = {"ours": lambda: crossentropy_forward_backward(dlogits, logits, targets),
             "numpy": lambda: numpy_crossentropy(logits, targets)}
    if torch is not None:
        t_logits = torch.from_numpy(logits).requires_grad_(True)
        t_targets = torch.from_numpy(targets).long()

        def torch_forward_backward():
            t_logits.grad = None
            torch.nn.functional.cross_entropy(t_logits, t_targets).backward()

        cases["torch"] = torch_forward_backward
    return cases


def adamw_case():
    n = 10_000_000
    params, grads = randn(n), randn(n, scale=1e-2)
    m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
    hyper = dict(lr=1e-4, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
    np_state = [params.copy(), m.copy(), v.copy()]
    cases = {"ours": lambda: adamw_step(params, grads, m, v, **hyper, step=10),
             "numpy": lambda: numpy_adamw(np_state[0], grads, np_state[1], np_state[2],
                                          **hyper, step=10)}
    if torch is not None:
        for name, options in (("torch", {}), ("torch_fused", {"fused": True})):
            tensor = torch.nn.Parameter(torch.from_numpy(params.copy()))
            tensor.grad = torch.from_numpy(grads)
            optimizer = torch.optim.AdamW([tensor], lr=hyper["lr"], betas=(0.9, 0.95),
                                          eps=1e-8, weight_decay=0.1, **options)
            cases[name] = optimizer.step
    return cases


def embedding_case(backward):
    V, C, N = 50257, 768, 4096
    table, dtable = randn(V, C), np.zeros((V, C), np.float32)
    ids = rng.integers(0, V, N).astype(np.int32)
    out, dout = np.empty((N, C), np.float32), randn(N, C)
    if backward:
        cases = {"ours": lambda: embedding_backward(dtable, dout, ids),
                 "numpy": lambda: np.add.at(dtable, ids, dout)}
    else:
        cases = {"ours": lambda: embedding_forward(out, ids, table),
                 "numpy": lambda: np.take(table, ids, axis=0, out=out)}
    if torch is not None:
        t_table, t_ids, t_dout = torch.from_numpy(table), torch.from_numpy(ids).long(), \
            torch.from_numpy(dout)
        t_result = torch.empty((V, C) if backward else (N, C))
        if backward:
            cases["torch"] = lambda: torch.ops.aten.embedding_dense_backward(
                t_dout, t_ids, V, -1, False)
            cases["torch_out"] = lambda: torch.ops.aten.embedding_dense_backward.out(
                t_dout, t_ids, V, -1, False, out=t_result)
        else:
            cases["torch"] = lambda: torch.nn.functional.embedding(t_ids, t_table)
            cases["torch_out"] = lambda: torch.ops.aten.embedding.out(t_table, t_ids,
                                                                      out=t_result)
    return cases


CASES = {
    "layernorm_fwd 4096x768": lambda: layernorm_case(backward=False),
    "layernorm_bwd 4096x768": lambda: layernorm_case(backward=True),
    "gelu_fwd 4096x3072": lambda: gelu_case(backward=False),
    "gelu_bwd 4096x3072": lambda: gelu_case(backward=True),
    "crossentropy_fwd_bwd 512x50257": lambda: crossentropy_case(512, 50257),
    "crossentropy_fwd_bwd 16384x65": lambda: crossentropy_case(16384, 65),
    "adamw_step 10M": adamw_case,
    "embedding_fwd 4096 of 50257x768": lambda: embedding_case(backward=False),
    "embedding_bwd 4096 of 50257x768": lambda: embedding_case(backward=True),
}


@pytest.fixture(scope="module")
def summary(report_lines):
    """Collects case -> median seconds per implementation; the table is printed at the end."""
    table = {}
    yield table
    report_lines.append(f"median ms ({thread_count()} threads); "
                        f"peer / ours in brackets (> 1: ours faster)")
    for case, medians in table.items():
        ours = medians["ours"]
        cells = [f"ours {ours * 1e3:8.2f}"] + [
            f"{name} {seconds * 1e3:8.2f} ({seconds / ours:5.2f}x)"
            for name, seconds in medians.items() if name != "ours"]
        report_lines.append(f"  {case:34} " + "   ".join(cells))


@pytest.mark.parametrize("case", CASES)
def test_kernel_vs_numpy_and_torch(benchmark, summary, case):
    functions = CASES[case]()
    benchmark(functions["ours"])
    medians = {name: m.wall for name, m in interleaved_medians(functions, ROUNDS).items()}
    summary[case] = medians
    benchmark.extra_info["threads"] = thread_count()
    for name, seconds in medians.items():
        benchmark.extra_info[f"{name}_ms"] = round(seconds * 1e3, 3)
        if name != "ours":
            benchmark.extra_info[f"{name}_over_ours"] = round(seconds / medians["ours"], 2)
