"""llm/generate.py: sample() — seeded, greedy at temperature 0, top-k limits the choice."""
import numpy as np
import pytest

import llm
from llm._ext import runtime
from llm.generate import load, sample
from llm.model import GPT, GPTConfig
from llm.train.char_tokenizer import char_tokenizer

TEXT = "abcdefgh\n"


@pytest.fixture(autouse=True)
def one_thread():
    """A one-token forward pass is far too small for two threads (and slow on a busy machine)."""
    before = runtime.max_threads()
    llm.set_num_threads(1)
    yield
    llm.set_num_threads(before)


@pytest.fixture
def model_and_tokenizer():
    tokenizer = char_tokenizer([TEXT])
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=6, n_layer=1, n_head=2,
                          d_model=16, seed=0))
    return model, tokenizer


def greedy_reference(model, tokenizer, prompt, n):
    ids = tokenizer.encode(prompt)
    for _ in range(n):
        logits = model.forward(np.array([ids[-model.config.block_size:]], np.int32))[0, -1]
        ids.append(int(np.argmax(logits)))
    return tokenizer.decode(ids[len(tokenizer.encode(prompt)):])


def test_seeded_and_greedy(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    first = sample(model, tokenizer, "abc", 12, temperature=1.0, seed=4)
    assert first == sample(model, tokenizer, "abc", 12, seed=4)
    assert {sample(model, tokenizer, "abc", 12, seed=s) for s in range(3)} != {first}
    greedy = greedy_reference(model, tokenizer, "abc", 10)   # longer than block_size: slides
    assert sample(model, tokenizer, "abc", 10, temperature=0.0) == greedy
    assert sample(model, tokenizer, "abc", 10, top_k=1, seed=9) == greedy


def test_empty_prompt_and_bad_arguments(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    assert sample(model, tokenizer, "", 5, temperature=0) == greedy_reference(model, tokenizer,
                                                                             "\n", 5)
    for kwargs, message in (({"max_new_tokens": -1}, "max_new_tokens"),
                            ({"temperature": -1.0}, "temperature"), ({"top_k": 0}, "top_k")):
        with pytest.raises(ValueError, match=message):
            sample(model, tokenizer, "a", **kwargs)


def test_load_needs_a_model_directory(tmp_path, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        load(tmp_path / "missing")
    model.save(tmp_path / "model")
    with pytest.raises(FileNotFoundError, match="has no tokenizer"):
        load(tmp_path / "model")
    model.save(tmp_path / "model", tokenizer)
    loaded, loaded_tokenizer = load(tmp_path / "model")
    assert sample(loaded, loaded_tokenizer, "ab", 8, seed=1) == sample(model, tokenizer, "ab", 8,
                                                                       seed=1)
