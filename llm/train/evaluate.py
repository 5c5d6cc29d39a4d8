"""Evaluate a trained model on text: mean cross-entropy over every token, and perplexity."""
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
    """loss: mean cross-entropy in nats per token; tokens: how many targets were predicted."""

    loss: float
    tokens: int

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


def evaluate_tokens(model: GPT, tokens: np.ndarray, batch_size: int = 12) -> Evaluation:
    """Predict every token of tokens[1:] once, in windows of the model's block_size (each
    token sees up to block_size - 1 earlier ones, as in training)."""
    total, count = 0.0, 0
    for batch in loader.sequential_batches(tokens, model.config.block_size, batch_size):
        counted = int(np.count_nonzero(batch.mask))
        total += model.loss(batch.idx, batch.targets, batch.mask, batch.padding_mask) * counted
        count += counted
    return Evaluation(total / count, count)


def evaluate_files(model: GPT, tokenizer: Tokenizer, data: list[str | os.PathLike],
                   split: str = "val", val_fraction: float = VAL_FRACTION,
                   batch_size: int = 12) -> Evaluation:
    """Evaluate on the text files in data joined as in training: split "val" takes the last
    val_fraction of the tokens (a run's validation split when given its data), "all" every token.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: use one of {SPLITS}")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                         f"{model.config.vocab_size}; use the tokenizer saved with the model")
    if not data:
        raise ValueError("no data: pass at least one text file or directory (--data PATH)")
    tokens = TokenStream(tokenizer, data).tokens()
    if split == "val":
        tokens = tokens[split_point(len(tokens), val_fraction):]
    return evaluate_tokens(model, tokens, batch_size)
