"""The word2vec vocabulary: words with their corpus counts, most frequent first; a word's id is
its position. It is built in the same single pass over the sentences that turns them into the
int32 corpus the C kernel trains on, and gives the two per-word distributions training samples
from (subsampling, noise words)."""
from array import array
from collections.abc import Iterable, Sequence

import numpy as np


class Vocabulary:
    """words: list of V distinct words, most frequent first; counts: (V,) int64 their counts."""

    def __init__(self, words: Sequence[str], counts: np.ndarray):
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("the vocabulary lists a word twice")
        if self.counts.shape != (len(self.words),):
            raise ValueError(f"counts has shape {self.counts.shape}; expected "
                             f"({len(self.words)},), one count per word")

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def encode_corpus(cls, sentences: Iterable[Sequence[str]],
                      min_count: int) -> tuple["Vocabulary", np.ndarray, np.ndarray]:
        """Read sentences once: the vocabulary of the words occurring at least min_count times
        (by descending count; ties: first occurrence first, as gensim orders them), and the
        corpus as ids of those words.

        Words below min_count are dropped from the corpus (as word2vec.c and gensim drop them,
        so windows reach across them); sentences left empty are dropped.
        Returns (vocabulary, corpus: (N,) int32 ids, sentence_starts: (S + 1,) int64 offsets),
        sentence s being corpus[sentence_starts[s]:sentence_starts[s + 1]].
        """
        if min_count < 1:
            raise ValueError(f"min_count={min_count}: must be at least 1")
        first_seen: dict[str, int] = {}   # word -> id in order of first occurrence
        ids = array("i")
        lengths = array("q")
        for sentence in sentences:
            ids.extend([first_seen.setdefault(word, len(first_seen)) for word in sentence])
            lengths.append(len(sentence))
        if not first_seen:
            raise ValueError("the corpus is empty: no sentence holds a word")
        ids_array = np.frombuffer(ids, dtype=np.intc)
        counts = np.bincount(ids_array, minlength=len(first_seen))
        by_count = np.argsort(-counts, kind="stable")
        kept = by_count[counts[by_count] >= min_count]
        words = list(first_seen)
        if kept.size == 0:
            raise ValueError(f"no word occurs min_count={min_count} times (the most frequent, "
                             f"{words[by_count[0]]!r}, occurs {counts[by_count[0]]}); lower "
                             "min_count")
        new_id = np.full(len(first_seen), -1, dtype=np.int32)
        new_id[kept] = np.arange(kept.size, dtype=np.int32)
        renumbered = new_id[ids_array]
        known = renumbered >= 0
        known_before = np.concatenate([[0], np.cumsum(known, dtype=np.int64)])
        sentence_ends = np.cumsum(np.frombuffer(lengths, dtype=np.longlong))
        sentence_starts = np.unique(np.concatenate([[0], known_before[sentence_ends]]))
        vocabulary = cls([words[i] for i in kept], counts[kept])
        return vocabulary, renumbered[known], sentence_starts

    def keep_probabilities(self, sample: float) -> np.ndarray:
        """(V,) float32: the probability that subsampling keeps each occurrence of a word,
        min(1, (sqrt(c / t) + 1) * t / c) for count c and t = sample * total count (word2vec.c's
        formula); sample = 0 keeps every word."""
        if sample < 0:
            raise ValueError(f"sample={sample}: must be >= 0 (0 turns subsampling off)")
        if sample == 0:
            return np.ones(len(self), dtype=np.float32)
        threshold = sample * float(self.counts.sum())
        counts = self.counts.astype(np.float64)
        keep = (np.sqrt(counts / threshold) + 1.0) * threshold / counts
        return np.minimum(keep, 1.0).astype(np.float32)

    def noise_weights(self, power: float = 0.75) -> np.ndarray:
        """(V,) float64: count ** power, the unnormalised distribution of noise words."""
        return self.counts.astype(np.float64) ** power
