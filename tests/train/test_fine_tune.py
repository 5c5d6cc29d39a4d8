"""Fine-tuning (llm/train/run.py start(init_from=...), `llm train --init-from`): the run starts
from the trained model and its tokenizer, a shorter context crops the position table, chat data
adds embedding rows, and anything that would change the model's shape is refused."""
import json

import numpy as np
import pytest

from llm.model import GPT, GPTConfig, load
from llm.tokenizer import Tokenizer
from llm.train import run
from llm.train.trainer import MODEL_DIR

from .conftest import TINY_MODEL, structured_text


@pytest.fixture
def pretrained(tmp_path, corpus, tiny_config):
    """A model directory trained for a few steps on the corpus with a byte BPE tokenizer."""
    tokenizer = Tokenizer.train(corpus.read_text(), 300)
    run.start([corpus], tmp_path / "base", TINY_MODEL, tiny_config(max_iters=20), tokenizer).run()
    return tmp_path / "base" / MODEL_DIR


def test_fine_tuning_starts_from_the_model_and_lowers_its_loss(tmp_path, pretrained,
                                                               tiny_config):
    other = tmp_path / "other.txt"
    other.write_text(structured_text(seed=7).upper())   # new text: the model must adapt
    base, tokenizer = load(pretrained)
    trainer = run.start([other], tmp_path / "ft", {"block_size": 8}, tiny_config(max_iters=40),
                        None, init_from=pretrained)
    assert trainer.tokenizer.vocab == tokenizer.vocab
    assert trainer.model.config.block_size == 8
    for name, view in trainer.model.params.items():
        expected = base.params[name][:8] if name == "wpe.weight" else base.params[name]
        np.testing.assert_array_equal(view, expected)
    before = trainer.evaluate()
    result = trainer.run()
    assert result.val_loss < 0.8 * before
    state = json.loads((tmp_path / "ft" / "checkpoint" / "trainer_state.json").read_text())
    assert state["run"]["init_from"] == str(pretrained.resolve())


def test_a_shorter_context_gives_the_same_logits():
    model = GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=2, d_model=16))
    cropped = model.resized(block_size=8)
    idx = np.random.default_rng(0).integers(0, 50, (2, 8))
    np.testing.assert_array_equal(cropped.forward(idx), model.forward(idx))
    with pytest.raises(ValueError, match="no positions beyond"):
        model.resized(block_size=33)


@pytest.mark.parametrize("tie", [True, False])
def test_a_larger_vocabulary_keeps_the_old_rows(tie):
    model = GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=1, n_head=2, d_model=16,
                          tie_embeddings=tie))
    grown = model.resized(vocab_size=53)
    idx = np.random.default_rng(0).integers(0, 50, (2, 8))
    np.testing.assert_allclose(grown.forward(idx)[..., :50], model.forward(idx), atol=1e-6)
    new_rows = grown.params["wte.weight"][50:]
    assert new_rows.shape == (3, 16) and 0.005 < new_rows.std() < 0.05   # drawn like new ones
    with pytest.raises(ValueError, match="cannot be removed"):
        model.resized(vocab_size=49)


def test_chat_data_adds_the_chat_tokens_to_a_pretrained_model(tmp_path, pretrained, tiny_config):
    chats = tmp_path / "chats.jsonl"
    chats.write_text("".join(json.dumps({"conversations": [
        {"from": "human", "value": f"say {word}"}, {"from": "gpt", "value": f"{word} {word}"}]})
        + "\n" for word in ["moon", "river", "apple", "bird"] * 10))
    base, tokenizer = load(pretrained)
    trainer = run.start([chats], tmp_path / "chat", {}, tiny_config(max_iters=5), None,
                        init_from=pretrained)
    assert trainer.tokenizer.vocab_size > tokenizer.vocab_size
    assert trainer.model.config.vocab_size == trainer.tokenizer.vocab_size
    trainer.run()


@pytest.mark.parametrize("tokenizer, model_config, message", [
    ("char", {}, "keeps the tokenizer"),
    (None, {"n_layer": 2}, "n_layer: a fine-tuned model keeps its shape"),
    (None, {"block_size": 64}, "no positions beyond"),
])
def test_what_would_change_the_model_is_refused(tmp_path, corpus, pretrained, tiny_config,
                                                tokenizer, model_config, message):
    with pytest.raises(ValueError, match=message):
        run.start([corpus], tmp_path / "ft", model_config, tiny_config(), tokenizer,
                  init_from=pretrained)
