"""llm/model/directory.py and llm.model.load: the model directory round trip, and the files it
refuses with a message naming the problem (missing tokenizer, a tokenizer of another
vocabulary, weights that are not finite)."""
import numpy as np
import pytest

from llm.model import GPT, GPTConfig, load
from llm.train.char_tokenizer import char_tokenizer


@pytest.fixture
def saved(tmp_path):
    tokenizer = char_tokenizer(["abcdef\n"])
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1, n_head=2,
                          d_model=8, seed=3))
    model.save(tmp_path / "model", tokenizer)
    return tmp_path / "model", model, tokenizer


def test_a_saved_directory_loads_as_it_was(saved):
    directory, model, tokenizer = saved
    loaded, loaded_tokenizer = load(directory)
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.params.flat, model.params.flat)
    assert loaded_tokenizer.encode("cab\n") == tokenizer.encode("cab\n")


def test_a_tokenizer_of_another_vocabulary_is_refused(saved):
    directory, model, _ = saved
    char_tokenizer(["abcdefghij\n"]).save(directory / "tokenizer.json")
    with pytest.raises(ValueError, match="tokenizer has 12 tokens but the model 8"):
        load(directory)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_weights_that_are_not_finite_are_refused(saved, bad):
    directory, model, tokenizer = saved
    model.params["h.0.mlp.c_fc.weight"][1, 2] = bad
    model.save(directory, tokenizer)
    with pytest.raises(ValueError, match=r"h\.0\.mlp\.c_fc\.weight holds NaN or infinite"):
        GPT.load(directory)


def test_a_directory_without_a_tokenizer_or_config_says_so(saved, tmp_path):
    directory, model, _ = saved
    (directory / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="has no tokenizer"):
        load(directory)
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        load(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        GPT.load(tmp_path)


@pytest.mark.parametrize("content, message", [
    ('{"format_version": 1, "vocab_size": 8,', r"config\.json: not valid JSON \(Expecting"),
    ("[" * 100_000 + "]" * 100_000, r"config\.json: not valid JSON here \(nested too deeply"),
    ('["a list"]', r"config\.json: not a model config"),
    ('{"format_version": 1, "vocab_size": "8", "block_size": 8}',
     r"config\.json: GPTConfig\.vocab_size is '8'; expected int"),
    ('{"format_version": 1, "vocab_size": 8, "block_size": 8, "n_head": 3, "d_model": 8}',
     r"config\.json: d_model=8 is not divisible by n_head=3"),
])
def test_a_bad_config_json_is_named_in_the_error(saved, content, message):
    directory, _, _ = saved
    (directory / "config.json").write_text(content)
    with pytest.raises(ValueError, match=message):
        GPT.load(directory)


def test_layer_norm_eps_is_saved_when_not_gpt2s_and_files_without_it_load(tmp_path):
    import json

    model = GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, d_model=8,
                          layer_norm_eps=1e-6))
    model.save(tmp_path / "other")
    assert GPT.load(tmp_path / "other").config.layer_norm_eps == 1e-6
    GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, d_model=8)).save(
        tmp_path / "default")
    # as written before the field existed, so earlier versions read it too
    assert "layer_norm_eps" not in json.loads((tmp_path / "default" / "config.json").read_text())
    assert GPT.load(tmp_path / "default").config.layer_norm_eps == 1e-5
