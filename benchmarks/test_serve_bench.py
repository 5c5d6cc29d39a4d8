"""`llm serve` under load: 8 streaming clients at once against the same 8 requests one after
another, on one server with LLM_NUM_THREADS=2, the demo's model size (llm/cli/demo.py: 4 layers,
4 heads, 128 channels, a 128-token context, a 512-token byte-level BPE on the demo's corpus),
random weights. Each request: the first 16 tokens of a different topic, 100 new tokens at most,
temperature 0.8 with its own seed, so both runs generate the same tokens. The clients are the
official openai client, streaming, each in its own thread.

Reported: total generated tokens per second of each run (all clients' tokens over the wall time
from the first request sent to the last token received), their ratio (the issue's target:
>= 3), and the longest time to first token of a client in the concurrent run (target: < 1 s).

    python -m pytest benchmarks/test_serve_bench.py       # the report below the test
    python -m benchmarks.test_serve_bench [rounds]        # the same, as a table
"""
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from benchmarks.serve_process import ServerProcess
from llm.cli.demo import MODEL_CONFIG, VOCAB_SIZE
from llm.model import GPT, GPTConfig
from llm.tokenizer import Tokenizer

CLIENTS, PROMPT_TOKENS, MAX_TOKENS, THREADS, ROUNDS = 8, 16, 100, 2, 3


def demo_size_model(directory: Path) -> list[list[int]]:
    """Save a random model of the demo's size with a tokenizer trained on the demo's corpus
    into directory; returns CLIENTS prompts (the first PROMPT_TOKENS tokens of different
    topics, as token ids)."""
    from pydoc_data.topics import topics

    texts = list(topics.values())
    tokenizer = Tokenizer.train(["\n".join(texts)], VOCAB_SIZE)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, seed=1, **MODEL_CONFIG))
    model.save(directory, tokenizer)
    return [tokenizer.encode(text)[:PROMPT_TOKENS] for text in texts[:CLIENTS]]


def stream_one(client, prompt: list[int], seed: int, sent: float) -> tuple[int, float, float]:
    """(tokens, seconds to the first token, seconds to the end) of one streamed completion,
    seconds counted from sent (time.perf_counter())."""
    first, tokens = None, 0
    for chunk in client.completions.create(model="demo", prompt=prompt, max_tokens=MAX_TOKENS,
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


def measure(rounds: int = ROUNDS) -> dict[str, float]:
    """Median over rounds (the two runs alternating) of each run's tokens/s and longest time
    to first token, and the ratio of the medians."""
    import openai

    with tempfile.TemporaryDirectory() as directory:
        prompts = demo_size_model(Path(directory))
        server = ServerProcess(Path(directory), "--max-batch", str(CLIENTS), threads=THREADS)
        try:
            server.wait_ready()
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", timeout=120,
                                   max_retries=0)
            stream_one(client, prompts[0], 0, time.perf_counter())       # warm up
            runs = {"sequential": [], "concurrent": []}
            for _ in range(rounds):
                runs["sequential"].append(sequential(client, prompts))
                runs["concurrent"].append(concurrent(client, prompts))
        finally:
            server.stop()
    result = {}
    for name, values in runs.items():
        result[f"{name} tokens/s"] = statistics.median(v[0] for v in values)
        result[f"{name} max first token s"] = statistics.median(v[1] for v in values)
    result["ratio"] = result["concurrent tokens/s"] / result["sequential tokens/s"]
    return result


def report(result: dict[str, float]) -> list[str]:
    runs = [(name, result[f"{key} tokens/s"], result[f"{key} max first token s"] * 1000)
            for name, key in (("one after another", "sequential"), ("all at once", "concurrent"))]
    title = (f"llm serve, {CLIENTS} streaming clients x {MAX_TOKENS} tokens, demo-size model, "
             f"LLM_NUM_THREADS={THREADS}:")
    return [title,
            *(f"  {name:18} {rate:7.0f} tokens/s, first token within {first:.0f} ms"
              for name, rate, first in runs),
            f"  ratio {result['ratio']:.2f}x (target >= 3x; first token target < 1000 ms)"]


def test_concurrent_clients_against_sequential(report_lines):
    for module in ("starlette", "uvicorn", "openai", "httpx"):
        pytest.importorskip(module)
    result = measure()
    report_lines.extend(report(result))
    assert result["ratio"] > 1     # batching helps at all; the figures are in the report


if __name__ == "__main__":
    print("\n".join(report(measure(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS))))
