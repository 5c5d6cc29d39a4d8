"""The layers: tensors declared once under GPT-2's names, views bound into the model's buffers,
the tied head sharing the token embedding, and the buffer pool reusing its memory."""
import numpy as np

from llm.model import GPT, GPTConfig
from llm.model.layers import Block, BufferPool


def config(**changes):
    return GPTConfig(**({"vocab_size": 20, "block_size": 8, "n_layer": 2, "n_head": 2,
                         "d_model": 8, "d_ff": 12} | changes))


def test_a_block_declares_its_tensors_in_gpt2_order():
    assert Block(config(), 0).parameter_shapes("h.0.") == [
        ("h.0.ln_1.weight", (8,)), ("h.0.ln_1.bias", (8,)),
        ("h.0.attn.c_attn.weight", (8, 24)), ("h.0.attn.c_attn.bias", (24,)),
        ("h.0.attn.c_proj.weight", (8, 8)), ("h.0.attn.c_proj.bias", (8,)),
        ("h.0.ln_2.weight", (8,)), ("h.0.ln_2.bias", (8,)),
        ("h.0.mlp.c_fc.weight", (8, 12)), ("h.0.mlp.c_fc.bias", (12,)),
        ("h.0.mlp.c_proj.weight", (12, 8)), ("h.0.mlp.c_proj.bias", (8,))]


def test_layers_hold_views_of_the_parameters_and_gradients():
    model = GPT(config(tie_embeddings=False))
    layers = model.transformer
    for name, layer, tensor in (("h.1.attn.c_proj.bias", layers.h[1].attn.c_proj, "bias"),
                                ("h.0.ln_2.weight", layers.h[0].ln_2, "weight"),
                                ("lm_head.weight", layers.lm_head, "weight")):
        view, grad = getattr(layer, tensor), getattr(layer, "d" + tensor)
        assert view.base is model.params.flat and grad.base is model.grads.flat
        assert view.__array_interface__ == model.params[name].__array_interface__
        assert grad.__array_interface__ == model.grads[name].__array_interface__
    assert not np.shares_memory(layers.lm_head.weight, layers.wte.weight)


def test_a_tied_head_reads_and_writes_the_token_embedding():
    layers = GPT(config()).transformer
    assert layers.lm_head.weight is layers.wte.weight
    assert layers.lm_head.dweight is layers.wte.dweight


def test_the_pool_reuses_its_memory_for_smaller_shapes():
    pool = BufferPool()
    big = pool.take("x", (4, 6))
    small = pool.take("x", (2, 3))
    assert small.shape == (2, 3) and np.shares_memory(small, big)
    assert small.flags.c_contiguous
    bigger = pool.take("x", (5, 6))
    assert not np.shares_memory(bigger, big)
