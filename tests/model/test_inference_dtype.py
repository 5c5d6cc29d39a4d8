"""GPT.to_inference_dtype and load(dtype=...): the matrices in 16 bits (bf16, f16) for
generation. Logits within a stated tolerance of float32, the same greedy text wherever float32's
top two logits are not a near tie, half the parameter memory, and no training or saving (a loss
still evaluates).

Tolerance, measured (max |logit - float32 logit| over 8 x 32 positions, relative to the float32
logits' standard deviation): a briefly trained 2 x 64 character model, bf16 0.018, f16 0.0018;
random GPT-2-style 6 x 384 weights, bf16 0.015, f16 0.002. bf16 keeps 8 significant bits (a
weight's rounding error up to 2^-9 of it), f16 11 (2^-12): the bounds below leave about 3x."""
import gc
import weakref

import numpy as np
import pytest

import llm
from llm.model import GPT, GPTConfig, SamplingConfig, load
from llm.tokenizer import Tokenizer

from ..train.conftest import structured_text

TOLERANCE = {"bf16": 0.05, "f16": 0.005}   # of the float32 logits' standard deviation
KINDS = list(TOLERANCE)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model directory, token ids of the text): a character model trained ~1 s with Adam, so
    that its logits are spread like a trained model's and its greedy text has clear margins."""
    llm.set_num_threads(1)
    text = structured_text(400)
    tokenizer = Tokenizer.train(text, 257)     # bytes and end-of-text: a token per character
    data = np.array(tokenizer.encode(text))
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=2, n_head=2,
                          d_model=64, seed=1))
    rng = np.random.default_rng(0)
    first = np.zeros_like(model.params.flat)
    second = np.zeros_like(first)
    for step in range(1, 151):
        starts = rng.integers(0, len(data) - 33, 16)
        x = np.stack([data[s:s + 32] for s in starts])
        y = np.stack([data[s + 1:s + 33] for s in starts])
        model.loss(x, y)
        model.backward(accumulate=False)
        grad = model.grads.flat
        first += 0.1 * (grad - first)
        second += 0.001 * (grad * grad - second)
        model.params.flat -= 6e-3 * (first / (1 - 0.9**step)) / (
            np.sqrt(second / (1 - 0.999**step)) + 1e-8)
    directory = tmp_path_factory.mktemp("trained")
    model.save(directory, tokenizer)
    return directory, data


def windows(data, rows=8, length=32, seed=1):
    starts = np.random.default_rng(seed).integers(0, len(data) - length, rows)
    return np.stack([data[s:s + length] for s in starts])


@pytest.mark.parametrize("kind", KINDS)
def test_logits_within_tolerance_of_float32(trained, kind, simd_level):
    directory, data = trained
    reference, _ = load(directory)
    model, _ = load(directory, dtype=kind)
    assert model.dtype == kind
    idx = windows(data)
    expected = reference.forward(idx)
    spread = expected.std()
    assert spread > 1     # trained: the bound is not met by tiny logits
    error = np.abs(model.forward(idx) - expected).max()
    assert error <= TOLERANCE[kind] * spread
    # the cached path (generation: few-row kernels) as well as the full forward (packed GEMM)
    cached = model.forward_cached(idx[:, :20], llm.model.KVCache(model.config, 8))
    assert np.abs(cached - expected[:, 19]).max() <= TOLERANCE[kind] * spread


@pytest.mark.parametrize("kind", KINDS)
def test_greedy_text_is_float32s_unless_a_near_tie(trained, kind):
    directory, data = trained
    reference, _ = load(directory)
    model, _ = load(directory, dtype=kind)
    greedy = SamplingConfig(temperature=0)
    identical = 0
    for prompt in windows(data, rows=4, length=8, seed=2):
        expected = reference.generate(prompt, 40, greedy)
        got = model.generate(prompt, 40, greedy)
        if got == expected:
            identical += 1
            continue
        # they part where float32's top two logits were within the tolerance of each other
        step = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        context = np.concatenate([prompt, expected[:step]])[-32:]
        logits = reference.forward(context[None])[0, -1]
        top_two = np.sort(logits)[-2:]
        assert top_two[1] - top_two[0] <= 2 * TOLERANCE[kind] * logits.std()
    assert identical >= 3


@pytest.mark.parametrize("tie_embeddings", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_parameters_take_half_the_memory_and_the_float32_buffer_is_freed(kind, tie_embeddings):
    config = GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, d_model=128,
                       tie_embeddings=tie_embeddings)
    reference = GPT(config)
    model = GPT(config)
    before = model.parameter_bytes
    assert before == reference.params.flat.nbytes
    old_buffer = weakref.ref(model.params.flat)
    idx = np.arange(10)[None] % 65
    assert model.to_inference_dtype(kind) is model
    gc.collect()
    assert old_buffer() is None
    assert 0.5 < model.parameter_bytes / before < 0.52      # biases, LayerNorms, positions
    assert model.num_parameters == reference.num_parameters
    halves = [layer for layer in model.transformer.layers()
              if getattr(layer, "weight_dtype", None) == kind]
    assert all(layer.weight.dtype == np.uint16 for layer in halves)
    assert len(halves) == 1 + 4 * config.n_layer + 1     # wte, 4 Linears a block, lm head
    assert model.transformer.lm_head.weight is model.transformer.wte.weight or not tie_embeddings
    assert set(model.params) == {name for name in reference.params
                                 if not name.endswith(("attn.weight", "proj.weight", "fc.weight",
                                                       "wte.weight", "lm_head.weight"))}
    np.testing.assert_array_equal(model.params["h.1.ln_2.bias"], reference.params["h.1.ln_2.bias"])
    error = np.abs(model.forward(idx) - reference.forward(idx)).max()
    assert error <= TOLERANCE[kind] * reference.forward(idx).std()


def test_training_and_saving_a_converted_model_raise_but_evaluating_works(tmp_path):
    reference = GPT(GPTConfig(vocab_size=65, block_size=16, n_layer=1, n_head=2, d_model=16))
    model = GPT(reference.config).to_inference_dtype("bf16")
    idx = np.arange(8).reshape(2, 4)
    assert model.loss(idx, idx + 1) == pytest.approx(reference.loss(idx, idx + 1), rel=1e-3)
    with pytest.raises(RuntimeError, match=r"training \(backward\) needs float32 weights.*bf16"):
        model.backward()
    with pytest.raises(RuntimeError, match="save needs float32 weights"):
        model.save(tmp_path)
    with pytest.raises(RuntimeError, match="resized needs float32 weights"):
        model.resized(block_size=8)
    assert model.to_inference_dtype("bf16") is model
    with pytest.raises(ValueError, match="already bf16; load it again"):
        model.to_inference_dtype("f16")


def test_a_bad_dtype_is_a_value_error_naming_the_choices(tmp_path):
    model = GPT(GPTConfig(vocab_size=65, block_size=16, n_layer=1, n_head=2, d_model=16))
    with pytest.raises(ValueError, match="dtype='fp8': expected one of f32, bf16, f16"):
        model.to_inference_dtype("fp8")
    with pytest.raises(ValueError, match="dtype='float16'"):
        load(tmp_path / "nothing-read-yet", dtype="float16")
    assert model.to_inference_dtype("f32") is model and model.dtype == "f32"
