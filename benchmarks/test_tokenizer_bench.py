"""Tokenizer speed against its peers, in the same session: BPE training time (ours against HF
tokenizers' BpeTrainer with the ByteLevel pre-tokenizer) and encoding throughput (ours against
tiktoken built from our own mergeable_ranks() and GPT-2's pattern, and against HF tokenizers
loaded from our export). Byte mode, on tinyshakespeare and on the Gutenberg books concatenated.
Single thread, as the targets are stated:

    LLM_NUM_THREADS=1 RAYON_NUM_THREADS=1 python -m pytest benchmarks/test_tokenizer_bench.py \\
        --benchmark-only --benchmark-columns=median,min,rounds --benchmark-sort=name \\
        --benchmark-timer=time.process_time

(CPU time, because the machine is shared; every side is single-threaded here.)

Training: ours gets the corpus as one str, HF its lines through train_from_iterator (HF's faster
way: on one 6 MB str it is slower still); word counting is included on both sides.
Encoding: the whole corpus as one str, ids returned as a Python list, for ours and tiktoken; our
piece cache starts empty in every round (a fresh Tokenizer). HF encodes one huge str very slowly
(about 20 s for the Gutenberg books), so it gets the lines through encode_batch, and its ids are
checked against ours line by line. MB/s are in extra_info. Peers are skipped when the `bench`
extra is not installed; everything is skipped without the shared corpora.
"""
import json
import os
import time

import numpy as np
import pytest

from benchmarks.timing import benchmark_median
from llm.tokenizer import Tokenizer
from llm.tokenizer.byte_level import byte_to_unicode
from llm.tokenizer.export import hf_tokenizer_json
from llm.tokenizer.pretokenize import GPT2_PATTERN
from llm.tokenizer.schema import TokenizerSpec

VOCAB_SIZES = (4096, 16384)
EOT = "<|endoftext|>"


@pytest.fixture(scope="module", params=["tinyshakespeare", "gutenberg"])
def corpus(request, corpora) -> str:
    """The corpus as one str (the Latin-1 Gutenberg book's bad bytes replaced, for every side)."""
    if request.param == "tinyshakespeare":
        paths = [corpora / "tinyshakespeare.txt"]
    else:
        paths = sorted((corpora / "gutenberg").glob("*.txt"))
        if not paths:
            pytest.skip(f"no Gutenberg books in {corpora / 'gutenberg'}")
    return "".join(path.read_bytes().decode("utf-8", errors="replace") for path in paths)


@pytest.fixture(scope="module")
def trained(corpus) -> Tokenizer:
    return Tokenizer.train(corpus, 16384)


def megabytes(text: str) -> float:
    return len(text.encode("utf-8")) / 1e6


def record(benchmark, text: str) -> None:
    median = benchmark_median(benchmark)
    if median is None:
        return
    benchmark.extra_info["median_s"] = round(median, 4)
    benchmark.extra_info["MB_per_s"] = round(megabytes(text) / median, 2)


# ---- training ------------------------------------------------------------------------------

@pytest.mark.parametrize("vocab_size", VOCAB_SIZES)
def test_train_ours(benchmark, corpus, vocab_size):
    tokenizer = benchmark.pedantic(Tokenizer.train, args=(corpus, vocab_size), rounds=3,
                                   warmup_rounds=1)
    assert tokenizer.vocab_size <= vocab_size
    record(benchmark, corpus)
    benchmark.extra_info["vocab_size"] = tokenizer.vocab_size


@pytest.mark.parametrize("vocab_size", VOCAB_SIZES)
def test_train_hf(benchmark, corpus, vocab_size):
    tokenizers = pytest.importorskip("tokenizers")
    lines = corpus.splitlines(keepends=True)
    from tokenizers import decoders, models, pre_tokenizers, trainers

    def train():
        tokenizer = tokenizers.Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=[EOT])
        tokenizer.train_from_iterator(lines, trainer)
        return tokenizer

    tokenizer = benchmark.pedantic(train, rounds=3, warmup_rounds=1)
    record(benchmark, corpus)
    benchmark.extra_info["vocab_size"] = tokenizer.get_vocab_size()
    benchmark.extra_info["RAYON_NUM_THREADS"] = os.environ.get("RAYON_NUM_THREADS", "all")


# ---- encoding ------------------------------------------------------------------------------

