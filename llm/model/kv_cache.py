"""KVCache: the keys and values of the positions a GPT has already read, so that generating a
token runs the model on that one new position (GPT.forward_cached) instead of the whole context.
"""
import numpy as np

from llm._ext import attention
from llm.model.config import GPTConfig
from llm.model.positional import first_real_columns


class KVCache:
    """Per-layer keys and values of up to capacity positions of batch_size rows.

    capacity:    the most positions it holds: block_size, or fewer when the caller knows the
                 context will not grow that long (generate: prompt + new tokens), which saves
                 memory (n_layer * B * capacity * 2 * d_model floats).
    keys:        (n_layer, B, n_head, capacity, hs) float32, hs = d_model // n_head:
                 keys[layer, b, h, t] is head h's part of the key of row b's column t, written by
                 attention_forward_cached as the columns are read (head by head: a decoding
                 step reads each head's keys as one block, in order).
    values:      (n_layer, B, n_head, capacity, hs) float32, likewise.
    length:      columns in use; the next forward_cached call writes columns length, length + 1...
    key_mask:    (B, capacity) uint8, 0 on the left padding of a row (set by the first call).
    first_real:  (B, 1) int32, each row's first real column: position ids count from it, so a
                 left-padded prompt gets the positions it would have alone.
    positions:   (B, capacity) int32, the position id of each column: max(0, column - first_real)
                 (set by the first call; a step copies its columns' slice).
    activations: the model's tensors of the latest call, reused by the next one of the same shape.

    GPT.forward_cached drives a step: begin() (positions, padding), then attend() once per layer,
    then commit(). reset() empties the cache for a new context; gather() refills it with rows of
    other caches, so that sequences can join and leave a batch between steps.
    """

    def __init__(self, config: GPTConfig, batch_size: int, capacity: int | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}: must be a positive integer")
        N = config.block_size if capacity is None else capacity
        if isinstance(N, bool) or not isinstance(N, int) or not 1 <= N <= config.block_size:
            raise ValueError(f"capacity={capacity!r}: must be an integer in [1, block_size="
                             f"{config.block_size}] (None: block_size)")
        L, B, NH = config.n_layer, batch_size, config.n_head
        self.config = config
        self.batch_size = batch_size
        self.capacity = N
        # np.zeros, not zeros_like (which writes every byte): untouched pages cost nothing, so a
        # short generation does not pay for clearing a block_size cache (~1 ms at 2 x 2 MB)
        self.keys = np.zeros((L, B, NH, N, config.d_model // NH), np.float32)
        self.values = np.zeros(self.keys.shape, np.float32)
        self.key_mask = np.ones((B, N), np.uint8)
        self.first_real = np.zeros((B, 1), np.int32)
        self.activations = None
        self._layers = list(zip(self.keys, self.values))    # per-layer views, made once
        self.positions = np.empty((B, N), np.int32)
        self._columns = np.arange(N, dtype=np.int32)
        self.reset()

    def reset(self) -> None:
        """Forget every position: the next forward_cached call starts a new context."""
        self.length = 0
        self._end = 0

    def gather(self, rows: list[tuple["KVCache", int, int]]) -> None:
        """Refill every row from a row of a cache of the same model (possibly this one), the
        rows right-aligned and left-padded as a batch of prompts would be: rows[b] = (source, r,
        count) gives row b the last count columns of source's row r, which must be the whole of
        that row's sequence (positions 0 .. count-1, as its padding says). The cache then holds
        the longest count's columns; the next step appends after them.

        A row of this cache read as a source must not come before its new place (r >= b, rows
        keep their order), so that it is read before it is overwritten.
        """
        if len(rows) != self.batch_size:
            raise ValueError(f"{len(rows)} rows given for a cache of batch_size={self.batch_size}")
        counts = [count for _, _, count in rows]
        length = max(counts)
        if length > self.capacity:
            raise ValueError(f"a row of {length} positions does not fit in capacity="
                             f"{self.capacity}")
        for b, (source, r, count) in enumerate(rows):
            if source.config != self.config or not 0 <= r < source.batch_size \
                    or not 1 <= count <= source.length:
                raise ValueError(f"rows[{b}] = (cache, {r}, {count}): not a row of a cache of "
                                 f"this model holding that many positions")
            if source is self and r < b:
                raise ValueError(f"rows[{b}] reads row {r} of this cache, already overwritten")
            end = source.length
            self.keys[:, b, :, length - count:length] = source.keys[:, r, :, end - count:end]
            self.values[:, b, :, length - count:length] = source.values[:, r, :, end - count:end]
        self.first_real[:, 0] = [length - count for count in counts]
        np.greater_equal(self._columns, self.first_real, out=self.key_mask, casting="unsafe")
        np.subtract(self._columns, self.first_real, out=self.positions)
        np.maximum(self.positions, 0, out=self.positions)
        self._step_mask = None if min(counts) == length else self.key_mask
        self.length = self._end = length

    def begin(self, count: int, padding_mask, positions: np.ndarray) -> None:
        """Start a step of count new positions: check they fit, take their padding (first step
        only) and write their position ids into positions (B, count) int32."""
        start, end = self.length, self.length + count
        if count < 1 or end > self.capacity:
            raise ValueError(f"{count} new position(s) do not fit: the cache holds {start} of "
                             f"capacity={self.capacity}; reset() it and prefill the last "
                             "tokens (a sliding window)")
        if not start:
            self._take_padding(count, padding_mask)
        elif padding_mask is not None:
            raise ValueError("padding_mask belongs to the first call (left-padded prompts); "
                             "positions appended later are all real")
        positions[...] = self.positions[:, start:end]
        self._end = end

    def _take_padding(self, count: int, padding_mask) -> None:
        """The first step's padding: key mask, first real columns, position ids."""
        self.key_mask.fill(1)
        self.first_real.fill(0)
        self._step_mask = None
        if padding_mask is not None:
            padding_mask = np.asarray(padding_mask)
            if padding_mask.shape != (self.batch_size, count):
                raise ValueError(f"padding_mask has shape {padding_mask.shape}; expected "
                                 f"{(self.batch_size, count)} like idx")
            real = padding_mask != 0
            self.key_mask[:, :count] = real
            self.first_real[:, 0] = first_real_columns(real)
            self._step_mask = None if real.all() else self.key_mask
        np.subtract(self._columns, self.first_real, out=self.positions)
        np.maximum(self.positions, 0, out=self.positions)   # padding before a row's first token

    def attend(self, layer: int, a) -> None:
        """a.attn (B, T, C) = attention of the step's queries over every position so far, after
        appending the step's keys and values (from a.qkv (B, T, 3C)) to layer's cache; a: the
        attention layer's tensors (llm.model.layers.CausalSelfAttention.activations)."""
        keys, values = self._layers[layer]
        attention.attention_forward_cached(a.attn, keys, values, a.qkv, self.config.n_head,
                                           self._end, self._step_mask)

    def commit(self) -> None:
        """End the step: its positions now belong to the cache."""
        self.length = self._end
