"""Causal self-attention, forward + backward, at the training configurations: our fused kernel
against the explicit NumPy composition (B, H, T, T scores, softmax, matmuls) and PyTorch's
scaled_dot_product_attention(is_causal=True) with the same thread count; and one decoding step
(Tq = 1 over a KV cache) against PyTorch. extra_info holds the peak memory of one fwd+bwd, measured
as the growth of VmHWM in a fresh subprocess (it sees C and BLAS allocations, which tracemalloc
does not), and the interleaved-median ratios peer / ours.

    python -m pytest benchmarks/test_attention_bench.py --benchmark-columns=median,rounds \
        --benchmark-json=attention.json        # extra_info is in the JSON

Thread count: LLM_NUM_THREADS (ours), torch.set_num_threads (the same), OPENBLAS_NUM_THREADS for
NumPy's matmuls (set it to the same value for a like-for-like run).
"""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from llm._ext.attention import attention_backward, attention_forward, attention_forward_cached

from benchmarks.timing import interleaved_medians, thread_count

CONFIGS = {"small": (12, 64, 128, 4), "large": (64, 256, 384, 6)}   # B, T, C, n_head


def make_inputs(B, T, C, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((B, T, 3 * C), dtype=np.float32),
            rng.standard_normal((B, T, C), dtype=np.float32))


