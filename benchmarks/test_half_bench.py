"""Generation with 16-bit weights: tokens per second of greedy generation at batch 1 with the
model's matrices in float32, bf16 and f16 (GPT.to_inference_dtype), random weights, a 16-token
prompt then NEW_TOKENS[size] tokens, block_size 1024:

    large: n_layer=6, n_head=6, d_model=384, vocab 65 (test_generate_bench's character model)
    gpt2:  GPT-2 124M: n_layer=12, n_head=12, d_model=768, vocab 50257 (tied head)

A generated token reads every matrix once (the few-row kernels stream B), so 16-bit weights
halve the bytes it streams; the table prints those bytes too, and the share of the ceiling they
set: the memory's read bandwidth (matmul.read_bandwidth_gbs, same threads) over them.

    python -m pytest benchmarks/test_half_bench.py                 # pytest-benchmark
    python -m benchmarks.test_half_bench [large|gpt2 ...]          # the table
    LLM_SIMD=avx2 python -m benchmarks.test_half_bench             # the AVX2 kernels
    LLM_NUM_THREADS=1 python -m benchmarks.test_half_bench --interleaved [large|gpt2 ...]

The table runs every (dtype, threads) in a fresh process (LLM_NUM_THREADS=1, 2), alternating,
RUNS times, and reports the median wall tokens/s and the ratio to float32 at the same threads.
--interleaved times the three dtypes in one process instead, one generation of each in turn,
INTERLEAVED_ROUNDS rounds, and reports median wall and CPU tokens/s: on a busy machine the
steadier comparison (the three see the same load).
"""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.timing import benchmark_median, interleaved_medians, thread_count
from llm._ext import matmul
from llm.model import GPT, GPTConfig, SamplingConfig

SIZES = {"large": dict(n_layer=6, n_head=6, d_model=384, vocab_size=65),
         "gpt2": dict(n_layer=12, n_head=12, d_model=768, vocab_size=50257)}
NEW_TOKENS = {"large": 200, "gpt2": 48}
BLOCK_SIZE = 1024
PROMPT = (np.arange(16) * 7 % 65).tolist()
DTYPES = ("f32", "bf16", "f16")
THREADS = (1, 2)
RUNS = 3
INTERLEAVED_ROUNDS = 5


def make_model(size: str, dtype: str) -> GPT:
    return GPT(GPTConfig(block_size=BLOCK_SIZE, **SIZES[size])).to_inference_dtype(dtype)


def streamed_bytes(model: GPT) -> int:
    """Parameter bytes a generated token reads: all but the position table (one row of it)."""
    return model.parameter_bytes - model.params["wpe.weight"].nbytes


def read_bandwidth() -> float:
    """GB/s this process's threads read from memory (matmul.read_bandwidth_gbs over 256 MB): a
    token's ceiling is this over its bytes."""
    return matmul.read_bandwidth_gbs(np.ones(64 << 20, np.float32), thread_count())


def of_ceiling(tokens_per_second: float, bytes_per_token: int, gbs: float) -> str:
    ceiling = gbs * 1e9 / bytes_per_token
    return f"{tokens_per_second / ceiling:4.0%} of {ceiling:5.1f} (the weights at {gbs:.1f} GB/s)"


def generation(model: GPT, new_tokens: int):
    return lambda: model.generate(PROMPT, new_tokens, SamplingConfig(temperature=0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", list(SIZES))
def test_generation(benchmark, size, dtype):
    model = make_model(size, dtype)
    run = generation(model, NEW_TOKENS[size])
    benchmark.group = f"generate {NEW_TOKENS[size]} tokens, {size}, by weight dtype"
    benchmark.extra_info.update(threads=thread_count(), bytes_per_token=streamed_bytes(model))
    tokens = benchmark.pedantic(run, rounds=RUNS, warmup_rounds=1)
    assert len(tokens) == NEW_TOKENS[size]
    median = benchmark_median(benchmark)
    if median is not None:
        benchmark.extra_info["tokens_per_second"] = NEW_TOKENS[size] / median


# ------------------------------------------------------------ the table (subprocess per run)

def measure(size: str, dtype: str) -> dict:
    """In a fresh process: wall seconds of one generation after a short warm-up one."""
    model = make_model(size, dtype)
    generation(model, 4)()
    run = generation(model, NEW_TOKENS[size])
    start = time.perf_counter()
    run()
    return {"wall": time.perf_counter() - start, "bytes": streamed_bytes(model),
            "gbs": read_bandwidth()}


def run_measure(size: str, dtype: str, threads: int) -> dict:
    output = subprocess.run(
        [sys.executable, "-m", __spec__.name, "--measure", size, dtype], check=True,
        capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "LLM_NUM_THREADS": str(threads)})
    return json.loads(output.stdout.strip().splitlines()[-1])


def compare(size: str, runs: int = RUNS) -> None:
    rows = [(dtype, threads) for threads in THREADS for dtype in DTYPES]
    results = {row: [] for row in rows}
    for _ in range(runs):
        for row in rows:
            results[row].append(run_measure(size, *row))
    speed = {row: NEW_TOKENS[size] / statistics.median(r["wall"] for r in runs_)
             for row, runs_ in results.items()}
    print(f"{size}: LLM_SIMD={os.environ.get('LLM_SIMD', 'widest')}, {NEW_TOKENS[size]} new "
          f"tokens after {len(PROMPT)}, greedy, batch 1; median of {runs} fresh processes")
    for dtype, threads in rows:
        bytes_ = results[(dtype, threads)][0]["bytes"]
        gbs = statistics.median(r["gbs"] for r in results[(dtype, threads)])
        print(f"  {dtype:5} threads={threads}  {speed[(dtype, threads)]:8.1f} tokens/s  "
              f"x{speed[(dtype, threads)] / speed[('f32', threads)]:.2f} of f32  "
              f"{bytes_ / 1e6:7.1f} MB of weights a token  "
              f"{of_ceiling(speed[(dtype, threads)], bytes_, gbs)}")


def interleaved(size: str, rounds: int = INTERLEAVED_ROUNDS) -> None:
    models = {dtype: make_model(size, dtype) for dtype in DTYPES}
    medians = interleaved_medians({dtype: generation(model, NEW_TOKENS[size])
                                   for dtype, model in models.items()}, rounds)
    print(f"{size}: LLM_SIMD={os.environ.get('LLM_SIMD', 'widest')}, threads={thread_count()}, "
          f"{NEW_TOKENS[size]} new tokens after {len(PROMPT)}, greedy, batch 1; one process, "
          f"dtypes in turn, median of {rounds}; tokens/s wall (cpu)")
    gbs = read_bandwidth()
    for dtype, times in medians.items():
        wall, cpu = NEW_TOKENS[size] / times.wall, NEW_TOKENS[size] / times.cpu
        bytes_ = streamed_bytes(models[dtype])
        print(f"  {dtype:5} {wall:8.1f} ({cpu:.1f})  x{medians['f32'].wall / times.wall:.2f} "
              f"of f32  {bytes_ / 1e6:7.1f} MB of weights a token  {of_ceiling(wall, bytes_, gbs)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    elif sys.argv[1:2] == ["--interleaved"]:
        for size in sys.argv[2:] or list(SIZES):
            interleaved(size)
    else:
        for size in sys.argv[1:] or list(SIZES):
            compare(size)
