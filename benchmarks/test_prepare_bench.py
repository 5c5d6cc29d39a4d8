"""`llm data prepare` against nanoGPT's way of preparing a corpus, in the same session: read
each file, tiktoken's encode_ordinary (tiktoken built from our own mergeable_ranks(), so both
sides produce the same ids — checked), end-of-text between files, the last 10% split off,
np.uint16 arrays written with tofile. Ours streams 4 MiB chunks through our C encoder.
The corpus: the 13 Gutenberg books and tiny Shakespeare (7.2 MB), a 4,096-token byte-level BPE.

    python -m pytest benchmarks/test_prepare_bench.py --benchmark-only \\
        --benchmark-columns=median,min,rounds --benchmark-timer=time.process_time

CPU time (the machine is shared); ours is timed with one encoding thread and with two (CPU time
then adds both threads: compare wall medians on a quiet machine for the speed-up). MB/s in
extra_info. Skipped without the shared corpora; the peer is skipped without tiktoken.
"""
import shutil

import numpy as np
import pytest

from benchmarks.timing import benchmark_median
from llm.data.prepare import load_prepared, prepare
from llm.tokenizer import Tokenizer
from llm.tokenizer.pretokenize import GPT2_PATTERN

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def files(corpora):
    paths = sorted((corpora / "gutenberg").glob("*.txt")) + [corpora / "tinyshakespeare.txt"]
    return paths


@pytest.fixture(scope="module")
def tokenizer(files):
    return Tokenizer.train(files, 4096)


def megabytes(files) -> float:
    return sum(path.stat().st_size for path in files) / 1e6


def record(benchmark, files) -> None:
    median = benchmark_median(benchmark)
    if median is None:
        return
    benchmark.extra_info["median_s"] = round(median, 4)
    benchmark.extra_info["MB_per_s"] = round(megabytes(files) / median, 2)


@pytest.mark.parametrize("threads", [1, 2])
def test_prepare_ours(benchmark, files, tokenizer, tmp_path, threads):
    out = tmp_path / "out"

    def run():
        shutil.rmtree(out, ignore_errors=True)
        return prepare(tokenizer, files, out, progress=False, num_threads=threads)

    meta = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    assert meta["train_tokens"] + meta["val_tokens"] > 1_000_000
    record(benchmark, files)


def nanogpt_prepare(encoding, files, out_dir, eot: int) -> None:
    """nanoGPT's data/*/prepare.py, for several files: ids as uint16, last 10% validate."""
    ids = []
    for number, path in enumerate(files):
        if number:
            ids.append(eot)
        ids.extend(encoding.encode_ordinary(path.read_bytes().decode("utf-8", "replace")))
    n_train = int(len(ids) * 0.9)
    np.array(ids[:n_train], dtype=np.uint16).tofile(out_dir / "train.bin")
    np.array(ids[n_train:], dtype=np.uint16).tofile(out_dir / "val.bin")


def test_prepare_nanogpt_tiktoken(benchmark, files, tokenizer, tmp_path):
    tiktoken = pytest.importorskip("tiktoken")
    encoding = tiktoken.Encoding("ours", pat_str=GPT2_PATTERN,
                                 mergeable_ranks=tokenizer.mergeable_ranks(),
                                 special_tokens=tokenizer.special_tokens)
    eot = tokenizer.special_tokens[EOT]
    benchmark.pedantic(nanogpt_prepare, args=(encoding, files, tmp_path, eot), rounds=5,
                       warmup_rounds=1)
    record(benchmark, files)
    prepare(tokenizer, files, tmp_path / "ours", progress=False)
    train, val, _ = load_prepared(tmp_path / "ours")
    np.testing.assert_array_equal(np.fromfile(tmp_path / "train.bin", np.uint16), train)
    np.testing.assert_array_equal(np.fromfile(tmp_path / "val.bin", np.uint16), val)
