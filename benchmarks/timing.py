"""Timing helpers shared by the benchmark modules."""
import os
import time
from typing import Callable, NamedTuple

import numpy as np


class Medians(NamedTuple):
    wall: float   # seconds
    cpu: float    # seconds of process CPU time (all threads)


def benchmark_median(benchmark) -> float | None:
    """pytest-benchmark's median seconds for the function it just timed; None under
    --benchmark-disable, which runs the function once (a smoke test) and keeps no statistics."""
    return benchmark.stats.stats.median if benchmark.stats else None


def interleaved_medians(functions: dict[str, Callable[[], object]], rounds: int,
                        warmup: bool = True) -> dict[str, Medians]:
    """Median wall and CPU seconds of each function, run in turn round after round so that all
    see the same machine noise. On a shared machine CPU time is the steadier measure of
    single-threaded runs; wall time is the one that counts for multi-threaded ones."""
    if warmup:
        for fn in functions.values():
            fn()  # pages, thread pools, SIMD dispatch
    times = {name: ([], []) for name in functions}
    for _ in range(rounds):
        for name, fn in functions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    return {name: Medians(float(np.median(wall)), float(np.median(cpu)))
            for name, (wall, cpu) in times.items()}


def thread_count() -> int:
    """The threads our kernels use on a quiet machine, and so the count a peer is given: the
    fixed one (LLM_NUM_THREADS), or, under the automatic policy (which runs fewer while other
    processes are busy), one per core this process may run on."""
    from llm._ext import runtime

    return runtime.max_threads() if not runtime.threads_automatic() else len(
        os.sched_getaffinity(0))
