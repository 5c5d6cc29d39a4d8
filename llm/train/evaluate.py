"""Evaluate a trained model on text: mean cross-entropy over every token, perplexity, and bits
per byte.

Bits per byte divide the information the model needs for the text by the text's length in
bytes instead of tokens, so models with different tokenizers compare: a tokenizer with longer
tokens has a higher loss per token for the same model quality, but the same bits per byte.
Bytes are those of the tokens' text (UTF-8; a naive-mode tokenizer's normalized text);
special tokens (<|endoftext|> between documents) stand for no text, so their targets count in
the loss per token but neither in the bits nor in the bytes.
"""
import math
import os
from dataclasses import dataclass

import numpy as np

from llm.data.corpus import VAL_FRACTION, TokenStream, split_point
from llm.model import GPT
from llm.tokenizer import Tokenizer
from llm.train import loader

SPLITS = ("val", "all")


@dataclass
class Evaluation:
    """loss: mean cross-entropy in nats per token; tokens: how many targets were predicted;
    bits_per_byte: the cross-entropy of the targets that are text, in bits, over their bytes
    (None when the token lengths were not given); bytes: those targets' bytes."""

    loss: float
    tokens: int
    bits_per_byte: float | None = None
    bytes: int = 0

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


def token_byte_lengths(tokenizer: Tokenizer) -> np.ndarray:
    """(vocab_size,) int64: the bytes of text each token id stands for (0 for special tokens)."""
    lengths = np.array([len(token) for token in tokenizer.vocab], dtype=np.int64)
    lengths[list(tokenizer.special_tokens.values())] = 0
    return lengths


def evaluate_tokens(model: GPT, tokens: np.ndarray, batch_size: int = 12,
                    byte_lengths: np.ndarray | None = None) -> Evaluation:
    """Predict every token of tokens[1:] once, in windows of the model's block_size (each
    token sees up to block_size - 1 earlier ones, as in training). byte_lengths
    (token_byte_lengths of the tokenizer) adds bits per byte."""
    total, count = 0.0, 0
    text_nats, text_bytes = 0.0, 0
    for batch in loader.sequential_batches(tokens, model.config.block_size, batch_size):
        counted = int(np.count_nonzero(batch.mask))
        nats = model.loss(batch.idx, batch.targets, batch.mask, batch.padding_mask) * counted
        total += nats
        count += counted
        if byte_lengths is None:
            continue
        lengths = np.where(batch.mask != 0, byte_lengths[batch.targets], 0)
        text = lengths > 0
        n_text = int(np.count_nonzero(text))
        if n_text == counted:
            text_nats += nats
        elif n_text:   # special targets in this batch: a second pass without them
            text_nats += model.loss(batch.idx, batch.targets, text, batch.padding_mask) * n_text
        text_bytes += int(lengths.sum())
    bits_per_byte = None
    if byte_lengths is not None and text_bytes:
        bits_per_byte = text_nats / math.log(2) / text_bytes
    return Evaluation(total / count, count, bits_per_byte, text_bytes)


def evaluate_files(model: GPT, tokenizer: Tokenizer, data: list[str | os.PathLike],
                   split: str = "val", val_fraction: float = VAL_FRACTION,
                   batch_size: int = 12) -> Evaluation:
    """Evaluate on the text files in data joined as in training: split "val" takes the last
    val_fraction of the tokens (a run's validation split when given its data), "all" every token.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: use one of {SPLITS}")
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                         f"{model.config.vocab_size}; use the tokenizer saved with the model")
    if not data:
        raise ValueError("no data: pass at least one text file or directory (--data PATH)")
    tokens = TokenStream(tokenizer, data).tokens()
    if split == "val":
        tokens = tokens[split_point(len(tokens), val_fraction):]
    return evaluate_tokens(model, tokens, batch_size, token_byte_lengths(tokenizer))
