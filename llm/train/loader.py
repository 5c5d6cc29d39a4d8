"""Batches for training and evaluation, drawn from token ids.

Two kinds of data:
  a stream    one (N,) array of token ids (documents joined). A batch is batch_size random
              windows of block_size + 1 tokens; idx is each window's first block_size tokens and
              targets the last block_size (shifted by one), as nanoGPT's get_batch.
  documents   a list of token arrays that must not be joined (conversations, short texts). A
              window never crosses a document; a document shorter than block_size + 1 fills the
              right end of its row and the left is padding, marked by `padding_mask` (0 = pad)
              so attention ignores it, with `mask` saying which targets count (optionally only
              some tokens' targets, such as a conversation's assistant turns).

Windows are drawn by a NumPy Generator seeded from the run's seed; its state (`state()`) is
all a checkpoint needs to continue the same sequence of batches.

Data-parallel ranks: with `ranks` N, a global batch has N * batch_size rows. Every rank draws
all of its windows (the same Generator, in the same state everywhere) and builds only its own
rows, [rank * batch_size, (rank + 1) * batch_size): exactly the rows a single process with
batch N * batch_size puts there. Each Batch carries the global batch's number of counted
targets (`mean_count`), so that the ranks' losses are shares summing to its mean.
"""
from dataclasses import dataclass

import numpy as np

from llm.data.corpus import check_fraction

PAD_ID = 0  # the id written into padding; never seen (padding_mask) nor counted (mask)


@dataclass
class Batch:
    """idx, targets: (B, T) int32; mask, padding_mask: (B, T) uint8 (1 = real) or None when
    every position is real. mean_count: the targets counted in the whole global batch this
    batch is a part of (see the module docstring), or None: the batch is all of it."""

    idx: np.ndarray
    targets: np.ndarray
    mask: np.ndarray | None = None
    padding_mask: np.ndarray | None = None
    mean_count: int | None = None


