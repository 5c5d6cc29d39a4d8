"""Word2Vec: train word vectors (skip-gram or CBOW with negative sampling), query them, save and
load them in the standard word2vec formats.

Training builds the vocabulary (words seen at least min_count times), encodes the corpus once
into an int32 array of word ids and hands it to the C kernel (csrc/word2vec.c), which runs every
epoch over OpenMP threads, Hogwild-style. The algorithm and its parameters are word2vec.c's;
csrc/word2vec.h describes them.
"""
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from llm._ext import runtime as _runtime
from llm._ext import word2vec as _kernels
from llm.embeddings.evaluate import (
    AnalogyResult,
    WordPairResult,
    evaluate_analogies,
    evaluate_word_pairs,
)
from llm.embeddings.formats import load_word2vec, save_word2vec
from llm.embeddings.vocab import Vocabulary
from llm.util.text import PathLike

log = logging.getLogger(__name__)

PROGRESS_POLL_SECONDS = 0.2


class UnknownWordError(KeyError, ValueError):
    """A word that is not in the vocabulary (a KeyError for lookups, a ValueError for the CLI)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class TrainingStats:
    corpus_words: int     # in-vocabulary words in one pass over the corpus
    words_trained: int    # centre words trained, after subsampling, over all epochs
    seconds: float        # wall time of the training kernel
    threads: int

    @property
    def words_per_second(self) -> float:
        """Effective words (after subsampling) per second, the figure gensim logs too."""
        return self.words_trained / self.seconds if self.seconds > 0 else 0.0


class Word2Vec:
    """Word vectors and the queries on them.

    words: V distinct words, most frequent first (a word's id is its position);
    vectors: (V, D) float32; counts: (V,) int64 corpus counts, when known.
    Make one with Word2Vec.train(sentences) or Word2Vec.load(path).
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray,
                 counts: np.ndarray | None = None):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words) or vectors.shape[0] == 0:
            raise ValueError(f"vectors has shape {vectors.shape}; expected ({len(words)}, D) "
                             "with at least one word, one row per word")
        self.words = list(words)
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("words lists a word twice")
        self.vectors = vectors
        self.counts = counts
        self.stats: TrainingStats | None = None
        self._unit_vectors: np.ndarray | None = None

    # ---- training ----------------------------------------------------------------------------

    @classmethod
    def train(cls, sentences: Iterable[Sequence[str]], *, dim: int = 100, window: int = 5,
              negative: int = 5, sample: float = 1e-3, min_count: int = 5,
              skip_gram: bool = True, epochs: int = 5, alpha: float | None = None,
              min_alpha: float = 1e-4, seed: int = 1, threads: int | None = None,
              progress: bool = False) -> "Word2Vec":
        """Train word vectors on sentences: an iterable of lists of words, read once (a list,
        a generator, or llm.embeddings.WordSentences over files).

        dim: vector size; window: largest distance of a context word (each centre word draws
        its reach uniformly from 1..window); negative: noise words per step; sample: subsampling
        threshold (0: off); min_count: rarer words are dropped; skip_gram: else CBOW;
        alpha: initial learning rate (default 0.025 skip-gram, 0.05 CBOW, as word2vec.c),
        decaying linearly to min_alpha over all epochs; seed: vectors and every random draw
        derive from it — with threads=1 the result is bit-for-bit reproducible; threads: OpenMP
        threads (default: llm.set_num_threads / LLM_NUM_THREADS); progress: show a progress bar.
        """
        alpha = alpha if alpha is not None else (0.025 if skip_gram else 0.05)
        threads = threads if threads is not None else _runtime.max_threads()
        for name, value in (("dim", dim), ("window", window), ("negative", negative),
                            ("epochs", epochs), ("threads", threads)):
            if value < 1:
                raise ValueError(f"{name}={value}: must be at least 1")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed={seed!r}: must be a non-negative int")

        vocab, corpus, sentence_starts = Vocabulary.encode_corpus(sentences, min_count)
        log.info("word2vec: %d words in the vocabulary (min_count=%d), %d corpus words in %d "
                 "sentences", len(vocab), min_count, corpus.size, sentence_starts.size - 1)
        # Uniform in [-1/dim, 1/dim), as gensim 4 (word2vec.c: ±0.5/dim, which on the Gutenberg
        # benchmark scores 0.3 points lower on analogies, over six paired seeds).
        rng = np.random.default_rng(seed)
        input_vectors = (rng.random((len(vocab), dim), dtype=np.float32) * 2 - 1) / dim
        output_vectors = np.zeros((len(vocab), dim), dtype=np.float32)
        keep_probability = vocab.keep_probabilities(sample)
        noise_accept, noise_alias = _kernels.alias_table(vocab.noise_weights())
        counters = np.zeros(2, dtype=np.int64)   # words done, words trained (see word2vec.h)

        def run_kernel():
            _kernels.train(input_vectors, output_vectors, counters, corpus, sentence_starts,
                           keep_probability, noise_accept, noise_alias,
                           window=window, negative=negative, skip_gram=skip_gram,
                           epochs=epochs, alpha=alpha, min_alpha=min_alpha, seed=seed,
                           n_threads=threads)

        start = time.perf_counter()
        if progress:
            _run_with_progress_bar(run_kernel, counters, total=corpus.size * epochs)
        else:
            run_kernel()
        seconds = time.perf_counter() - start

        model = cls(vocab.words, input_vectors, vocab.counts)
        model.stats = TrainingStats(corpus_words=int(corpus.size),
                                    words_trained=int(counters[1]), seconds=seconds,
                                    threads=threads)
        log.info("word2vec: trained %d effective words in %.2f s (%.0f words/s, %d threads)",
                 model.stats.words_trained, seconds, model.stats.words_per_second, threads)
        return model

    # ---- lookups and queries -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        """The (D,) float32 vector of word."""
        return self.vectors[self.id(word)]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def id(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise UnknownWordError(f"{word!r} is not in the vocabulary ({len(self)} words; "
                                   "rare words fall under min_count)") from None

    @property
    def unit_vectors(self) -> np.ndarray:
        """(V, D) float32: the vectors scaled to unit length (zero vectors stay zero)."""
        if self._unit_vectors is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit_vectors = self.vectors / np.where(norms > 0, norms, 1.0)
        return self._unit_vectors

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        unit = self.unit_vectors
        return float(unit[self.id(a)] @ unit[self.id(b)])

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The topn words of highest cosine similarity to word (itself excluded), best first."""
        i = self.id(word)
        return self._nearest(self.unit_vectors[i], topn, exclude=[i])

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """The words nearest to a - b + c (3CosAdd over unit vectors), a, b and c excluded:
        analogy("king", "man", "woman") answers "queen" on good vectors."""
        ids = [self.id(a), self.id(b), self.id(c)]
        unit = self.unit_vectors
        return self._nearest(unit[ids[0]] - unit[ids[1]] + unit[ids[2]], topn, exclude=ids)

    def _nearest(self, query: np.ndarray, topn: int, exclude: list[int]) -> list[tuple[str,
                                                                                    float]]:
        if topn < 1:
            raise ValueError(f"topn={topn}: must be at least 1")
        norm = np.linalg.norm(query)
        scores = self.unit_vectors @ (query / norm if norm > 0 else query)
        scores[exclude] = -np.inf
        topn = min(topn, len(self) - len(set(exclude)))
        if topn <= 0:
            return []
        best = np.argpartition(-scores, topn - 1)[:topn]
        best = best[np.lexsort((best, -scores[best]))]   # best first; ties: frequent first
        return [(self.words[i], float(scores[i])) for i in best]

    def evaluate_analogies(self, path: PathLike, **options) -> AnalogyResult:
        """Accuracy on a questions-words.txt-format file (llm.embeddings.evaluate)."""
        return evaluate_analogies(self, path, **options)

    def evaluate_word_pairs(self, path: PathLike, **options) -> WordPairResult:
        """Spearman correlation on a word-pair similarity file (llm.embeddings.evaluate)."""
        return evaluate_word_pairs(self, path, **options)

    # ---- files -------------------------------------------------------------------------------

    def save(self, path: PathLike, *, binary: bool | None = None) -> None:
        """Write the standard word2vec format; binary: None to choose from the file name
        (".bin" binary, anything else text)."""
        if binary is None:
            binary = str(path).endswith(".bin")
        save_word2vec(path, self.words, self.vectors, binary=binary)

    @classmethod
    def load(cls, path: PathLike, *, binary: bool | None = None) -> "Word2Vec":
        """Read a word2vec text or binary file (binary=None: tell from its contents)."""
        words, vectors = load_word2vec(path, binary=binary)
        if not words:
            raise ValueError(f"{path} holds no vectors")
        return cls(words, vectors)


def _run_with_progress_bar(run_kernel, counters: np.ndarray, total: int) -> None:
    """Run the kernel (which releases the GIL) in a thread while a tqdm bar follows
    counters[0], the words done."""
    failure: list[BaseException] = []

    def target():
        try:
            run_kernel()
        except BaseException as error:  # re-raised in the calling thread
            failure.append(error)

    worker = threading.Thread(target=target, name="word2vec", daemon=True)
    with tqdm(total=total, unit="word", unit_scale=True, desc="word2vec") as bar:
        worker.start()
        while worker.is_alive():
            worker.join(PROGRESS_POLL_SECONDS)
            bar.update(int(counters[0]) - bar.n)
    if failure:
        raise failure[0]
