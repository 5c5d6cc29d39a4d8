"""llm.GPT's API: shapes, buffers reused across calls, left padding, loss masks, gradient
accumulation, errors, and the model directory (config.json + model.safetensors)."""
import json

import numpy as np
import pytest

from llm.embeddings import Word2Vec
from llm.model import GPT, GPTConfig
from llm.model.safetensors import load_file


def make_model(**changes):
    values = dict(vocab_size=23, block_size=12, n_layer=2, n_head=2, d_model=16) | changes
    return GPT(GPTConfig(**values))


def ids(shape, seed=0, vocab_size=23):
    return np.random.default_rng(seed).integers(0, vocab_size, shape)


def test_forward_returns_new_logits_and_rows_are_independent():
    model = make_model()
    idx = ids((3, 12))
    logits = model.forward(idx)
    assert logits.shape == (3, 12, 23) and logits.dtype == np.float32
    again = model.forward(idx[:1, :7])          # another (B, T): buffers reallocated
    np.testing.assert_allclose(again[0], logits[0, :7], rtol=1e-5, atol=1e-6)
    assert not np.shares_memory(logits, model.forward(idx))


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_left_padding_does_not_change_the_real_tokens_logits(positional):
    model = make_model(positional=positional)
    prompt = ids((1, 5), seed=1)
    padded = np.concatenate([np.full((1, 4), 7), prompt], axis=1)
    mask = np.array([[0] * 4 + [1] * 5])
    batch = np.concatenate([padded, ids((1, 9), seed=2)])
    batch_mask = np.concatenate([mask, np.ones((1, 9), int)])
    expected = model.forward(prompt)[0]
    np.testing.assert_allclose(model.forward(batch, padding_mask=batch_mask)[0, 4:], expected,
                               rtol=1e-4, atol=1e-5)


def test_loss_mask_averages_only_the_counted_targets():
    model = make_model()
    idx, targets = ids((2, 6), seed=3), ids((2, 6), seed=4)
    logits = model.forward(idx).astype(np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_token = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    mask = np.array([[0, 0, 1, 1, 1, 0], [1, 0, 0, 0, 0, 1]])
    targets_with_junk = np.where(mask == 1, targets, -5)      # uncounted targets are not read
    assert model.loss(idx, targets_with_junk, mask=mask) == pytest.approx(
        per_token[mask == 1].mean(), rel=1e-5)
    assert model.loss(idx, targets) == pytest.approx(per_token.mean(), rel=1e-5)


def test_backward_accumulates_until_zero_grad():
    model = make_model(tie_embeddings=False)
    idx, targets = ids((2, 8), seed=5), ids((2, 8), seed=6)
    model.zero_grad()
    model.loss(idx, targets)
    model.backward()
    once = model.grads.flat.copy()
    assert np.all(np.isfinite(once)) and np.abs(once).max() > 0
    model.loss(idx, targets)
    model.backward()
    np.testing.assert_allclose(model.grads.flat, 2 * once, rtol=1e-5, atol=1e-7)
    model.zero_grad()
    assert not model.grads.flat.any()


@pytest.mark.parametrize("norm, tie_embeddings, positional", [
    ("pre", True, "learned"), ("pre", False, "sinusoidal"), ("post", False, "learned"),
    ("post", True, "sinusoidal")])
def test_backward_without_accumulate_writes_every_gradient(norm, tie_embeddings, positional):
    model = make_model(norm=norm, tie_embeddings=tie_embeddings, positional=positional)
    idx, targets = ids((2, 8), seed=7), ids((2, 8), seed=8)
    model.zero_grad()
    model.loss(idx, targets)
    model.backward()
    expected = model.grads.flat.copy()
    model.grads.flat[:] = np.nan           # whatever was there is never read
    model.loss(idx, targets)
    model.backward(accumulate=False)
    np.testing.assert_array_equal(model.grads.flat, expected)
    model.loss(idx, targets)
    model.backward()                       # and accumulating on top of it still adds
    np.testing.assert_allclose(model.grads.flat, 2 * expected, rtol=1e-5, atol=1e-7)


def test_errors_say_what_is_wrong():
    model = make_model()
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.forward(np.array([[1, 23]]))
    with pytest.raises(ValueError, match="block_size=12"):
        model.forward(ids((1, 13)))
    with pytest.raises(ValueError, match="expected integer"):
        model.forward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="expected \\(B, T\\)"):
        model.forward(np.zeros(3, int))
    with pytest.raises(ValueError, match="targets has shape"):
        model.loss(ids((2, 3)), ids((2, 4)))
    with pytest.raises(ValueError, match="selects no target"):
        model.loss(ids((1, 3)), ids((1, 3)), mask=np.zeros((1, 3)))
    model.forward(ids((1, 3)))
    with pytest.raises(RuntimeError, match="loss\\(\\) first"):
        model.backward()


def test_decay_mask_covers_the_buffer():
    model = make_model()
    mask = model.decay_mask()
    assert mask.shape == (model.num_parameters,) and mask.dtype == np.uint8
    begin, end = model.params.offsets["h.1.mlp.c_fc.weight"]
    assert mask[begin:end].all() and not mask[model.params.offsets["wte.weight"][0]]


def test_save_and_load_round_trip(tmp_path):
    class Tokenizer:
        def save(self, path):
            path.write_text("{}")

    model = make_model(norm="post", positional="sinusoidal", tie_embeddings=False, seed=3)
    model.save(tmp_path / "model", tokenizer=Tokenizer())
    assert (tmp_path / "model" / "tokenizer.json").read_text() == "{}"
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["n_layer"] == 2 and config["norm"] == "post"
    tensors, metadata = load_file(tmp_path / "model" / "model.safetensors")
    assert tensors["h.1.attn.c_attn.weight"].shape == (16, 48)
    assert "lm_head.weight" in tensors and metadata["format"] == "pt"
    loaded = GPT.load(tmp_path / "model")
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.params.flat, model.params.flat)
    idx = ids((2, 5))
    np.testing.assert_array_equal(loaded.forward(idx), model.forward(idx))


def test_load_refuses_a_directory_that_does_not_match(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        GPT.load(tmp_path)
    make_model().save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config | {"n_layer": 3}))
    with pytest.raises(ValueError, match="missing \\['h.2"):
        GPT.load(tmp_path)


def test_token_embedding_from_word2vec_vectors(caplog):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    vectors = Word2Vec(words, rng.standard_normal((30, 16)).astype(np.float32))
    model = make_model(d_model=16)
    tokens = [f"w{i}" for i in range(20)] + [f"unknown{i}" for i in range(3)]
    with caplog.at_level("INFO"):
        missing = model.init_token_embedding(tokens, vectors)
    assert missing == 3 and "3" in caplog.text
    table = model.params["wte.weight"]
    scale = table[0, 0] / vectors.vectors[0, 0]
    np.testing.assert_allclose(table[:20], vectors.vectors[:20] * scale, rtol=1e-5)
    assert abs(table[:20].std() - 0.02) < 1e-3
    with pytest.raises(ValueError, match="22 tokens given"):
        model.init_token_embedding(tokens[:-1], vectors)


def test_gradients_are_identical_for_one_and_two_threads():
    import llm

    idx, targets = ids((4, 64), seed=7), ids((4, 64), seed=8)   # large enough to split
    results = []
    for threads in (1, 2):
        llm.set_num_threads(threads)
        model = make_model(block_size=64, d_model=64, n_head=4)
        model.zero_grad()
        loss = model.loss(idx, targets)
        model.backward()
        results.append((loss, model.grads.flat.copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
