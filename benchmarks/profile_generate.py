"""Where a generated token of llm.GPT (KV cache, batch 1) spends its time: per kernel.

    python benchmarks/profile_generate.py [small|large] [--tokens N] [--runs R]

Runs the generation benchmark's setting (benchmarks/test_generate_bench.py: 16-token prompt,
N greedy tokens) R times untimed for the tokens/s, then once more with every kernel function the
model calls wrapped in a timer, and prints the microseconds per token of each and what is left
outside the kernels (Python, NumPy glue, argument checks): the untimed time per token less the
kernels' (a timer's own cost, ~1 us a call, falls mostly outside the interval it measures, so
the timed run is slower but its kernel figures hold).
"""
import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import llm.model.layers as layers_module  # noqa: E402
from benchmarks.profile_train import timed  # noqa: E402
from benchmarks.test_generate_bench import PROMPT, SIZES, make_model  # noqa: E402
from benchmarks.timing import thread_count  # noqa: E402
from llm.model import SamplingConfig  # noqa: E402

# the module objects the layers and kv_cache.py call through: wrapping their functions times both
KERNEL_MODULES = (layers_module.matmul, layers_module.attention, layers_module.layernorm,
                  layers_module.activation, layers_module.embedding)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", default="small", choices=list(SIZES))
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    model = make_model(args.size)

    def generate():
        model.generate(PROMPT, args.tokens, SamplingConfig(temperature=0))

    generate()
    runs = []
    for _ in range(args.runs):
        start = time.perf_counter()
        generate()
        runs.append(time.perf_counter() - start)
    untimed = min(runs) / args.tokens * 1e6

    totals, counts = collections.defaultdict(float), collections.Counter()
    for module in KERNEL_MODULES:
        for name in dir(module):
            if name.endswith(("_forward", "_forward_cached")):
                short = module.__name__.rsplit(".", 1)[-1]
                setattr(module, name, timed(getattr(module, name), totals, counts,
                                            f"{short}.{name}"))
    generate()
    totals.clear()
    counts.clear()
    start = time.perf_counter()
    generate()
    total = (time.perf_counter() - start) / args.tokens * 1e6

    print(f"{args.size}: {untimed:.1f} us/token untimed ({1e6 / untimed:.0f} tokens/s, best of "
          f"{args.runs}), {total:.1f} timed; {thread_count()} threads, "
          f"{args.tokens} tokens after {len(PROMPT)}")
    print(f"{'kernel':40} {'us/token':>9} {'share':>6} {'calls':>6} {'us/call':>8}")
    for key, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        us = seconds / args.tokens * 1e6
        print(f"{key:40} {us:9.2f} {us / untimed:6.1%} {counts[key] / args.tokens:6.1f} "
              f"{seconds / counts[key] * 1e6:8.2f}")
    outside = untimed - sum(totals.values()) / args.tokens * 1e6
    label = "outside (untimed total - kernels)"
    print(f"{label:40} {outside:9.2f} {outside / untimed:6.1%}")


if __name__ == "__main__":
    main()
