"""llm-from-scratch: a GPT-style language model, its BPE tokenizer and word2vec, from first
principles. NumPy holds the arrays; every hot loop is our own C (csrc/) behind Cython (llm/_ext/).

Threads: kernels use OpenMP. By default they use every core while the cores are free and fewer
while other processes keep them busy (re-measured every 0.1 s; csrc/threads.h); `LLM_NUM_THREADS`
or `llm.set_num_threads(n)` fixes the count.
"""
import os

# libgomp reads OMP_NUM_THREADS once, when our first extension loads it, so LLM_NUM_THREADS
# must be copied before that import to reach every thread (including encode_batch workers).
if os.environ.get("LLM_NUM_THREADS"):
    os.environ["OMP_NUM_THREADS"] = os.environ["LLM_NUM_THREADS"]

from llm._ext import runtime as _runtime  # noqa: E402  (fails with build instructions)
from llm.tokenizer import Tokenizer  # noqa: E402,F401
from llm.model import GPT, GPTConfig, SamplingConfig  # noqa: E402,F401
from llm.embeddings import Word2Vec  # noqa: E402,F401

__version__ = "0.1.0"


def set_num_threads(n: int | None) -> None:
    """Use n OpenMP threads in kernels called from the calling thread, whatever the machine's
    load; None: the automatic count again (every core while free, fewer while others are busy)."""
    if n is None:
        _runtime.set_threads_automatic()
    else:
        _runtime.set_num_threads(n)


def build_info() -> dict:
    """Compiler, flags, SIMD level and thread count, for bug reports."""
    import numpy

    return {
        "version": __version__,
        "compiler": _runtime.compiler(),
        "build_flags": _runtime.build_flags(),
        "simd": _runtime.simd_level(),
        "omp_threads": _runtime.max_threads(),
        "threads": "automatic" if _runtime.threads_automatic() else "fixed",
        "numpy": numpy.__version__,
    }
