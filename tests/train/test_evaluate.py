"""llm/train/evaluate.py: every token predicted once; the mean agrees with a direct
log-softmax over the model's logits."""
import math

import numpy as np
import pytest

from llm.model import GPT, GPTConfig
from llm.train import evaluate_files, evaluate_tokens
from llm.train.char_tokenizer import char_tokenizer


def reference_loss(model: GPT, tokens: np.ndarray) -> float:
    """Mean -log p(token | up to block_size - 1... previous tokens) by windows of block_size,
    from model.forward one window at a time (float64 log-softmax)."""
    T = model.config.block_size
    total, count = 0.0, 0
    for start in range(0, len(tokens) - 1, T):
        window = tokens[start:start + T + 1]
        logits = model.forward(window[None, :-1]).astype(np.float64)[0]
        log_probs = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                                    keepdims=True)) - logits.max(1, keepdims=True)
        total -= log_probs[np.arange(len(window) - 1), window[1:]].sum()
        count += len(window) - 1
    return total / count


def test_matches_the_direct_computation():
    model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, d_model=16, seed=3))
    tokens = np.random.default_rng(0).integers(0, 20, 77).astype(np.int32)
    result = evaluate_tokens(model, tokens, batch_size=3)
    assert result.tokens == 76
    assert result.loss == pytest.approx(reference_loss(model, tokens), rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(result.loss))


def test_files_val_split_and_all(tmp_path):
    text = "abcdefghij" * 30
    (tmp_path / "a.txt").write_text(text)
    tokenizer = char_tokenizer([text])
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1, n_head=1,
                          d_model=8))
    assert evaluate_files(model, tokenizer, [tmp_path / "a.txt"], "val").tokens == 29
    assert evaluate_files(model, tokenizer, [tmp_path / "a.txt"], "all").tokens == 299
    with pytest.raises(ValueError, match="split"):
        evaluate_files(model, tokenizer, [tmp_path / "a.txt"], "train")
    small = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, d_model=8))
    with pytest.raises(ValueError, match="use the tokenizer saved with the model"):
        evaluate_files(small, tokenizer, [tmp_path / "a.txt"])
