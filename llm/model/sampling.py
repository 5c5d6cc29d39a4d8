"""Choosing the next token from logits: SamplingConfig (the settings, passed whole) and Sampler.

Temperature 0 is greedy (the likeliest token). Otherwise the distribution is
softmax(logits / temperature), cut to the top_k likeliest tokens, then to the smallest set of
likeliest tokens whose probability reaches top_p (nucleus sampling), drawn with a NumPy Generator
seeded by seed (the same seed gives the same tokens).
"""
import math
import numbers
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SamplingConfig:
    """How the next token is drawn from the model's logits (checked when made).

    temperature: >= 0, finite; 0 takes the likeliest token (greedy).
    top_k:       None (every token) or >= 1: keep the top_k likeliest tokens (ties included).
    top_p:       None (off) or in (0, 1]: keep the smallest set of likeliest tokens whose
                 probability reaches top_p (nucleus sampling).
    seed:        None (a fresh seed) or anything np.random.default_rng takes: the same seed
                 gives the same tokens.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: object = None

    def __post_init__(self):
        temperature, top_k, top_p = self.temperature, self.top_k, self.top_p
        if isinstance(temperature, bool) or not (isinstance(temperature, numbers.Real)
                                                 and 0 <= temperature < float("inf")):
            raise ValueError(f"temperature={temperature!r}: must be a finite number >= 0 "
                             "(0 picks the likeliest token)")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral)
                                  or top_k < 1):
            raise ValueError(f"top_k={top_k!r}: must be an integer >= 1 (or None for no limit)")
        if top_p is not None and (isinstance(top_p, bool) or not (isinstance(top_p, numbers.Real)
                                                                  and 0 < top_p <= 1)):
            raise ValueError(f"top_p={top_p!r}: must be in (0, 1] (or None for no limit)")


class Sampler:
    """Draws the next token of each row from its logits, as the module docstring says, with
    the settings of a SamplingConfig and a NumPy Generator seeded by its seed."""

    def __init__(self, config: SamplingConfig = SamplingConfig()):
        if not isinstance(config, SamplingConfig):
            raise ValueError(f"expected a SamplingConfig, got {type(config).__name__}")
        self.temperature = float(config.temperature)
        self.top_k = None if config.top_k is None else int(config.top_k)
        self.top_p = None if config.top_p is None or config.top_p == 1 else float(config.top_p)
        self.rng = np.random.default_rng(config.seed)

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        """(B,) int64 token ids drawn from logits (B, V), row by row: beyond one O(V) pass,
        a row's work is on its candidates only (the top_k; for top_p, the likeliest few).
        Logits with NaN or +infinity (a diverged model's) are a ValueError: no token can be
        drawn from them."""
        best = logits.argmax(axis=1)        # argmax points at a NaN or +inf when a row has one
        maxima = logits[np.arange(len(logits)), best]
        if not np.isfinite(maxima).all():
            row = int(np.flatnonzero(~np.isfinite(maxima))[0])
            raise ValueError(f"the logits of row {row} hold NaN or infinity: the model's weights "
                             "are not finite (a diverged training run?); no token can be drawn")
        if self.temperature == 0:
            return best
        return np.array([self._draw(row) for row in logits], np.int64)

    def _draw(self, logits: np.ndarray) -> int:
        """One token id from one row of logits (V,)."""
        candidates = None       # None: every token
        if self.top_k is not None and self.top_k < len(logits):
            kth_largest = np.partition(logits, len(logits) - self.top_k)[-self.top_k]
            candidates = np.flatnonzero(logits >= kth_largest)      # ties with the k-th stay
            logits = logits[candidates]
        # A generated token's few calls on V numbers: each picked for its dispatch cost, the
        # values being those of the plain spelling (max(), np.cumsum, np.searchsorted: ~5 us
        # more at V = 65)
        scores = logits.astype(np.float64)
        scores -= scores[scores.argmax()]
        scores *= 1 / self.temperature
        weights = np.exp(scores, out=scores)
        if self.top_p is None:
            order, cumulative = None, np.add.accumulate(weights)
        else:
            order, cumulative = self._nucleus(weights)
        # the first token whose cumulative weight exceeds a uniform draw in [0, mass): it has a
        # nonzero weight (the draw is kept below the mass should rounding reach it)
        mass = float(cumulative[-1])
        draw = min(self.rng.random() * mass, math.nextafter(mass, 0))
        position = int(cumulative.searchsorted(draw, "right"))
        token = position if order is None else int(order[position])
        return token if candidates is None else int(candidates[token])

    def _nucleus(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(order, cumulative): the indices of the smallest set of likeliest weights that holds
        top_p of their total, in decreasing weight (ties in index order), and their running
        sums. A token is dropped when the likelier ones already hold top_p of the mass.

        Only the m likeliest are sorted (found by a partition), m = 64, 512, ... until the cut
        falls within them, strictly above the m-th largest weight (then no tie at the edge can
        change the kept tokens): a peaked distribution costs O(V), not a sort of the vocabulary
        at every step. Up to 512 weights are sorted at once (cheaper than the partition)."""
        threshold = self.top_p * np.add.reduce(weights)
        n = len(weights)
        m = n if n <= 512 else 64
        while True:
            top = np.arange(n) if m == n else np.sort(np.argpartition(-weights, m - 1)[:m])
            order = top[np.argsort(-weights[top], kind="stable")]
            ordered = weights[order]
            cumulative = np.add.accumulate(ordered)
            kept = int(np.count_nonzero(cumulative - ordered < threshold))   # a prefix
            if m == n or (kept < m and ordered[kept - 1] > ordered[-1]):
                return order[:kept], cumulative[:kept]
            m = min(n, 8 * m)
