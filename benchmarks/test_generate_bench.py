"""Generation speed: tokens per second at batch 1, a 16-token prompt and 500 new tokens (greedy),
of llm.GPT with its KV cache (GPT.generate) against the PyTorch twin (benchmarks/torch_gpt.py,
eager, with TorchKVCache: preallocated per-layer keys and values), same thread count, random
initial weights. Without a cache (the whole context through forward for every token) for
context. Two character-level models (vocab 65) and GPT-2 124M's shape, with block_size 1024 so
that the 516 positions fit without a sliding window:

    small: n_layer=4, n_head=4, d_model=128
    large: n_layer=6, n_head=6, d_model=384
    gpt2:  n_layer=12, n_head=12, d_model=768, vocab 50257 (test_llamacpp_bench.py has it
           against llama.cpp)

    python -m pytest benchmarks/test_generate_bench.py     # pytest-benchmark, one group per size
    python -m benchmarks.test_generate_bench [small|large]  # table: tokens/s and ratios

The table runs every (implementation, cache, size) in a fresh subprocess, alternating, so the two
libraries' OpenMP pools never share a process; it reports the median over the runs of wall and
CPU tokens/s (on a busy machine the CPU figure of a one-thread run is the steadier).
"""
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.timing import benchmark_median, thread_count
from llm.model import GPT, GPTConfig, KVCache, SamplingConfig

SIZES = {"small": dict(n_layer=4, n_head=4, d_model=128),
         "large": dict(n_layer=6, n_head=6, d_model=384),
         "gpt2": dict(n_layer=12, n_head=12, d_model=768, vocab_size=50257)}
VOCAB_SIZE, BLOCK_SIZE = 65, 1024
PROMPT = (np.arange(16) * 7 % VOCAB_SIZE).tolist()
NEW_TOKENS = 500
RUNS = 3


def make_model(size: str) -> GPT:
    return GPT(GPTConfig(**{"vocab_size": VOCAB_SIZE, "block_size": BLOCK_SIZE, **SIZES[size]}))


def ours(size: str, cached: bool):
    """A function generating NEW_TOKENS greedy tokens after PROMPT; returns them."""
    model = make_model(size)
    if cached:
        return lambda: model.generate(PROMPT, NEW_TOKENS, SamplingConfig(temperature=0))

    def without_cache():
        history = list(PROMPT)
        for _ in range(NEW_TOKENS):
            history.append(int(model.forward(np.array([history]))[0, -1].argmax()))
        return history[len(PROMPT):]

    return without_cache


def torch_twin(size: str, cached: bool):
    """The same for the PyTorch twin (same weights, same thread count)."""
    import torch

    from benchmarks.torch_gpt import TorchGPT, TorchKVCache

    torch.set_num_threads(thread_count())
    model = make_model(size)
    twin = TorchGPT.from_ours(model)
    prompt = torch.tensor([PROMPT])

    @torch.inference_mode()
    def with_cache():
        cache = TorchKVCache(model.config, 1)
        logits = twin(prompt, cache=cache)[:, -1]
        tokens = []
        for _ in range(NEW_TOKENS):
            next_id = logits.argmax(dim=-1, keepdim=True)
            tokens.append(int(next_id))
            if len(tokens) < NEW_TOKENS:
                logits = twin(next_id, cache=cache)[:, -1]
        return tokens

    @torch.inference_mode()
    def without_cache():
        history = prompt
        for _ in range(NEW_TOKENS):
            next_id = twin(history)[:, -1].argmax(dim=-1, keepdim=True)
            history = torch.cat([history, next_id], dim=1)
        return history[0, len(PROMPT):].tolist()

    return with_cache if cached else without_cache


BUILDERS = {"ours": ours, "torch": torch_twin}


