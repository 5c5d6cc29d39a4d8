"""The PyTorch twin of llm.GPT: the same architecture, options and tensor layout, for the parity
tests (tests/model/test_torch_parity.py) and the training benchmark (test_train_bench.py).

Parameters use our names and GPT-2's layout (Conv1D: y = x @ W + b, W (in, out)), so weights copy
across by name and gradients compare by name. Eager mode; attention through
scaled_dot_product_attention (is_causal without padding, its fastest CPU path). For generation,
forward takes a TorchKVCache (the generation benchmark's peer).
"""
import numpy as np
import torch
import torch.nn.functional as F

from llm.model.config import GPTConfig
from llm.model.parameters import MATRIX_SUFFIXES, parameter_shapes
from llm.model.positional import sinusoidal_table

LN_EPS = 1e-5


class TorchGPT(torch.nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.names = [name for name, _ in parameter_shapes(config)]
        # ParameterDict keys cannot contain dots
        self.weights = torch.nn.ParameterDict({
            name.replace(".", "/"): torch.nn.Parameter(torch.zeros(shape))
            for name, shape in parameter_shapes(config)})
        if config.positional == "sinusoidal":
            self.register_buffer("sinusoidal",
                                 torch.from_numpy(sinusoidal_table(config.block_size,
                                                                   config.d_model)))

    def __getitem__(self, name: str) -> torch.nn.Parameter:
        return self.weights[name.replace(".", "/")]

    @classmethod
    def from_ours(cls, model) -> "TorchGPT":
        """A twin of llm.GPT `model` holding a copy of its parameters."""
        twin = cls(model.config)
        with torch.no_grad():
            for name, view in model.params.items():
                twin[name].copy_(torch.from_numpy(view))
        return twin

    def gradients(self) -> dict[str, np.ndarray]:
        return {name: self[name].grad.numpy() for name in self.names}

    def decay_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups with the same rule as llm.model.parameters.decay_mask."""
        decay = [self[n] for n in self.names if n.endswith(MATRIX_SUFFIXES)]
        other = [self[n] for n in self.names if not n.endswith(MATRIX_SUFFIXES)]
        return [{"params": decay, "weight_decay": weight_decay},
                {"params": other, "weight_decay": 0.0}]

    def _attention(self, x, layer, padding_mask, cache=None):
        B, T, C = x.shape
        NH = self.config.n_head
        h = f"h.{layer}.attn."
        qkv = F.linear(x, self[h + "c_attn.weight"].t(), self[h + "c_attn.bias"])
        q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in qkv.split(C, dim=2))
        if cache is not None:
            k, v = cache.append(layer, k, v)
        if padding_mask is None:
            # causal when the queries are all the positions; one new query sees every key
            y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)
        else:
            causal = torch.ones(T, T, dtype=torch.bool).tril()
            visible = causal[None, None] & padding_mask[:, None, None, :]
            # a query that sees no key outputs zeros (as our kernel), not NaN
            sees_any = visible.any(dim=-1, keepdim=True)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible | ~sees_any)
            y = y * sees_any
        y = y.transpose(1, 2).reshape(B, T, C)
        return F.linear(y, self[h + "c_proj.weight"].t(), self[h + "c_proj.bias"])

    def _mlp(self, x, layer):
        h = f"h.{layer}.mlp."
        x = F.linear(x, self[h + "c_fc.weight"].t(), self[h + "c_fc.bias"])
        x = F.gelu(x, approximate="tanh") if self.config.activation == "gelu" else F.relu(x)
        return F.linear(x, self[h + "c_proj.weight"].t(), self[h + "c_proj.bias"])

    def _norm(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self[name + ".weight"], self[name + ".bias"],
                            LN_EPS)

    def forward(self, idx, padding_mask=None, cache=None, last_only=False):
        """idx: (B, T) int64 tensor; padding_mask: (B, T) bool tensor or None. With a
        TorchKVCache (no padding_mask), idx follows the cache's positions: the whole prompt into
        an empty cache, then one token at a time; its keys and values are appended. last_only:
        the logits of the last position alone, (B, 1, V) (transformers' logits_to_keep=1)."""
        cfg = self.config
        B, T = idx.shape
        start = 0 if cache is None else cache.begin(T, padding_mask)
        positions = torch.arange(start, start + T).expand(B, T)
        if padding_mask is not None:
            first_real = torch.where(padding_mask.any(dim=1, keepdim=True),
                                     padding_mask.to(torch.int64).argmax(dim=1, keepdim=True), T)
            positions = (positions - first_real).clamp(min=0)
        table = self["wpe.weight"] if cfg.positional == "learned" else self.sinusoidal
        x = F.embedding(idx, self["wte.weight"]) + F.embedding(positions, table)
        for layer in range(cfg.n_layer):
            h = f"h.{layer}."
            if cfg.norm == "pre":
                x = x + self._attention(self._norm(x, h + "ln_1"), layer, padding_mask, cache)
                x = x + self._mlp(self._norm(x, h + "ln_2"), layer)
            else:
                x = self._norm(x + self._attention(x, layer, padding_mask, cache), h + "ln_1")
                x = self._norm(x + self._mlp(x, layer), h + "ln_2")
        if cache is not None:
            cache.length += T
        if cfg.norm == "pre":
            x = self._norm(x, "ln_f")
        head = self["wte.weight"] if cfg.tie_embeddings else self["lm_head.weight"]
        return F.linear(x[:, -1:] if last_only else x, head)

    def loss(self, idx, targets, mask=None, padding_mask=None):
        logits = self.forward(idx, padding_mask)
        if mask is not None:
            targets = targets.masked_fill(~mask, -1)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1),
                               ignore_index=-1, label_smoothing=self.config.label_smoothing)


class TorchKVCache:
    """Keys and values (n_layer, B, n_head, block_size, head_size), preallocated (the layout of
    Hugging Face transformers' static cache), for TorchGPT.forward(idx, cache=...)."""

    def __init__(self, config: GPTConfig, batch_size: int):
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, config.head_size)
        self.keys, self.values = torch.zeros(shape), torch.zeros(shape)
        self.length = 0

    def begin(self, count: int, padding_mask) -> int:
        """The first position of count new ones (the cache's length)."""
        if padding_mask is not None:
            raise ValueError("TorchKVCache takes unpadded rows")
        if self.length and count > 1:
            raise ValueError("after the prompt, append one position at a time")
        if self.length + count > self.keys.shape[3]:
            raise ValueError("the cache is full")
        return self.length

    def append(self, layer: int, k, v):
        """Store k, v (B, n_head, T, head_size) after the cached positions; returns every
        position's keys and values."""
        end = self.length + k.shape[2]
        self.keys[layer, :, :, self.length:end] = k
        self.values[layer, :, :, self.length:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]


def flops_per_token(config: GPTConfig, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward = 3 x forward), counting each multiply-add as
    2 and the causal attention scores in full, as nanoGPT's estimate."""
    C, F_, L, V = config.d_model, config.d_ff, config.n_layer, config.vocab_size
    matmul = 2 * (C * 3 * C + C * C + 2 * C * F_) * L + 2 * C * V
    attention = 2 * 2 * seq_len * C * L
    return 3.0 * (matmul + attention)

