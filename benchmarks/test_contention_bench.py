"""Sharing the machine: training steps and generation, quiet and beside one and two competing busy
processes (each a Python `while True: pass`, started and stopped here), for our default thread
count (automatic: all cores while they are free, fewer while other processes keep them busy;
csrc/threads.h), a count fixed at every core (the default before the automatic one), one
thread, and PyTorch eager (benchmarks/torch_gpt.py) with every core and with one thread.

    python -m pytest benchmarks/test_contention_bench.py        # ours (automatic), each load
    python -m benchmarks.test_contention_bench [WORKLOAD...]    # the whole table

Workloads (the training and generation benchmarks' own measurements, run as fresh processes):
`train-small` and `train-large` (ms per training step: test_train_bench.py's sizes) and
`generate-small` and `generate-large` (tokens/s at batch 1 with the KV cache:
test_generate_bench.py's sizes). The table prints each setting's figure under each load, its
ratio to the same setting quiet, and to our own one-thread figure under the same load; settings
run in turn within each load so they see the same noise.
"""
import json
import os
import statistics
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORES = len(os.sched_getaffinity(0))
LOADS = (0, 1, 2)                       # competing busy processes
MEASURE_TIMEOUT = 600                   # seconds: one measurement beside two busy processes

# workload -> (benchmark module, its --measure arguments after the implementation, unit)
WORKLOADS = {
    "train-small": ("test_train_bench", ["small", "10"], "ms/step"),
    "train-large": ("test_train_bench", ["large", "2"], "ms/step"),
    "generate-small": ("test_generate_bench", ["small", "1"], "tokens/s"),
    "generate-large": ("test_generate_bench", ["large", "1"], "tokens/s"),
}
# setting -> (implementation, LLM_NUM_THREADS or None for our automatic default)
SETTINGS = {
    "ours, automatic": ("ours", None),
    f"ours, {CORES} fixed": ("ours", CORES),
    "ours, 1 thread": ("ours", 1),
    f"torch, {CORES} threads": ("torch", CORES),
    "torch, 1 thread": ("torch", 1),
}


@contextmanager
def busy_processes(count: int):
    """`count` processes spinning on the CPU for as long as the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def measure(workload: str, implementation: str, threads: int | None) -> float:
    """One fresh process's figure: median ms per step, or tokens/s."""
    module, arguments, unit = WORKLOADS[workload]
    env = {name: value for name, value in os.environ.items()
           if name not in ("LLM_NUM_THREADS", "OMP_NUM_THREADS")}
    if threads is not None:
        env["LLM_NUM_THREADS"] = str(threads)
    output = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--measure", implementation, *arguments],
        check=True, capture_output=True, text=True, cwd=ROOT, env=env, timeout=MEASURE_TIMEOUT)
    result = json.loads(output.stdout.strip().splitlines()[-1])
    if unit == "ms/step":
        return statistics.median(result["ms"])
    return len(result["tokens"]) / result["wall"]


def faster(a: float, b: float, unit: str) -> float:
    """How many times faster a is than b."""
    return b / a if unit == "ms/step" else a / b


@pytest.mark.parametrize("load", LOADS)
@pytest.mark.parametrize("workload", ["train-small", "generate-small"])
def test_automatic_threads_beside_busy_processes(benchmark, workload, load):
    if load and CORES < 2:
        pytest.skip("one core: nothing to share")
    benchmark.group = f"{workload}, {load} busy"
    with busy_processes(load):
        figure = benchmark.pedantic(measure, args=(workload, "ours", None), rounds=1)
    benchmark.extra_info[WORKLOADS[workload][2]] = figure
    assert figure > 0


def table(workload: str, repeats: int = 3) -> None:
    unit = WORKLOADS[workload][2]
    settings = [name for name in SETTINGS if SETTINGS[name][0] == "ours" or has_torch()]
    figures = {(name, load): [] for name in settings for load in LOADS}
    for load in LOADS:
        with busy_processes(load):
            for _ in range(repeats):
                for name in settings:
                    figures[(name, load)].append(measure(workload, *SETTINGS[name]))
    median = {key: statistics.median(values) for key, values in figures.items()}
    print(f"\n{workload} ({unit}, median of {repeats}; {CORES} cores): figure, x quiet, "
          "x our 1 thread under the same load")
    print(f"  {'':18}" + "".join(f"{f'{load} busy':>26}" for load in LOADS))
    for name in settings:
        cells = []
        for load in LOADS:
            value = median[(name, load)]
            cells.append(f"{value:9.1f} {faster(value, median[(name, 0)], unit):5.2f}x "
                         f"{faster(value, median[('ours, 1 thread', load)], unit):5.2f}x")
        print(f"  {name:18}" + "".join(f"{cell:>26}" for cell in cells))


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    for workload in sys.argv[1:] or list(WORKLOADS):
        table(workload)
