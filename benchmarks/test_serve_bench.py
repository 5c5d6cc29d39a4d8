"""`llm serve` under load: 8 streaming clients at once against the same 8 requests one after
another, on one server with LLM_NUM_THREADS=2, at the demo's model size (llm/cli/demo.py: 4
layers, 4 heads, 128 channels, a 128-token context, a 512-token byte-level BPE on the demo's
corpus) and at the generation benchmark's large size (6 layers, 6 heads, 384 channels, the same
context and tokenizer), random weights. Each request: the first 16 tokens of a different
topic, 100 new tokens at most, temperature 0.8 with its own seed, so both runs generate the same
tokens. The clients are the official openai client, streaming, each in its own thread.

Reported: total generated tokens per second of each run (all clients' tokens over the wall time
from the first request sent to the last token received), their ratio (the issue's target:
>= 3), and the longest time to first token of a client in the concurrent run (target: < 1 s).
And the server's overhead: one streaming client's tokens/s over a whole request as long as the
context allows (LONG_TOKENS new tokens after the prompt, request set-up included) against what
`llm generate` does in this process with the same model, threads, prompt and sampling
(llm.generate.decode_stream over generate_stream: tokens to text), alternating (target: >= 0.8).

    python -m pytest benchmarks/test_serve_bench.py       # the report below the test
    python -m benchmarks.test_serve_bench [rounds]        # the same, as a table
"""
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import llm
from benchmarks.serve_process import ServerProcess
from llm.cli.demo import MODEL_CONFIG, VOCAB_SIZE
from llm.generate import decode_stream, generate_stream
from llm.model import GPT, GPTConfig, SamplingConfig, load
from llm.tokenizer import Tokenizer

CLIENTS, PROMPT_TOKENS, MAX_TOKENS, THREADS, ROUNDS = 8, 16, 100, 2, 3
OVERHEAD_PAIRS = 5
LONG_TOKENS = MODEL_CONFIG["block_size"] - PROMPT_TOKENS


SIZES = {"demo": MODEL_CONFIG, "large": MODEL_CONFIG | {"n_layer": 6, "n_head": 6,
                                                         "d_model": 384}}


def demo_size_model(directory: Path, size: str = "demo") -> list[list[int]]:
    """Save a random model of SIZES[size] with a tokenizer trained on the demo's corpus into
    directory; returns CLIENTS prompts (the first PROMPT_TOKENS tokens of different topics, as
    token ids)."""
    from pydoc_data.topics import topics

    texts = list(topics.values())
    tokenizer = Tokenizer.train(["\n".join(texts)], VOCAB_SIZE)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, seed=1, **SIZES[size]))
    model.save(directory, tokenizer)
    return [tokenizer.encode(text)[:PROMPT_TOKENS] for text in texts[:CLIENTS]]


def stream_one(client, prompt: list[int], seed: int, sent: float, max_tokens: int = MAX_TOKENS
               ) -> tuple[int, float, float]:
    """(tokens, seconds to the first token, seconds to the end) of one streamed completion,
    seconds counted from sent (time.perf_counter())."""
    first, tokens = None, 0
    for chunk in client.completions.create(model="demo", prompt=prompt, max_tokens=max_tokens,
                                           temperature=0.8, seed=seed, stream=True,
                                           stream_options={"include_usage": True}):
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
        elif first is None:
            first = time.perf_counter() - sent
    return tokens, first, time.perf_counter() - sent


def sequential(client, prompts: list[list[int]]) -> tuple[float, float]:
    """(generated tokens/s, longest time to first token) of the requests one after another."""
    start = time.perf_counter()
    results = [stream_one(client, prompt, seed, time.perf_counter())
               for seed, prompt in enumerate(prompts)]
    wall = time.perf_counter() - start
    return sum(r[0] for r in results) / wall, max(r[1] for r in results)


def concurrent(client, prompts: list[list[int]]) -> tuple[float, float]:
    """(generated tokens/s, longest time to first token) of the requests sent together, one
    client thread each (released at once by a barrier)."""
    results = [None] * len(prompts)
    barrier = threading.Barrier(len(prompts) + 1)

    def run(number: int) -> None:
        barrier.wait()
        results[number] = stream_one(client, prompts[number], number, time.perf_counter())

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(prompts))]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return sum(r[0] for r in results) / wall, max(r[1] for r in results)


def long_seed(model: GPT, tokenizer: Tokenizer, prompt: list[int]) -> int:
    """The first sampling seed with which prompt's continuation runs LONG_TOKENS without an
    end-of-text token (where both the server and `llm generate` would stop early)."""
    stops = [tokenizer.end_of_text_id]
    return next(seed for seed in range(1000) if len(list(generate_stream(
        model, prompt, LONG_TOKENS, SamplingConfig(0.8, seed=seed), stops))) == LONG_TOKENS)


def one_client(client, prompt: list[int], seed: int) -> float:
    """Generated tokens/s of one streamed request of LONG_TOKENS, request set-up included."""
    tokens, _, seconds = stream_one(client, prompt, seed, time.perf_counter(), LONG_TOKENS)
    assert tokens == LONG_TOKENS, tokens
    return tokens / seconds


