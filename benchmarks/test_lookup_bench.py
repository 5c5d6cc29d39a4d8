"""Token lookup three ways (brute force, binary search, hash table) against Python's dict and
bisect, in groups "lookup <size> <position> <mode>": vocabulary sizes 1k/16k/64k; keys near the
start, middle and end of the sorted vocabulary, anywhere in it, or absent; "single" is a Python
loop of get(key), "batch" one get_many(keys) (dict and bisect run their Python loop in both).
Every call looks up llm.cli.bench.KEYS_PER_CALL keys; extra_info has ns per key.
The workload is the one `llm bench lookup` prints. On a shared machine, time CPU, not wall clock:

    pytest benchmarks/test_bench.py --benchmark-only --benchmark-timer=time.process_time \
        --benchmark-columns=median,iqr,rounds
"""
import functools

import pytest

from benchmarks.timing import benchmark_median
from llm.cli import bench

pytest.importorskip("pytest_benchmark")


@functools.cache
def workload(size: int) -> bench.Workload:
    return bench.make_workload(size, seed=0)


@pytest.mark.parametrize("method", bench.METHODS)
@pytest.mark.parametrize("mode", bench.MODES)
@pytest.mark.parametrize("position", bench.POSITIONS)
@pytest.mark.parametrize("size", bench.SIZES, ids=bench.size_label)
def test_lookup(benchmark, size, position, mode, method):
    work = workload(size)
    benchmark.group = f"lookup {bench.size_label(size)} {position} {mode}"
    ids = benchmark(bench.lookup_call(work, method, mode, position))
    assert list(ids) == work.expected[position]
    median = benchmark_median(benchmark)
    if median is not None:
        benchmark.extra_info["ns_per_key"] = round(median / bench.KEYS_PER_CALL * 1e9, 1)


@functools.cache
def scattered_workload() -> bench.ScatteredWorkload:
    return bench.make_scattered_workload()


@pytest.mark.parametrize("method", ["dict", "hash single", "hash batch"])
def test_lookup_scattered(benchmark, method):
    """100,000 keys, each its own bytes object and spread through memory, in a table of
    100,000 tokens (bench.make_scattered_workload): cache misses, not arithmetic, set the
    pace. The target: hash batch >= 5x dict (a Python loop of dict.get)."""
    work = scattered_workload()
    benchmark.group = "lookup 100k scattered"
    keys = work.keys
    if method == "dict":
        get = work.ids.get
        call = lambda: [get(key, -1) for key in keys]   # noqa: E731
    elif method == "hash single":
        get = work.lookup.get
        call = lambda: [get(key) for key in keys]   # noqa: E731
    else:
        call = lambda: work.lookup.get_many(keys)   # noqa: E731
    ids = benchmark.pedantic(call, rounds=15, warmup_rounds=1)
    assert list(ids) == work.expected
    median = benchmark_median(benchmark)
    if median is not None:
        benchmark.extra_info["ns_per_key"] = round(median / len(keys) * 1e9, 1)
