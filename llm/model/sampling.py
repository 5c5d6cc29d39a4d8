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
        """(B,) int64 token ids drawn from logits (B, V), row by row (draw_rows)."""
        return draw_rows([self] * len(logits), logits)

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


def draw_rows(samplers: list[Sampler], logits: np.ndarray) -> np.ndarray:
    """(B,) int64: row i's token drawn by samplers[i] from logits[i] (B, V), the token that
    sampler's own generator and settings give. Plain sampling rows (temperature > 0, no top-k
    or top-p) are drawn together, a few NumPy calls over all their logits (a served batch's
    rows each have their own sampler, and a call per row costs more than the arithmetic);
    greedy rows take the argmax; the rest go row by row, where beyond one O(V) pass a row's
    work is on its candidates only (the top_k; for top_p, the likeliest few). Logits with NaN
    or +infinity (a diverged model's) are a ValueError: no token can be drawn from them."""
    maxima = logits.max(axis=1)         # NaN and +inf propagate to their row's maximum
    if not np.isfinite(maxima).all():
        row = int(np.flatnonzero(~np.isfinite(maxima))[0])
        raise ValueError(f"the logits of row {row} hold NaN or infinity: the model's weights "
                         "are not finite (a diverged training run?); no token can be drawn")
    kinds = [_kind(sampler) for sampler in samplers]
    rows_of = {kind: [row for row, each in enumerate(kinds) if each == kind]
               for kind in ("greedy", "plain", "cut")}
    tokens = np.empty(len(samplers), np.int64)
    if rows_of["greedy"]:
        tokens[rows_of["greedy"]] = logits[rows_of["greedy"]].argmax(axis=1)
    plain = rows_of["plain"]
    if len(plain) > 1:
        tokens[plain] = _draw_plain([samplers[row] for row in plain], logits[plain],
                                    maxima[plain])
    for row in rows_of["cut"] + (plain if len(plain) == 1 else []):
        tokens[row] = samplers[row]._draw(logits[row])
    return tokens


def _kind(sampler: Sampler) -> str:
    if sampler.temperature == 0:
        return "greedy"
    return "plain" if sampler.top_k is None and sampler.top_p is None else "cut"


def _draw_plain(samplers: list[Sampler], logits: np.ndarray, maxima: np.ndarray) -> np.ndarray:
    """Sampler._draw's arithmetic for plain rows, on all of them at once: the same float64
    values (the maximum subtracted, times 1 / temperature, exp, running sums), so the same
    tokens."""
    scores = logits.astype(np.float64)
    scores -= maxima.astype(np.float64)[:, None]
    scores *= np.array([1 / sampler.temperature for sampler in samplers])[:, None]
    cumulative = np.add.accumulate(np.exp(scores, out=scores), axis=1, out=scores)
    masses = cumulative[:, -1].tolist()
    return np.array([int(row.searchsorted(min(sampler.rng.random() * mass,
                                                  math.nextafter(mass, 0)), "right"))
                     for sampler, row, mass in zip(samplers, cumulative, masses)], np.int64)
