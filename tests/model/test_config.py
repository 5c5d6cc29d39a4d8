"""GPTConfig: defaults, validation messages that say how to fix, dict round trip."""
import pytest

from llm.model.config import GPTConfig


def test_defaults_are_gpt2_layout_and_d_ff_is_four_d_model():
    config = GPTConfig(vocab_size=65, block_size=64, d_model=48, n_head=4)
    assert (config.norm, config.activation, config.positional, config.tie_embeddings) == \
        ("pre", "gelu", "learned", True)
    assert config.d_ff == 192 and config.head_size == 12


def test_dict_round_trip():
    config = GPTConfig(vocab_size=11, block_size=5, n_layer=2, n_head=2, d_model=8, d_ff=12,
                       activation="relu", norm="post", positional="sinusoidal",
                       tie_embeddings=False, label_smoothing=0.1, seed=7)
    assert GPTConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("changes, message", [
    ({"d_model": 10, "n_head": 4}, r"not divisible by n_head=4; .*\(e\.g\. 1, 2, 5, 10\)"),
    # a huge mistyped width: the suggestion is found at once, not by searching to 1e12
    ({"d_model": 1000000000001, "n_head": 2}, r"\(e\.g\. 1, 73\)"),
    ({"n_layer": 0}, "n_layer=0: must be a positive integer"),
    ({"vocab_size": 2.5}, "vocab_size=2.5"),
    ({"activation": "swish"}, "activation='swish': use one of"),
    ({"norm": "sandwich"}, "norm='sandwich'"),
    ({"positional": "rope"}, "positional='rope'"),
    ({"label_smoothing": 1.0}, "label_smoothing=1.0"),
    ({"positional": "sinusoidal", "d_model": 9, "n_head": 3}, "odd"),
])
def test_invalid_values_are_rejected_with_a_fix(changes, message):
    values = dict(vocab_size=11, block_size=5, n_layer=1, n_head=2, d_model=8) | changes
    with pytest.raises(ValueError, match=message):
        GPTConfig(**values)


@pytest.mark.parametrize("values, message", [
    ({"vocab_size": "65"}, r"vocab_size is '65'; expected int"),
    ({"vocab_size": True}, "vocab_size is True; expected int"),
    ({"vocab_size": 65.0}, "vocab_size is 65.0; expected int"),
    ({"d_ff": "x"}, "d_ff is 'x'; expected int or null"),
    ({"tie_embeddings": 1}, "tie_embeddings is 1; expected bool"),
    ({"label_smoothing": "0.1"}, "label_smoothing is '0.1'; expected float"),
])
def test_from_dict_refuses_values_of_the_wrong_json_type(values, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig.from_dict({"vocab_size": 11, "block_size": 5} | values)


def test_from_dict_names_unknown_keys():
    with pytest.raises(ValueError, match="n_embd"):
        GPTConfig.from_dict({"vocab_size": 11, "block_size": 5, "n_embd": 8})