def test_encode_ours(benchmark, corpus, trained):
    spec = trained.spec
    ids = benchmark.pedantic(lambda tokenizer: tokenizer.encode(corpus),
                             setup=lambda: ((Tokenizer(spec),), {}), rounds=5, warmup_rounds=1)
    assert trained.decode(ids) == corpus
    record(benchmark, corpus)


def test_encode_ours_gpt2_order(benchmark, corpus, trained):
    """test_encode_ours with the ids in GPT-2's order (bytes in byte_to_unicode order first, as
    a GPT-2 vocab.json loaded by from_pretrained has them): one gather more than the identity."""
    spec = trained.spec
    byte_order = {byte: i for i, byte in enumerate(byte_to_unicode())}
    order = np.array([byte_order[i] if i < 256 else i for i in range(spec.vocab_size)], np.int32)
    gpt2_spec = TokenizerSpec(spec.mode, None, None, spec.merges, spec.special_tokens, order)
    ids = benchmark.pedantic(lambda tokenizer: tokenizer.encode(corpus),
                             setup=lambda: ((Tokenizer(gpt2_spec),), {}), rounds=5, warmup_rounds=1)
    assert ids == order[trained.encode(corpus)].tolist()
    record(benchmark, corpus)


def test_encode_ours_greedy(benchmark, corpus, trained):
    spec = trained.spec
    ids = benchmark.pedantic(lambda tokenizer: tokenizer.encode(corpus, method="greedy"),
                             setup=lambda: ((Tokenizer(spec),), {}), rounds=5, warmup_rounds=1)
    assert trained.decode(ids) == corpus
    record(benchmark, corpus)


def test_encode_tiktoken(benchmark, corpus, trained):
    tiktoken = pytest.importorskip("tiktoken")
    encoding = tiktoken.Encoding("ours", pat_str=GPT2_PATTERN, mergeable_ranks=trained.mergeable_ranks(),
                                 special_tokens=trained.special_tokens)
    ids = benchmark.pedantic(encoding.encode_ordinary, args=(corpus,), rounds=5, warmup_rounds=1)
    assert ids == trained.encode(corpus), "tiktoken with our ranks must give our ids"
    record(benchmark, corpus)


def test_encode_hf(benchmark, corpus, trained, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(hf_tokenizer_json(trained)))
    hf = tokenizers.Tokenizer.from_file(str(path))
    lines = corpus.splitlines(keepends=True)
    encodings = benchmark.pedantic(hf.encode_batch, args=(lines,), rounds=3, warmup_rounds=1)
    assert [e.ids for e in encodings[:3000]] == [trained.encode(line) for line in lines[:3000]], \
        "HF with our export must give our ids"
    record(benchmark, corpus)


# ---- one huge piece --------------------------------------------------------------------------

HUGE = {"a": "a" * 100_000, "the": "the" * 33_334}


@pytest.mark.parametrize("name", HUGE)
def test_huge_piece_ours(benchmark, corpus, trained, name):
    """One unsplit piece of 100 kB: merge-rank BPE with a heap stays O(n log n). Also checks
    that ten times the length costs about ten times the time, not a hundred."""
    text = HUGE[name]
    spec = trained.spec
    ids = benchmark.pedantic(lambda tokenizer: tokenizer.encode(text),
                             setup=lambda: ((Tokenizer(spec),), {}), rounds=5)
    assert trained.decode(ids) == text
    record(benchmark, text)
    timings = []
    tokenizer = Tokenizer(spec)
    for repeat in (1, 10):   # a warm workspace: the scratch is allocated before timing
        longer = text * repeat
        tokenizer.encode(longer)
        start = time.process_time()
        tokenizer.encode(longer)
        timings.append(time.process_time() - start)
    benchmark.extra_info["time_ratio_10x_length"] = round(timings[1] / timings[0], 1)
    assert timings[1] / timings[0] < 25


@pytest.mark.parametrize("name", HUGE)
def test_huge_piece_tiktoken(benchmark, corpus, trained, name):
    tiktoken = pytest.importorskip("tiktoken")
    text = HUGE[name]
    encoding = tiktoken.Encoding("ours", pat_str=GPT2_PATTERN, mergeable_ranks=trained.mergeable_ranks(),
                                 special_tokens=trained.special_tokens)
    ids = benchmark.pedantic(encoding.encode_ordinary, args=(text,), rounds=3)
    assert ids == trained.encode(text)
    record(benchmark, text)
