"""Positional encodings: the fixed sinusoidal table and the position ids of left-padded rows."""
import numpy as np


def sinusoidal_table(block_size: int, d_model: int) -> np.ndarray:
    """The original Transformer's encoding, (block_size, d_model) float32:
    table[p, 2i] = sin(p / 10000^(2i/d_model)), table[p, 2i+1] = cos(p / 10000^(2i/d_model))."""
    if d_model % 2:
        raise ValueError(f"d_model={d_model} must be even for sinusoidal positions")
    positions = np.arange(block_size, dtype=np.float64)[:, None]
    frequencies = 10000.0 ** (-np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.empty((block_size, d_model), dtype=np.float32)
    table[:, 0::2] = np.sin(positions * frequencies)
    table[:, 1::2] = np.cos(positions * frequencies)
    return table


def position_ids(batch_size: int, seq_len: int, padding_mask: np.ndarray | None = None,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Position of each token, (B, T) int32.

    Without a padding mask, every row counts 0, 1, ..., T-1. With padding_mask ((B, T), nonzero =
    real token), positions count from each row's first real token, so a left-padded prompt gets the
    same positions as the unpadded one; padding before it (and an all-padding row) gets 0.
    """
    if out is None:
        out = np.empty((batch_size, seq_len), dtype=np.int32)
    out[:] = np.arange(seq_len, dtype=np.int32)
    if padding_mask is not None:
        np.subtract(out, first_real_columns(padding_mask)[:, None], out=out)
        np.maximum(out, 0, out=out)
    return out


def first_real_columns(padding_mask: np.ndarray) -> np.ndarray:
    """(B,) int32: the column of each row's first real token in padding_mask ((B, T), nonzero =
    real), T for a row of padding only."""
    real = np.asarray(padding_mask) != 0
    return np.where(real.any(axis=1), np.argmax(real, axis=1), real.shape[1]).astype(np.int32)
