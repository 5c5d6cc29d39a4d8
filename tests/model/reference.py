"""A float64 NumPy reference of the GPT forward pass and loss, written independently of the C
kernels, straight from the definitions. The gradient check differentiates it numerically."""
import numpy as np

from llm.model.config import GPTConfig

LN_EPS = 1e-5


def layernorm(x, weight, bias):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * weight + bias


def position_ids(padding_mask, B, T):
    """(B, T): 0, 1, ... from each row's first real token (padding before it: 0)."""
    positions = np.tile(np.arange(T), (B, 1))
    if padding_mask is None:
        return positions
    for row in range(B):
        real = np.flatnonzero(padding_mask[row])
        first = real[0] if real.size else T
        positions[row] = np.maximum(np.arange(T) - first, 0)
    return positions


def sinusoidal_table(block_size, d_model):
    """(block_size, d_model) float64: sin(p / 10000^(2i/d)) at 2i, cos(...) at 2i + 1."""
    table = np.empty((block_size, d_model))
    for p in range(block_size):
        for i in range(0, d_model, 2):
            angle = p / 10000.0 ** (i / d_model)
            table[p, i], table[p, i + 1] = np.sin(angle), np.cos(angle)
    return table


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def relu(x):
    return np.maximum(x, 0.0)


def attention(qkv, n_head, key_mask):
    """Causal softmax attention; a query that sees no key outputs zeros."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // n_head
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(B, T, n_head, hs).transpose(0, 2, 1, 3)
               for i in range(3))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hs)            # (B, NH, T, T)
    visible = np.tril(np.ones((T, T), dtype=bool))[None, None]
    if key_mask is not None:
        visible = visible & (key_mask[:, None, None, :] != 0)
    scores = np.where(visible, scores, -np.inf)
    row_max = scores.max(axis=-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    weights = np.where(visible, np.exp(scores - row_max), 0.0)
    total = weights.sum(axis=-1, keepdims=True)
    weights = weights / np.where(total > 0, total, 1.0)
    return (weights @ v).transpose(0, 2, 1, 3).reshape(B, T, C)


def forward(params: dict, config: GPTConfig, idx, padding_mask=None):
    """Logits (B, T, V) float64; params maps GPT-2 names to arrays (converted to float64)."""
    p = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    B, T = idx.shape
    positions = position_ids(padding_mask, B, T)
    table = p["wpe.weight"] if config.positional == "learned" else \
        sinusoidal_table(config.block_size, config.d_model)
    x = p["wte.weight"][idx] + table[positions]
    act = gelu if config.activation == "gelu" else relu
    for layer in range(config.n_layer):
        w = {name[len(f"h.{layer}."):]: value for name, value in p.items()
             if name.startswith(f"h.{layer}.")}

        def attention_branch(y):
            qkv = y @ w["attn.c_attn.weight"] + w["attn.c_attn.bias"]
            out = attention(qkv, config.n_head, padding_mask)
            return out @ w["attn.c_proj.weight"] + w["attn.c_proj.bias"]

        def mlp_branch(y):
            hidden = act(y @ w["mlp.c_fc.weight"] + w["mlp.c_fc.bias"])
            return hidden @ w["mlp.c_proj.weight"] + w["mlp.c_proj.bias"]

        if config.norm == "pre":
            x = x + attention_branch(layernorm(x, w["ln_1.weight"], w["ln_1.bias"]))
            x = x + mlp_branch(layernorm(x, w["ln_2.weight"], w["ln_2.bias"]))
        else:
            x = layernorm(x + attention_branch(x), w["ln_1.weight"], w["ln_1.bias"])
            x = layernorm(x + mlp_branch(x), w["ln_2.weight"], w["ln_2.bias"])
    if config.norm == "pre":
        x = layernorm(x, p["ln_f.weight"], p["ln_f.bias"])
    head = p["wte.weight"] if config.tie_embeddings else p["lm_head.weight"]
    return x @ head.T


def loss(params: dict, config: GPTConfig, idx, targets, mask=None, padding_mask=None) -> float:
    """Mean over counted targets of the label-smoothed cross-entropy (PyTorch's definition:
    (1 - s) * NLL + s * mean over the vocabulary of -log p)."""
    logits = forward(params, config, idx, padding_mask)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    smooth = -log_probs.mean(axis=-1)
    s = config.label_smoothing
    per_token = (1.0 - s) * nll + s * smooth
    counted = np.ones(targets.shape, dtype=bool) if mask is None else mask != 0
    return float(per_token[counted].mean())
