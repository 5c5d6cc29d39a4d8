"""The flat parameter buffer: layout, GPT-2 names and shapes, initialization, decay mask."""
import math

import numpy as np

from llm.model.config import GPTConfig
from llm.model.parameters import TensorBuffer, decay_mask, initialize, parameter_shapes


def small_config(**changes):
    return GPTConfig(**(dict(vocab_size=50, block_size=16, n_layer=3, n_head=2, d_model=32)
                        | changes))


def test_views_tile_the_flat_buffer_in_order():
    params = TensorBuffer(parameter_shapes(small_config()))
    end = 0
    for name, (begin, stop) in params.offsets.items():
        assert begin == end
        assert np.shares_memory(params[name], params.flat)
        end = stop
    assert end == params.size
    params["h.1.mlp.c_fc.weight"][2, 3] = 7.0
    begin, _ = params.offsets["h.1.mlp.c_fc.weight"]
    assert params.flat[begin + 2 * 128 + 3] == 7.0


def test_gpt2_names_and_shapes_follow_the_options():
    shapes = dict(parameter_shapes(small_config()))
    assert shapes["wte.weight"] == (50, 32) and shapes["wpe.weight"] == (16, 32)
    assert shapes["h.2.attn.c_attn.weight"] == (32, 96)
    assert shapes["h.0.mlp.c_proj.weight"] == (128, 32)
    assert "lm_head.weight" not in shapes and "ln_f.weight" in shapes
    other = dict(parameter_shapes(small_config(tie_embeddings=False, norm="post",
                                               positional="sinusoidal")))
    assert other["lm_head.weight"] == (50, 32)
    assert "ln_f.weight" not in other and "wpe.weight" not in other


def test_initialization_is_gpt2_and_seeded():
    config = GPTConfig(vocab_size=500, block_size=64, n_layer=6, n_head=4, d_model=128)
    params = TensorBuffer(parameter_shapes(config))
    initialize(params, config)
    assert abs(params["wte.weight"].std() - 0.02) < 0.001
    assert abs(params["h.0.mlp.c_fc.weight"].std() - 0.02) < 0.001
    assert abs(params["h.3.mlp.c_proj.weight"].std() - 0.02 / math.sqrt(12)) < 0.0005
    assert abs(params["h.3.attn.c_proj.weight"].std() - 0.02 / math.sqrt(12)) < 0.0005
    assert np.all(params["h.5.ln_2.weight"] == 1) and np.all(params["ln_f.bias"] == 0)
    assert np.all(params["h.1.attn.c_attn.bias"] == 0)
    again = params.like()
    initialize(again, config)
    np.testing.assert_array_equal(again.flat, params.flat)


def test_decay_mask_marks_only_the_matrices():
    config = small_config(tie_embeddings=False)
    params = TensorBuffer(parameter_shapes(config))
    mask = decay_mask(params)
    for name, (begin, end) in params.offsets.items():
        expected = name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight",
                                  "lm_head.weight"))
        assert np.all(mask[begin:end] == expected), name


def test_buffer_order_is_the_one_checkpoints_were_written_with():
    config = GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, d_model=32,
                       tie_embeddings=False)
    block = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
             "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
             "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]
    expected = ["wte.weight", "wpe.weight", *("h.0." + name for name in block),
                "ln_f.weight", "ln_f.bias", "lm_head.weight"]
    assert [name for name, _ in parameter_shapes(config)] == expected
