"""Pre-tokenization speed: our C split against `regex.findall` with GPT-2's pattern (how GPT-2's
own encoder.py, transformers' slow GPT2Tokenizer and tiktoken's educational BPE split text), on
tinyshakespeare and the Gutenberg concatenation. Reported as MB/s of input in extra_info (from the median); both are single-threaded.
On a shared machine, time CPU rather than wall clock:

    LLM_NUM_THREADS=1 python -m pytest benchmarks/test_pretokenize_bench.py \
        --benchmark-timer=time.process_time --benchmark-columns=median
"""
import pytest

from benchmarks.timing import benchmark_median
from llm.tokenizer.pretokenize import GPT2_PATTERN, split

regex = pytest.importorskip("regex")


@pytest.fixture(scope="module", params=["tinyshakespeare", "gutenberg"])
def corpus(request, corpora) -> bytes:
    """The corpus as bytes (the Gutenberg books concatenated, one Latin-1 book included)."""
    if request.param == "tinyshakespeare":
        return (corpora / "tinyshakespeare.txt").read_bytes()
    books = sorted((corpora / "gutenberg").glob("*.txt"))
    if not books:
        pytest.skip(f"no Gutenberg books in {corpora / 'gutenberg'}")
    return b"".join(book.read_bytes() for book in books)


def record_speed(benchmark, size: int) -> None:
    median = benchmark_median(benchmark)
    if median is not None:
        benchmark.extra_info["MB_per_s"] = round(size / median / 1e6, 1)


@pytest.mark.parametrize("mode", ["gpt2", "naive"])
def test_ours(benchmark, corpus, mode):
    bounds = benchmark(split, corpus, mode)
    assert bounds[-1] == len(corpus)
    record_speed(benchmark, len(corpus))


def test_regex_gpt2(benchmark, corpus):
    # Invalid bytes become lone surrogates: "other" characters, as in our split.
    text = corpus.decode("utf-8", errors="surrogateescape")
    pattern = regex.compile(GPT2_PATTERN)
    pieces = benchmark(pattern.findall, text)
    assert len(pieces) == len(split(corpus)) - 1
    record_speed(benchmark, len(corpus))
