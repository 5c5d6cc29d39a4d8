"""Parity with PyTorch: the twin model of benchmarks/torch_gpt.py, holding a copy of our weights,
gives the same logits, loss and gradient of every tensor, for every option combination."""
import itertools

import numpy as np
import pytest

from llm.model import GPT, GPTConfig

torch = pytest.importorskip("torch")
from benchmarks.torch_gpt import TorchGPT  # noqa: E402  (needs torch)

OPTIONS = list(itertools.product(("pre", "post"), ("gelu", "relu"), ("learned", "sinusoidal"),
                                 (True, False), (False, True)))
B, T, V = 4, 16, 37


@pytest.mark.parametrize("norm, activation, positional, tie, padded", OPTIONS)
def test_logits_loss_and_gradients_match_pytorch(norm, activation, positional, tie, padded):
    seed = OPTIONS.index((norm, activation, positional, tie, padded))
    config = GPTConfig(vocab_size=V, block_size=T, n_layer=2, n_head=4, d_model=32,
                       activation=activation, norm=norm, positional=positional,
                       tie_embeddings=tie, label_smoothing=0.1 if seed % 2 else 0.0, seed=seed)
    model = GPT(config)
    rng = np.random.default_rng(seed)
    model.params.flat += rng.normal(0.0, 0.1, model.params.size).astype(np.float32)
    twin = TorchGPT.from_ours(model)
    idx = rng.integers(0, V, (B, T))
    targets = rng.integers(0, V, (B, T))
    mask = None
    if padded:
        mask = np.ones((B, T), dtype=bool)
        mask[1, :5] = mask[2, :T - 1] = False
    torch_mask = None if mask is None else torch.from_numpy(mask)

    logits = model.forward(idx, padding_mask=mask)
    expected = twin(torch.from_numpy(idx), torch_mask).detach().numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)

    model.zero_grad()
    loss = model.loss(idx, targets, mask=mask, padding_mask=mask)
    expected_loss = twin.loss(torch.from_numpy(idx), torch.from_numpy(targets), torch_mask,
                              torch_mask)
    expected_loss.backward()
    np.testing.assert_allclose(loss, expected_loss.item(), rtol=1e-5)
    model.backward()
    for name, grad in twin.gradients().items():
        scale = np.abs(grad).max()
        np.testing.assert_allclose(model.grads[name], grad, rtol=1e-4, atol=1e-4 * scale,
                                   err_msg=name)
