"""The word2vec vocabulary: words with their corpus counts, most frequent first; a word's id is
its position. It also turns sentences into the int32 corpus the C kernel trains on, and gives the
two per-word distributions training samples from (subsampling, noise words)."""
from collections import Counter
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
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int) -> "Vocabulary":
        """The words occurring at least min_count times, by descending count (ties: first
        occurrence first, as gensim orders them)."""
        if min_count < 1:
            raise ValueError(f"min_count={min_count}: must be at least 1")
        counter = Counter()
        for sentence in sentences:
            counter.update(sentence)
        if not counter:
            raise ValueError("the corpus is empty: no sentence holds a word")
        kept = sorted(((word, count) for word, count in counter.items() if count >= min_count),
                      key=lambda item: -item[1])
        if not kept:
            raise ValueError(f"no word occurs min_count={min_count} times (the most frequent, "
                             f"{counter.most_common(1)[0][0]!r}, occurs "
                             f"{counter.most_common(1)[0][1]}); lower min_count")
        words, counts = zip(*kept)
        return cls(words, np.array(counts, dtype=np.int64))

    def encode(self, sentences: Iterable[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The sentences as word ids, words outside the vocabulary dropped (as word2vec.c and
        gensim do, so windows reach across them); sentences left empty are dropped.

        Returns corpus: (N,) int32 ids and sentence_starts: (S + 1,) int64 offsets, sentence s
        being corpus[sentence_starts[s]:sentence_starts[s + 1]].
        """
        index = self.index
        ids: list[int] = []
        starts = [0]
        for sentence in sentences:
            ids.extend(index[word] for word in sentence if word in index)
            if len(ids) > starts[-1]:
                starts.append(len(ids))
        return np.array(ids, dtype=np.int32), np.array(starts, dtype=np.int64)

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