def in_process(model: GPT, tokenizer: Tokenizer, prompt: list[int], seed: int) -> float:
    """Generated tokens/s of what `llm generate` does with the same request in this process:
    tokens until LONG_TOKENS or end-of-text, as text."""
    start = time.perf_counter()
    stops = [tokenizer.end_of_text_id]
    tokens = generate_stream(model, prompt, LONG_TOKENS, SamplingConfig(0.8, seed=seed), stops)
    length = sum(len(piece) for piece in decode_stream(tokens, tokenizer, stops))
    assert length > 0
    return LONG_TOKENS / (time.perf_counter() - start)


@contextlib.contextmanager
def serving(directory: Path, threads: int):
    """An openai client of `llm serve` on directory's model with LLM_NUM_THREADS=threads,
    warmed up; the server stops on leaving."""
    import openai

    server = ServerProcess(directory, "--max-batch", str(CLIENTS), threads=threads)
    try:
        server.wait_ready()
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", timeout=120,
                               max_retries=0)
        stream_one(client, [0], 0, time.perf_counter())
        yield client
    finally:
        server.stop()


def measure_batching(directory: Path, prompts: list[list[int]], rounds: int
                     ) -> dict[str, float]:
    """Median over rounds (the two runs alternating) of each run's tokens/s and longest time
    to first token, and the ratio of the medians."""
    runs = {"sequential": [], "concurrent": []}
    with serving(directory, THREADS) as client:
        for _ in range(rounds):
            runs["sequential"].append(sequential(client, prompts))
            runs["concurrent"].append(concurrent(client, prompts))
    result = {}
    for name, values in runs.items():
        result[f"{name} tokens/s"] = statistics.median(v[0] for v in values)
        result[f"{name} max first token s"] = statistics.median(v[1] for v in values)
    result["ratio"] = result["concurrent tokens/s"] / result["sequential tokens/s"]
    return result


def measure_overhead(directory: Path, prompt: list[int], threads: int, pairs: int
                     ) -> dict[str, float]:
    """Median over pairs (alternating) of one streaming client's tokens/s and `llm generate`'s
    in this process, both on threads threads, and the ratio of the medians."""
    model, tokenizer = load(directory)
    llm.set_num_threads(threads)
    try:
        seed = long_seed(model, tokenizer, prompt)
        runs = {"one client": [], "in process": []}
        with serving(directory, threads) as client:
            for _ in range(pairs):
                runs["one client"].append(one_client(client, prompt, seed))
                runs["in process"].append(in_process(model, tokenizer, prompt, seed))
    finally:
        llm.set_num_threads(None)
    result = {f"{name} tokens/s": statistics.median(values) for name, values in runs.items()}
    result["ratio"] = result["one client tokens/s"] / result["in process tokens/s"]
    return result


def measure(rounds: int = ROUNDS) -> dict:
    """{size: measure_batching's} for each of SIZES, and {1: measure_overhead's on 1 thread,
    2: on 2} at the demo size (where the server's share of a token is largest)."""
    result = {}
    for size in SIZES:
        with tempfile.TemporaryDirectory() as directory:
            prompts = demo_size_model(Path(directory), size)
            result[size] = measure_batching(Path(directory), prompts, rounds)
            if size == "demo":
                for threads in (1, 2):
                    result[threads] = measure_overhead(Path(directory), prompts[0], threads,
                                                       OVERHEAD_PAIRS * rounds)
    return result


def report(result: dict) -> list[str]:
    lines = []
    for size, config in SIZES.items():
        batching = result[size]
        lines += [f"llm serve, {CLIENTS} streaming clients x {MAX_TOKENS} tokens, {size} size "
                  f"({config['n_layer']} x {config['d_model']}), LLM_NUM_THREADS={THREADS}:"]
        lines += [f"  {name:18} {batching[f'{key} tokens/s']:7.0f} tokens/s, first token "
                  f"within {batching[f'{key} max first token s'] * 1000:.0f} ms"
                  for name, key in (("one after another", "sequential"),
                                    ("all at once", "concurrent"))]
        lines += [f"  ratio {batching['ratio']:.2f}x (target >= 3x; first token < 1000 ms)"]
    lines += [f"one streaming client x {LONG_TOKENS} tokens against `llm generate` in process, "
              f"demo size (target >= 0.8x):"]
    lines += [f"  LLM_NUM_THREADS={threads}: {result[threads]['one client tokens/s']:5.0f} "
              f"against {result[threads]['in process tokens/s']:5.0f} tokens/s, "
              f"{result[threads]['ratio']:.2f}x" for threads in (1, 2)]
    return lines


def test_serve_against_sequential_and_in_process(report_lines):
    for module in ("starlette", "uvicorn", "openai", "httpx"):
        pytest.importorskip(module)
    result = measure()
    report_lines.extend(report(result))
    for size in SIZES:              # batching helps at all; the figures are in the report
        assert result[size]["ratio"] > 1
    assert min(result[threads]["ratio"] for threads in (1, 2)) > 0.5


if __name__ == "__main__":
    print("\n".join(report(measure(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS))))