@pytest.mark.parametrize("cached", [True, False], ids=["kv-cache", "no-cache"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("implementation", list(BUILDERS))
def test_generation(benchmark, implementation, size, cached):
    if implementation == "torch":
        pytest.importorskip("torch")
    run = BUILDERS[implementation](size, cached)
    benchmark.group = f"generate {NEW_TOKENS} tokens, {size}"
    benchmark.extra_info["threads"] = thread_count()
    tokens = benchmark.pedantic(run, rounds=RUNS if cached else 1, warmup_rounds=1 if cached
                                else 0)
    vocab_size = SIZES[size].get("vocab_size", VOCAB_SIZE)
    assert len(tokens) == NEW_TOKENS and all(0 <= t < vocab_size for t in tokens)
    median = benchmark_median(benchmark)
    if median is not None:
        benchmark.extra_info["tokens_per_second"] = NEW_TOKENS / median


def test_ours_and_torch_agree_on_the_greedy_tokens():
    pytest.importorskip("torch")
    ours_tokens = ours("small", cached=True)()
    torch_tokens = torch_twin("small", cached=True)()
    agreeing = next((i for i, (a, b) in enumerate(zip(ours_tokens, torch_tokens)) if a != b),
                    NEW_TOKENS)
    assert agreeing >= 100   # float rounding may flip a near-tie late in the run


@pytest.mark.parametrize("size", list(SIZES))
def test_cached_logits_equal_the_full_forward(size):
    """Every 50th of the 500 steps, at the benchmark's sizes: within 1e-5 of forward()."""
    model = make_model(size)
    cache = KVCache(model.config, 1)
    history = list(PROMPT)
    logits = model.forward_cached(np.array([history]), cache)
    for step in range(NEW_TOKENS):
        if step % 50 == 0:
            full = model.forward(np.array([history]))[:, -1]
            np.testing.assert_allclose(logits, full, rtol=0, atol=1e-5)
        history.append(int(logits.argmax()))
        logits = model.forward_cached(np.array([history[-1:]]), cache)


# ------------------------------------------------------------ the table (subprocess per run)

def measure(implementation: str, size: str, cached: bool) -> dict:
    """Run in a fresh process: wall and CPU seconds of one generation after a warm-up one."""
    run = BUILDERS[implementation](size, cached)
    if cached:
        run()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    tokens = run()
    return {"wall": time.perf_counter() - start_wall, "cpu": time.process_time() - start_cpu,
            "tokens": tokens}


def run_measure(implementation: str, size: str, cached: bool) -> dict:
    output = subprocess.run(
        [sys.executable, "-m", __spec__.name, "--measure", implementation, size, str(int(cached))],
        check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(output.stdout.strip().splitlines()[-1])


def compare(size: str, runs: int = RUNS) -> None:
    rows = [(name, cached) for cached in (True, False) for name in BUILDERS]
    results = {row: [] for row in rows}
    for repeat in range(runs):
        for row in rows:
            if row[1] or repeat == 0:          # one run without a cache is enough for context
                results[row].append(run_measure(row[0], size, row[1]))
    speed = {row: (NEW_TOKENS / statistics.median(r["wall"] for r in runs_),
                   NEW_TOKENS / statistics.median(r["cpu"] for r in runs_))
             for row, runs_ in results.items()}
    print(f"{size}: threads={thread_count()}, {NEW_TOKENS} new tokens after "
          f"{len(PROMPT)}, greedy; tokens/s wall (cpu)")
    for name, cached in rows:
        wall, cpu = speed[(name, cached)]
        print(f"  {name:6} {'kv-cache' if cached else 'no-cache':9} {wall:8.0f} ({cpu:.0f})")
    for cached in (True, False):
        ours_speed, torch_speed = speed[("ours", cached)], speed[("torch", cached)]
        print(f"  ours / torch, {'kv-cache' if cached else 'no-cache'}: "
              f"{ours_speed[0] / torch_speed[0]:.2f}x wall, {ours_speed[1] / torch_speed[1]:.2f}x"
              " cpu")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3], bool(int(sys.argv[4])))))
    else:
        for size in sys.argv[1:] or list(SIZES):
            compare(size)
