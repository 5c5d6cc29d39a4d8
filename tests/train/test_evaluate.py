"""llm/train/evaluate.py: every token predicted once; the mean agrees with a direct
log-softmax over the model's logits."""
import math

import numpy as np
import pytest

from llm.model import GPT, GPTConfig
from llm.tokenizer import Tokenizer
from llm.train import evaluate_files, evaluate_tokens
from llm.train.char_tokenizer import char_tokenizer
from llm.train.evaluate import token_byte_lengths


def reference_nats(model: GPT, tokens: np.ndarray) -> np.ndarray:
    """-log p(token | up to block_size - 1 previous tokens) of each of tokens[1:], by windows
    of block_size, from model.forward one window at a time (float64 log-softmax)."""
    T = model.config.block_size
    nats = []
    for start in range(0, len(tokens) - 1, T):
        window = tokens[start:start + T + 1]
        logits = model.forward(window[None, :-1]).astype(np.float64)[0]
        log_probs = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                                    keepdims=True)) - logits.max(1, keepdims=True)
        nats.append(-log_probs[np.arange(len(window) - 1), window[1:]])
    return np.concatenate(nats)


def reference_loss(model: GPT, tokens: np.ndarray) -> float:
    return float(reference_nats(model, tokens).mean())


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


def test_bits_per_byte_weighs_tokens_by_their_bytes_and_skips_special_tokens():
    text = "the cat sat on the mat, the dog sat on the log. " * 20
    tokenizer = Tokenizer.train([text], 300, mode="byte")
    end = tokenizer.end_of_text_id
    tokens = np.concatenate([tokenizer.encode_to_numpy(text[:400]), [end],
                             tokenizer.encode_to_numpy(text[400:])]).astype(np.int32)
    lengths = token_byte_lengths(tokenizer)
    assert lengths[end] == 0 and lengths[tokenizer.encode("the")[0]] == len(b"the")
    assert lengths.max() > 1  # multi-byte tokens: bits per token and per byte differ
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2,
                          d_model=16, seed=5))
    result = evaluate_tokens(model, tokens, batch_size=4, byte_lengths=lengths)
    nats, targets = reference_nats(model, tokens), tokens[1:]
    text_targets = targets != end
    assert result.bytes == lengths[targets].sum() == len(text.encode()) - lengths[tokens[0]]
    assert result.bits_per_byte == pytest.approx(
        nats[text_targets].sum() / math.log(2) / result.bytes, rel=1e-5)
    assert result.loss == pytest.approx(nats.mean(), rel=1e-5)   # the end-of-text counts here


def test_char_level_bits_per_byte_is_the_loss_in_bits(tmp_path):
    text = "abcdefghij" * 30
    (tmp_path / "a.txt").write_text(text)
    tokenizer = char_tokenizer([text])
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1, n_head=1,
                          d_model=8))
    result = evaluate_files(model, tokenizer, [tmp_path / "a.txt"], "all")
    assert result.bytes == 299
    assert result.bits_per_byte == pytest.approx(result.loss / math.log(2), rel=1e-6)