def ours_forward_backward(qkv, dout, n_head):
    B, T, C3 = qkv.shape
    out = np.empty((B, T, C3 // 3), np.float32)
    stats = np.empty((B, n_head, T), np.float32)
    attention_forward(out, stats, qkv, n_head)
    dqkv = np.zeros_like(qkv)
    attention_backward(dqkv, dout, qkv, out, stats, n_head)
    return out, dqkv


def numpy_forward_backward(qkv, dout, n_head):
    """The textbook composition in float32, in place where NumPy allows: (B, H, T, T) scores."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // n_head
    scale = np.float32(1 / math.sqrt(hs))
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, T, n_head, hs).transpose(0, 2, 1, 3)
               for i in range(3))
    p = q @ k.transpose(0, 1, 3, 2)
    p *= scale
    p[..., np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] = -np.inf
    p -= p.max(axis=-1, keepdims=True)
    np.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)
    out = (p @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
    do = dout.reshape(B, T, n_head, hs).transpose(0, 2, 1, 3)
    dv = p.transpose(0, 1, 3, 2) @ do
    ds = do @ v.transpose(0, 1, 3, 2)
    ds -= (ds * p).sum(axis=-1, keepdims=True)
    ds *= p
    dq = (ds @ k) * scale
    dk = (ds.transpose(0, 1, 3, 2) @ q) * scale
    merge = [x.transpose(0, 2, 1, 3).reshape(B, T, C) for x in (dq, dk, dv)]
    return out, np.concatenate(merge, axis=-1)


def torch_forward_backward(torch, qkv, dout, n_head):
    """scaled_dot_product_attention fwd+bwd from the same (B, T, 3C) layout."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    qkv = qkv.detach().requires_grad_(True)
    q, k, v = (x.view(B, T, n_head, C // n_head).transpose(1, 2) for x in qkv.split(C, dim=2))
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    out = out.transpose(1, 2).reshape(B, T, C)
    out.backward(dout)
    return out, qkv.grad


def record_medians(info, medians, unit, scale):
    """extra_info entries <name>_<unit> (wall), <name>_cpu_<unit>, and the ratios
    <peer>_over_ours (wall) and <peer>_over_ours_cpu."""
    for name, (wall, cpu) in medians.items():
        info[f"{name}_{unit}"] = round(wall * scale, 2)
        info[f"{name}_cpu_{unit}"] = round(cpu * scale, 2)
        if name != "ours":
            info[f"{name}_over_ours"] = round(wall / medians["ours"].wall, 2)
            info[f"{name}_over_ours_cpu"] = round(cpu / medians["ours"].cpu, 2)


PEAK_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {root_dir!r})
import llm
from benchmarks.test_attention_bench import make_inputs, {function}
B, T, C, H = {config}
qkv, dout = make_inputs(B, T, C)
extra = ()
if {function!r} == "torch_forward_backward":
    import torch
    torch.set_num_threads(thread_count())
    qkv, dout = torch.from_numpy(qkv), torch.from_numpy(dout)
    extra = (torch,)
{function}(*extra, qkv, dout, H)            # warm up: libraries, thread pools, allocator
def kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
before = kib("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")   # reset VmHWM to the current RSS
{function}(*extra, qkv, dout, H)
print(json.dumps(kib("VmHWM:") - before))
"""


def peak_memory_mib(function, config):
    """Peak RSS growth of one call of function at config, in MiB, in a fresh interpreter."""
    from pathlib import Path
    script = PEAK_SCRIPT.format(root_dir=str(Path(__file__).parent.parent), function=function,
                                config=config)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    return round(json.loads(result.stdout.strip().splitlines()[-1]) / 1024, 1)


@pytest.mark.parametrize("config", CONFIGS)
def test_forward_backward_vs_numpy_and_torch(benchmark, config):
    B, T, C, n_head = CONFIGS[config]
    qkv, dout = make_inputs(B, T, C)
    out, dqkv = benchmark(ours_forward_backward, qkv, dout, n_head)
    expected_out, expected_dqkv = numpy_forward_backward(qkv, dout, n_head)
    np.testing.assert_allclose(out, expected_out, rtol=0, atol=1e-4)
    np.testing.assert_allclose(dqkv, expected_dqkv, rtol=0, atol=1e-3)

    functions = {"ours": lambda: ours_forward_backward(qkv, dout, n_head),
                 "numpy": lambda: numpy_forward_backward(qkv, dout, n_head)}
    peaks = {"ours": "ours_forward_backward", "numpy": "numpy_forward_backward"}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(thread_count())
        qkv_t, dout_t = torch.from_numpy(qkv), torch.from_numpy(dout)
        functions["torch"] = lambda: torch_forward_backward(torch, qkv_t, dout_t, n_head)
        peaks["torch"] = "torch_forward_backward"
    medians = interleaved_medians(functions, rounds=7 if config == "large" else 30, warmup=False)
    info = benchmark.extra_info
    info["threads"] = thread_count()
    record_medians(info, medians, "ms", 1e3)
    for name, function in peaks.items():
        info[f"{name}_peak_MiB"] = peak_memory_mib(function, CONFIGS[config])
    # What every implementation must hold anyway: out, stats and dqkv (float32).
    info["outputs_MiB"] = round((B * T * C + B * n_head * T + B * T * 3 * C) * 4 / 2**20, 1)
    info["numpy_scores_MiB_each"] = round(B * n_head * T * T * 4 / 2**20, 1)   # one (B,H,T,T)


@pytest.mark.parametrize("cached", [64, 500])
def test_decoding_step_vs_torch(benchmark, cached):
    """One generated token of the small model's attention: Tq = 1 over `cached` positions (ours
    also appends the token's key and value to the cache, as KVCache uses it)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(thread_count())
    _, T, C, n_head = CONFIGS["small"]
    hs = C // n_head
    rng = np.random.default_rng(1)
    qkv = rng.standard_normal((1, 1, 3 * C), dtype=np.float32)
    # The cache layout of both: (B, n_head, positions, hs); the last position is the new token's.
    k_cache = rng.standard_normal((1, n_head, cached, hs), dtype=np.float32)
    v_cache = rng.standard_normal((1, n_head, cached, hs), dtype=np.float32)
    k_cache[:, :, -1] = qkv[0, 0, C:2 * C].reshape(n_head, hs)
    v_cache[:, :, -1] = qkv[0, 0, 2 * C:].reshape(n_head, hs)
    out = np.empty((1, 1, C), np.float32)
    benchmark(attention_forward_cached, out, k_cache, v_cache, qkv, n_head, cached)

    q_t = torch.from_numpy(qkv[..., :C].copy()).view(1, 1, n_head, hs).transpose(1, 2)
    k_t, v_t = torch.from_numpy(k_cache.copy()), torch.from_numpy(v_cache.copy())

    def torch_step():
        with torch.no_grad():
            return torch.nn.functional.scaled_dot_product_attention(q_t, k_t, v_t)

    expected = torch_step().transpose(1, 2).reshape(1, 1, C).numpy()
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
    medians = interleaved_medians(
        {"ours": lambda: attention_forward_cached(out, k_cache, v_cache, qkv, n_head, cached),
         "torch": torch_step}, rounds=2000, warmup=False)
    record_medians(benchmark.extra_info, medians, "us", 1e6)
