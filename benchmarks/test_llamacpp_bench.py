"""Generation at GPT-2 124M's shape (12 layers, 12 heads, d_model 768, vocab 50257, context
1024) against llama.cpp (`pip install llama-cpp-python gguf`) and the PyTorch twin, batch 1, same
random weights, same thread count:

    generation   a 16-token prompt, then NEW_TOKENS greedy tokens one at a time (KV caches)
    prompt       PROMPT_TOKENS tokens through the model at once into an empty KV cache, the
                 last position's logits out (prompt processing: llama.cpp's eval, our
                 forward_cached, the twin with last_only)

llama.cpp reads a GGUF written from our weights by benchmarks/gguf_gpt2.py (float32, and float16
matrices); a test checks that its logits and greedy tokens are ours. Ours runs in float32 and
with 16-bit matrices (GPT.to_inference_dtype, `--dtype` of `llm generate`).

    python -m benchmarks.test_llamacpp_bench [1 2]     # table per thread count (default: 1 and 2)
    python -m pytest benchmarks/test_llamacpp_bench.py  # the agreement test

Each (implementation, thread count) runs in a fresh process, alternating, RUNS times; the table
gives the median tokens/s and each peer's ratio to ours.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.gguf_gpt2 import write_gguf
from llm.model import GPT, GPTConfig, KVCache, SamplingConfig
from llm.tokenizer import Tokenizer

CONFIG = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, d_model=768,
                   seed=124)
PROMPT = (np.arange(16) * 7919 % 50000).tolist()
PROMPT_TOKENS = 128
NEW_TOKENS = 128
RUNS = 3
ROOT = Path(__file__).resolve().parent.parent


def make_model() -> GPT:
    return GPT(CONFIG)


def make_tokenizer() -> Tokenizer:
    """A small byte-level tokenizer: llama.cpp wants a well-formed vocabulary in the file."""
    return Tokenizer.train("the quick brown fox jumps over the lazy dog. " * 50, 300)


def long_prompt() -> list[int]:
    return (np.arange(PROMPT_TOKENS) * 7919 % 50000).tolist()


class Ours:
    def __init__(self, directory: Path, dtype: str):
        self.model = make_model().to_inference_dtype(dtype)
        self.prompt_cache = KVCache(CONFIG, 1, PROMPT_TOKENS)

    def generate(self) -> list[int]:
        return self.model.generate(PROMPT, NEW_TOKENS, SamplingConfig(temperature=0))

    def prompt(self) -> None:
        self.prompt_cache.reset()
        self.model.forward_cached(np.array([long_prompt()], np.int32), self.prompt_cache)


class LlamaCpp:
    def __init__(self, directory: Path, dtype: str):
        from llama_cpp import Llama

        path = directory / f"gpt2-{dtype}.gguf"
        if not path.is_file():
            write_gguf(make_model(), make_tokenizer(), path, dtype)
        threads = int(os.environ.get("LLM_NUM_THREADS", os.cpu_count()))
        self.llama = Llama(str(path), n_ctx=CONFIG.block_size, n_batch=512, n_threads=threads,
                           n_threads_batch=threads, verbose=False)

    def generate(self) -> list[int]:
        self.llama.reset()
        self.llama.eval(PROMPT)
        tokens = []
        for _ in range(NEW_TOKENS):
            tokens.append(int(np.argmax(self.last_logits())))
            if len(tokens) < NEW_TOKENS:
                self.llama.eval(tokens[-1:])
        return tokens

    def last_logits(self) -> np.ndarray:
        """The last evaluated position's logits, a view of llama.cpp's buffer (the high-level
        `scores` keeps them only with logits_all, which makes every prompt row's)."""
        return np.ctypeslib.as_array(self.llama._ctx.get_logits(), shape=(CONFIG.vocab_size,))

    def prompt(self) -> None:
        self.llama.reset()
        self.llama.eval(long_prompt())


class Torch:
    def __init__(self, directory: Path, dtype: str):
        import torch

        from benchmarks.torch_gpt import TorchGPT, TorchKVCache

        torch.set_num_threads(int(os.environ.get("LLM_NUM_THREADS", os.cpu_count())))
        self.torch, self.cache_type = torch, TorchKVCache
        self.twin = TorchGPT.from_ours(make_model())
        self.prompt_cache = TorchKVCache(CONFIG, 1)

    def generate(self) -> list[int]:
        with self.torch.inference_mode():
            cache = self.cache_type(CONFIG, 1)
            logits = self.twin(self.torch.tensor([PROMPT]), cache=cache)[:, -1]
            tokens = []
            for _ in range(NEW_TOKENS):
                next_id = logits.argmax(dim=-1, keepdim=True)
                tokens.append(int(next_id))
                if len(tokens) < NEW_TOKENS:
                    logits = self.twin(next_id, cache=cache)[:, -1]
            return tokens

    def prompt(self) -> None:
        with self.torch.inference_mode():
            self.prompt_cache.length = 0
            self.twin(self.torch.tensor([long_prompt()]), cache=self.prompt_cache, last_only=True)


# name -> (class, weight dtype)
IMPLEMENTATIONS = {"ours f32": (Ours, "f32"), "llama.cpp f32": (LlamaCpp, "f32"),
                   "ours f16": (Ours, "f16"), "ours bf16": (Ours, "bf16"),
                   "llama.cpp f16": (LlamaCpp, "f16"), "torch f32": (Torch, "f32")}


def test_llama_cpp_reads_our_weights_and_generates_our_greedy_tokens(tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    ours, theirs = Ours(tmp_path, "f32"), LlamaCpp(tmp_path, "f32")
    logits = ours.model.forward(np.array([PROMPT]))[0, -1]
    theirs.llama.eval(PROMPT)
    # llama.cpp's GELU reads a float16 table: ~1e-3 on logits spread ~0.5 (measured 1.0e-3)
    np.testing.assert_allclose(theirs.last_logits(), logits, atol=5e-3 * logits.std() / 0.5)
    tokens = ours.generate(), theirs.generate()
    agreeing = next((i for i, (a, b) in enumerate(zip(*tokens)) if a != b), NEW_TOKENS)
    assert agreeing >= 32   # float rounding may flip a near-tie (random weights: many)


# ------------------------------------------------------------ the table (subprocess per run)

def measure(name: str, directory: str) -> dict:
    """Run in a fresh process: tokens/s of one generation and of one prompt, after a warm-up."""
    cls, dtype = IMPLEMENTATIONS[name]
    runner = cls(Path(directory), dtype)
    runner.generate()
    start = time.perf_counter()
    runner.generate()
    generation = NEW_TOKENS / (time.perf_counter() - start)
    runner.prompt()
    start = time.perf_counter()
    runner.prompt()
    prompt = PROMPT_TOKENS / (time.perf_counter() - start)
    return {"generation": generation, "prompt": prompt}


def compare(threads: int, directory: str) -> None:
    results = {name: {"generation": [], "prompt": []} for name in IMPLEMENTATIONS}
    env = {**os.environ, "LLM_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    for _ in range(RUNS):
        for name in IMPLEMENTATIONS:
            output = subprocess.run(
                [sys.executable, "-m", "benchmarks.test_llamacpp_bench", "--measure", name,
                 directory], check=True, capture_output=True, text=True, cwd=ROOT, env=env)
            run = json.loads(output.stdout.strip().splitlines()[-1])
            for kind in run:
                results[name][kind].append(run[kind])
    medians = {name: {kind: statistics.median(values) for kind, values in result.items()}
               for name, result in results.items()}
    print(f"GPT-2 124M shape, batch 1, {threads} thread(s), median of {RUNS} fresh processes "
          "(ratios: ours in the same weight dtype over this):")
    for name, median in medians.items():
        ours = medians["ours f16" if name.endswith("f16") else "ours f32"]
        print(f"  {name:14} generation {median['generation']:7.1f} tokens/s "
              f"({ours['generation'] / median['generation']:.2f}x)  prompt of "
              f"{PROMPT_TOKENS} {median['prompt']:7.1f} tokens/s "
              f"({ours['prompt'] / median['prompt']:.2f}x)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    else:
        with tempfile.TemporaryDirectory() as directory:
            for threads in map(int, sys.argv[1:] or ["1", "2"]):
                compare(threads, directory)
