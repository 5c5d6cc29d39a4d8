"""Standard intrinsic evaluations of word vectors, reading the standard files themselves.

Analogies: the `questions-words.txt` format of word2vec (Mikolov et al., 2013) — lines
": section-name" and "a b c d" meaning a is to b as c is to d. A question counts as answered when
the word nearest (by cosine) to b - a + c, among the first restrict_vocab words and other than a,
b and c, is d (3CosAdd). Questions with a word outside those restrict_vocab words are skipped.

Word pairs: lines "word1<TAB>word2<TAB>human score" (WordSim-353, SimLex-999 …), "#" lines are
comments. The score is Spearman's rank correlation between human scores and cosine similarities
over the pairs whose words are both known (Pearson's is given too).

Both follow gensim's evaluate_word_analogies / evaluate_word_pairs: the same defaults
(restrict_vocab=300,000, case-insensitive matching in which the most frequent spelling of a word
stands for it) and the same choice among the five nearest words, so numbers are comparable.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llm.util.text import PathLike

QUESTION_BATCH = 1024   # questions scored per matrix product
CANDIDATES = 5          # nearest words looked at per question (gensim's topn=5)


@dataclass
class AnalogyResult:
    correct: int
    questions: int          # questions evaluated (all four words known)
    skipped: int            # questions with an unknown word
    sections: dict[str, tuple[int, int]]   # name: (correct, evaluated)

    @property
    def accuracy(self) -> float:
        return self.correct / self.questions if self.questions else 0.0


@dataclass
class WordPairResult:
    spearman: float
    pearson: float
    pairs: int              # pairs evaluated (both words known)
    skipped: int            # pairs with an unknown word


def known_words(words: Sequence[str], restrict_vocab: int,
                case_insensitive: bool) -> dict[str, int]:
    """The lookup the evaluations use: key -> id over the first restrict_vocab words; with
    case_insensitive, keys are upper-cased and the most frequent (first) spelling wins."""
    allowed = words[:restrict_vocab]
    if not case_insensitive:
        return {word: i for i, word in enumerate(allowed)}
    lookup: dict[str, int] = {}
    for i, word in enumerate(allowed):
        lookup.setdefault(word.upper(), i)
    return lookup


def evaluate_analogies(model, path: PathLike, *, restrict_vocab: int = 300_000,
                       case_insensitive: bool = True) -> AnalogyResult:
    """Accuracy of model (a Word2Vec: its words, most frequent first, and unit_vectors) on an
    analogy file."""
    words, unit_vectors = model.words, model.unit_vectors
    lookup = known_words(words, restrict_vocab, case_insensitive)
    key = str.upper if case_insensitive else str
    sections, questions = _read_analogies(path, lookup, key)
    candidates = unit_vectors[:restrict_vocab]
    keys = [key(word) for word in words[:restrict_vocab]]
    correct_by_section = dict.fromkeys(sections, 0)
    asked_by_section = dict.fromkeys(sections, 0)
    for start in range(0, len(questions), QUESTION_BATCH):
        batch = questions[start:start + QUESTION_BATCH]
        ids = np.array([q[1:4] for q in batch], dtype=np.int64)   # (B, 3): a, b, c
        query = unit_vectors[ids[:, 1]] - unit_vectors[ids[:, 0]] + unit_vectors[ids[:, 2]]
        scores = query @ candidates.T                                # (B, V')
        np.put_along_axis(scores, ids, -np.inf, axis=1)
        top = min(CANDIDATES, scores.shape[1])
        nearest = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        order = np.argsort(-np.take_along_axis(scores, nearest, axis=1), axis=1)
        nearest = np.take_along_axis(nearest, order, axis=1)
        for (section, a, b, c, expected), row in zip(batch, nearest):
            ignored = {keys[a], keys[b], keys[c]}
            predicted = next((keys[i] for i in row if keys[i] not in ignored), None)
            asked_by_section[section] += 1
            if predicted == keys[expected]:
                correct_by_section[section] += 1
    return AnalogyResult(
        correct=sum(correct_by_section.values()), questions=len(questions),
        skipped=sum(sections.values()) - len(questions),
        sections={name: (correct_by_section[name], asked_by_section[name]) for name in sections})


def _read_analogies(path, lookup, key):
    """Sections (name: questions in the file) and the questions whose words are all known, as
    (section, a, b, c, d) with ids."""
    sections: dict[str, int] = {}
    questions = []
    section = None
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(":"):
            section = line[1:].strip()
            sections.setdefault(section, 0)
            continue
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 4 or section is None:
            raise ValueError(f"{path}:{number}: expected ': section' or four words "
                             f"'a b c d', got {line!r}")
        sections[section] += 1
        ids = [lookup.get(key(word)) for word in fields]
        if None not in ids:
            questions.append((section, *ids))
    return sections, questions


def evaluate_word_pairs(model, path: PathLike, *, restrict_vocab: int = 300_000,
                        case_insensitive: bool = True, delimiter: str = "\t") -> WordPairResult:
    """Spearman (and Pearson) correlation of model's cosine similarities (a Word2Vec) with the
    human scores of a word-pair file."""
    words, unit_vectors = model.words, model.unit_vectors
    lookup = known_words(words, restrict_vocab, case_insensitive)
    key = str.upper if case_insensitive else str
    human, model, skipped = [], [], 0
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(delimiter)
        try:
            first, second, score = fields[0], fields[1], float(fields[2])
        except (IndexError, ValueError):
            raise ValueError(f"{path}:{number}: expected 'word1{delimiter}word2"
                             f"{delimiter}score', got {line!r}") from None
        a, b = lookup.get(key(first)), lookup.get(key(second))
        if a is None or b is None:
            skipped += 1
            continue
        human.append(score)
        model.append(float(unit_vectors[a] @ unit_vectors[b]))
    if len(human) < 2:
        raise ValueError(f"{path}: only {len(human)} pair(s) with known words; a correlation "
                         "needs at least 2")
    human_array, model_array = np.array(human), np.array(model)
    return WordPairResult(spearman=pearson(average_ranks(human_array), average_ranks(model_array)),
                          pearson=pearson(human_array, model_array),
                          pairs=len(human), skipped=skipped)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of values, ties sharing the mean of their ranks (as Spearman's rho needs)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)                   # rank of the last member of each tie group
    return (last_rank - (counts - 1) / 2.0)[inverse]


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x = x - x.mean()
    y = y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denominator) if denominator > 0 else 0.0
