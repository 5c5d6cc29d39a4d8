"""Where a training iteration of llm.GPT spends its time: per kernel and per block.

    python benchmarks/profile_train.py [small|large] [--iterations N]

Wraps each kernel function the model calls (and Block.forward / Block.backward) with a timer,
runs N iterations (forward + backward + clip + AdamW, as test_train_bench.py) and prints the
milliseconds per iteration of each, and what is left outside the kernels (Python and argument
checks). The timers add about a microsecond per call.
"""
import argparse
import collections
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import llm.model.gpt as gpt_module  # noqa: E402
import llm.model.layers as layers_module  # noqa: E402
from benchmarks.test_train_bench import SIZES, ours_train_step  # noqa: E402
from benchmarks.timing import thread_count  # noqa: E402
from llm._ext import adamw  # noqa: E402

# the kernel modules as the model's code calls them: the layers' and gpt.py's (the loss)
KERNEL_MODULES = {"matmul": layers_module, "attention": layers_module, "layernorm": layers_module,
                  "activation": layers_module, "embedding": layers_module,
                  "crossentropy": gpt_module}
BLOCK_METHODS = ("forward", "backward")


def timed(function, totals, counts, key):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start
            counts[key] += 1
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", default="small", choices=list(SIZES))
    parser.add_argument("--iterations", type=int, default=None)
    args = parser.parse_args()
    iterations = args.iterations or SIZES[args.size]["rounds"]

    kernels, kernel_calls = collections.defaultdict(float), collections.Counter()
    blocks, block_calls = collections.defaultdict(float), collections.Counter()
    for module_name, caller in KERNEL_MODULES.items():
        module = getattr(caller, module_name)
        for name in dir(module):
            if name.endswith(("_forward", "_backward", "gemm")):
                setattr(module, name, timed(getattr(module, name), kernels, kernel_calls,
                                            f"{module_name}.{name}"))
    for name in ("adamw_step", "grad_norm"):
        setattr(adamw, name, timed(getattr(adamw, name), kernels, kernel_calls, f"adamw.{name}"))
    for name in BLOCK_METHODS:
        setattr(layers_module.Block, name, timed(getattr(layers_module.Block, name), blocks,
                                                 block_calls, f"block {name}"))

    train_step = ours_train_step(args.size)
    train_step()
    for table in (kernels, kernel_calls, blocks, block_calls):
        table.clear()
    start = time.perf_counter()
    for _ in range(iterations):
        train_step()
    total = (time.perf_counter() - start) / iterations * 1e3

    print(f"{args.size}: {total:.2f} ms/iter over {iterations} iterations, "
          f"{thread_count()} threads")
    print(f"{'kernel':42} {'ms/iter':>8} {'share':>6} {'calls':>6}")
    for key, seconds in sorted(kernels.items(), key=lambda item: -item[1]):
        ms = seconds / iterations * 1e3
        print(f"{key:42} {ms:8.2f} {ms / total:6.1%} {kernel_calls[key] // iterations:6d}")
    outside = total - sum(kernels.values()) / iterations * 1e3
    label = "outside the kernels (Python, checks, fills)"
    print(f"{label:42} {outside:8.2f} {outside / total:6.1%}")
    print(f"{'block':42} {'ms/call':>8}")
    for key, seconds in blocks.items():
        print(f"{key:42} {seconds / block_calls[key] * 1e3:8.2f}")


if __name__ == "__main__":
    main()
