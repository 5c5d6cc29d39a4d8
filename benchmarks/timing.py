"""Timing helpers shared by the benchmark modules."""
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
