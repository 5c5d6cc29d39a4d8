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
