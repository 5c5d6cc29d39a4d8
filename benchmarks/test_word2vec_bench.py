"""word2vec against gensim 4 on the Gutenberg books: training speed and vector quality.

Both train on the very same sentences (llm.embeddings.WordSentences: lower-cased words, one
paragraph a sentence) with the same settings — skip-gram, dim 100, window 5, negative 5,
sample 1e-3, min_count 5, 5 epochs — and the same thread count, for seeds 1, 2, 3, our run and
gensim's alternating so both see the same machine noise.

words/s: effective words (centre words left after subsampling, all epochs — what gensim's
train() returns and logs) per second from sentences to trained vectors: vocabulary building,
encoding and training on both sides. (Ours encodes the corpus to ids once, before its kernel;
gensim looks words up inside train(), so timing only the training loops would favour us.)
The loop-only figures are printed too.
Quality: analogy accuracy on gensim's questions-words.txt and Spearman's rho on WordSim-353,
both scored by llm.embeddings.evaluate (which gives gensim's own numbers; tests/embeddings).
The table printed at the end has each seed; the targets: our median words/s at least gensim's,
our mean accuracy within 1 point of gensim's.

    python -m pytest benchmarks/test_word2vec_bench.py            # 1 and 2 threads, ~3 min
"""
import time

import numpy as np
import pytest

from llm.embeddings import Word2Vec, WordSentences

gensim_models = pytest.importorskip("gensim.models")
datapath = pytest.importorskip("gensim.test.utils").datapath
pytest.importorskip("pytest_benchmark")

SETTINGS = dict(dim=100, window=5, negative=5, sample=1e-3, min_count=5, epochs=5)
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def sentences(corpora):
    return list(WordSentences(corpora / "gutenberg"))


def train_ours(sentences, threads, seed):
    start = time.perf_counter()
    model = Word2Vec.train(sentences, skip_gram=True, seed=seed, threads=threads, **SETTINGS)
    seconds = time.perf_counter() - start
    return model, {"words_per_second": model.stats.words_trained / seconds,
                   "loop_words_per_second": model.stats.words_per_second}


def train_gensim(sentences, threads, seed):
    start = time.perf_counter()
    model = gensim_models.Word2Vec(vector_size=SETTINGS["dim"], window=SETTINGS["window"],
                                   negative=SETTINGS["negative"], sample=SETTINGS["sample"],
                                   min_count=SETTINGS["min_count"], sg=1,
                                   epochs=SETTINGS["epochs"], workers=threads, seed=seed)
    model.build_vocab(sentences)
    loop_start = time.perf_counter()
    effective_words, _ = model.train(sentences, total_examples=model.corpus_count,
                                     epochs=SETTINGS["epochs"])
    end = time.perf_counter()
    return Word2Vec(model.wv.index_to_key, model.wv.vectors), {
        "words_per_second": effective_words / (end - start),
        "loop_words_per_second": effective_words / (end - loop_start)}


def quality(model):
    analogies = model.evaluate_analogies(datapath("questions-words.txt"))
    pairs = model.evaluate_word_pairs(datapath("wordsim353.tsv"))
    return {"accuracy": analogies.accuracy, "questions": analogies.questions,
            "spearman": pairs.spearman}


@pytest.fixture(scope="module")
def summary(report_lines):
    """threads -> {"ours": [row per seed], "gensim": [...]}; printed at the end of the module."""
    table = {}
    yield table
    report_lines.append("word2vec skip-gram on Gutenberg (dim 100, window 5, negative 5, "
                        "sample 1e-3, min_count 5, 5 epochs); effective words/s")
    for threads, runs in table.items():
        for name, rows in runs.items():
            cells = "  ".join(f"seed {row['seed']}: {row['words_per_second'] / 1e3:4.0f}k "
                              f"(loop {row['loop_words_per_second'] / 1e3:4.0f}k) "
                              f"{row['accuracy']:6.2%} rho {row['spearman']:.3f}"
                              for row in rows)
            report_lines.append(f"  {threads} thread(s) {name:7} {cells}")
        ours, theirs = runs["ours"], runs["gensim"]
        speed = np.median([r["words_per_second"] for r in ours]) / np.median(
            [r["words_per_second"] for r in theirs])
        accuracy = np.mean([r["accuracy"] for r in ours]) - np.mean(
            [r["accuracy"] for r in theirs])
        report_lines.append(f"  {threads} thread(s) ours/gensim median words/s "
                            f"{speed:.2f}x, mean accuracy difference "
                            f"{accuracy * 100:+.2f} points")


@pytest.mark.parametrize("threads", [1, 2])
def test_word2vec_vs_gensim(benchmark, summary, sentences, threads):
    runs = {"ours": [], "gensim": []}
    for seed in SEEDS:
        if seed == SEEDS[0]:   # pytest-benchmark records our first run
            model, speeds = benchmark.pedantic(train_ours, args=(sentences, threads, seed),
                                               rounds=1, iterations=1)
        else:
            model, speeds = train_ours(sentences, threads, seed)
        runs["ours"].append({"seed": seed, **speeds, **quality(model)})
        model, speeds = train_gensim(sentences, threads, seed)
        runs["gensim"].append({"seed": seed, **speeds, **quality(model)})
    summary[threads] = runs

    for name, rows in runs.items():
        for key in ("words_per_second", "loop_words_per_second", "accuracy", "spearman"):
            benchmark.extra_info[f"{name}_{key}"] = [round(row[key], 4) for row in rows]
    ours_speed = np.median([row["words_per_second"] for row in runs["ours"]])
    gensim_speed = np.median([row["words_per_second"] for row in runs["gensim"]])
    assert ours_speed >= gensim_speed
    ours_accuracy = np.mean([row["accuracy"] for row in runs["ours"]])
    gensim_accuracy = np.mean([row["accuracy"] for row in runs["gensim"]])
    assert abs(ours_accuracy - gensim_accuracy) <= 0.01
    assert runs["ours"][0]["questions"] == runs["gensim"][0]["questions"]