def split_documents(documents: list[np.ndarray], val_fraction: float
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(train, val): the last round(val_fraction * n) documents (at least one) are val."""
    check_fraction(val_fraction)
    if len(documents) < 2:
        raise ValueError(f"document mode needs at least 2 documents to hold some out for "
                         f"validation, got {len(documents)}; pass more files or train on the "
                         "joined stream (without --documents)")
    n_val = min(len(documents) - 1, max(1, round(val_fraction * len(documents))))
    return documents[:-n_val], documents[-n_val:]


class WindowLoader:
    """What both loaders share: sizes, and a seeded Generator that reset() rewinds.

    seed: an int or a sequence of ints for np.random.default_rng.
    batch_size: this rank's rows; ranks, rank: the data-parallel ranks and this one (see the
    module docstring).
    """

    def __init__(self, block_size: int, batch_size: int, seed, ranks: int = 1, rank: int = 0):
        check_positive(block_size=block_size, batch_size=batch_size, ranks=ranks)
        if not 0 <= rank < ranks:
            raise ValueError(f"rank={rank}: must be in [0, {ranks})")
        self.block_size = block_size
        self.batch_size = batch_size
        self.global_batch_size = ranks * batch_size
        self.rows = slice(rank * batch_size, (rank + 1) * batch_size)   # this rank's
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Start the sequence of batches again from the seed."""
        self.rng = np.random.default_rng(self.seed)

    def state(self) -> dict:
        """The Generator's state, JSON-ready (restore with set_state)."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


class StreamLoader(WindowLoader):
    """Random windows of one token stream, tokens: (N,) integer ids, N >= block_size + 1.

    tokens is kept as given (a memory-mapped uint16 array stays on disk); batches are int32.
    """

    def __init__(self, tokens: np.ndarray, block_size: int, batch_size: int, seed, name="data",
                 ranks: int = 1, rank: int = 0):
        tokens = np.asanyarray(tokens)   # keeps an np.memmap one
        if tokens.ndim != 1 or tokens.dtype.kind not in "iu":
            raise ValueError(f"tokens is a {tokens.dtype} array of shape {tokens.shape}; "
                             "expected a 1-D array of integer ids")
        if len(tokens) < block_size + 1:
            raise ValueError(f"the {name} holds {len(tokens)} tokens, fewer than block_size + 1 "
                             f"= {block_size + 1} that one window needs; lower --block-size or "
                             "add data")
        self.tokens = tokens
        self.offsets = np.arange(block_size + 1)
        super().__init__(block_size, batch_size, seed, ranks, rank)

    def next_batch(self) -> Batch:
        starts = self.rng.integers(0, len(self.tokens) - self.block_size,
                                   size=self.global_batch_size)[self.rows]
        windows = self.tokens[starts[:, None] + self.offsets].astype(np.int32)   # (B, T + 1)
        return Batch(np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, 1:]),
                     mean_count=self.global_batch_size * self.block_size)


class DocumentLoader(WindowLoader):
    """Random windows that never cross a document; short documents are left-padded.

    Every window start is equally likely: a document of n tokens offers max(1, n - block_size)
    starts. Documents of fewer than 2 tokens (no input/target pair) are dropped.
    target_masks: None (every target counts), or per document an (n,) array, nonzero at the
    tokens whose prediction counts (a conversation's assistant turns); a global batch in which
    no target counts is drawn again (a rank's part of it may count none).
    """

    def __init__(self, documents: list[np.ndarray], block_size: int, batch_size: int, seed,
                 name="data", target_masks: list[np.ndarray] | None = None, ranks: int = 1,
                 rank: int = 0):
        if target_masks is not None and len(target_masks) != len(documents):
            raise ValueError(f"{len(target_masks)} target masks for {len(documents)} documents")
        masks = [None] * len(documents) if target_masks is None else target_masks
        kept = [(np.asarray(doc, dtype=np.int32), mask) for doc, mask in zip(documents, masks)
                if len(doc) >= 2]
        if not kept:
            raise ValueError(f"the {name} has no document of 2 or more tokens; add text")
        self.documents = [doc for doc, _ in kept]
        self.target_masks = None
        if target_masks is not None:
            self.target_masks = [np.asarray(mask, dtype=np.uint8) for _, mask in kept]
            if not any(mask[1:].any() for mask in self.target_masks):
                raise ValueError(f"the {name} has no target to learn: every target mask is 0 "
                                 "(conversations without an assistant turn?)")
        starts = np.array([max(1, len(doc) - block_size) for doc in self.documents],
                          dtype=np.int64)
        self.cumulative_starts = np.cumsum(starts)
        super().__init__(block_size, batch_size, seed, ranks, rank)

    def next_batch(self) -> Batch:
        while True:
            draws = self.rng.integers(0, self.cumulative_starts[-1], size=self.global_batch_size)
            which = np.searchsorted(self.cumulative_starts, draws, side="right")
            windows, target_windows, counted = [], [], 0   # of the global batch
            for doc_index, draw in zip(which.tolist(), draws.tolist()):
                start = draw - (int(self.cumulative_starts[doc_index - 1]) if doc_index else 0)
                window = slice(start, start + self.block_size + 1)
                windows.append(self.documents[doc_index][window])
                if self.target_masks is None:
                    counted += len(windows[-1]) - 1
                else:
                    target_windows.append(self.target_masks[doc_index][window])
                    counted += int(np.count_nonzero(target_windows[-1][1:]))
            if counted:
                batch = left_padded_batch(windows[self.rows], self.batch_size, self.block_size,
                                          target_windows[self.rows] if self.target_masks
                                          is not None else None)
                batch.mean_count = counted
                return batch


def left_padded_batch(windows: list[np.ndarray], batch_size: int, block_size: int,
                      target_windows: list[np.ndarray] | None = None) -> Batch:
    """A Batch of up to batch_size windows of 2..block_size + 1 tokens, each at the right end of
    its row with padding on the left; missing rows are all padding. In the row of a window of r
    tokens, columns block_size + 1 - r on are real (input seen, target counted): r - 1 targets.
    target_windows: each window's target mask (see DocumentLoader); a target then counts where
    the mask of its token is nonzero."""
    T = block_size
    rows = np.full((batch_size, T + 1), PAD_ID, dtype=np.int32)
    real = np.zeros((batch_size, T), dtype=np.uint8)
    for row, window in enumerate(windows):
        rows[row, T + 1 - len(window):] = window
        real[row, T + 1 - len(window):] = 1
    counted = real.copy()
    for row, flags in enumerate(target_windows or ()):
        counted[row, T + 1 - len(flags):] = flags[1:] != 0
    return Batch(np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, 1:]),
                 mask=counted, padding_mask=real)


def sequential_batches(tokens: np.ndarray, block_size: int, batch_size: int):
    """Batches that predict every token of tokens[1:] exactly once (for evaluation): windows of
    block_size + 1 tokens starting every block_size tokens; the last, shorter window is
    left-padded and rows past the end are all padding (mask 0). Yields Batch with masks."""
    tokens = np.ascontiguousarray(tokens, dtype=np.int32)
    check_positive(block_size=block_size, batch_size=batch_size)
    if len(tokens) < 2:
        raise ValueError(f"evaluation needs at least 2 tokens, got {len(tokens)}")
    starts = range(0, len(tokens) - 1, block_size)
    for first in range(0, len(starts), batch_size):
        windows = [tokens[start:start + block_size + 1]
                   for start in starts[first:first + batch_size]]
        yield left_padded_batch(windows, batch_size, block_size)


def check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: must be a positive integer")
