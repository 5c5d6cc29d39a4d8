"""GPTConfig: the hyperparameters that fix a model's shape and its options.

The defaults are GPT-2's layout (pre-LayerNorm, GELU, learned positions, tied lm head); the
other values of each option are those of the original Transformer, which this project started from.
"""
from dataclasses import dataclass

from llm.util.config_dict import DictConfig

ACTIVATIONS = ("gelu", "relu")
NORMS = ("pre", "post")
POSITIONALS = ("learned", "sinusoidal")


@dataclass(frozen=True)
class GPTConfig(DictConfig):
    """Shape and options of a GPT.

    vocab_size:      number of token ids.
    block_size:      longest sequence the model takes (rows of the position table).
    n_layer:         number of transformer blocks.
    n_head:          attention heads per block (1 = single-head attention).
    d_model:         width of the residual stream, C.
    d_ff:            hidden width of the MLP; None means 4 * d_model.
    activation:      "gelu" (tanh approximation, as GPT-2) or "relu".
    norm:            "pre": x + sublayer(LN(x)) and a final LayerNorm (GPT-2);
                     "post": LN(x + sublayer(x)) and no final LayerNorm (the original Transformer:
                     the last block's output is already normalized).
    positional:      "learned" (a trained table, wpe) or "sinusoidal" (fixed, not a parameter).
    tie_embeddings:  the lm head reuses the token embedding (logits = x @ wteᵀ).
    label_smoothing: weight given to the uniform distribution in the cross-entropy target, [0, 1).
    layer_norm_eps:  added to the variance in every LayerNorm (GPT-2: 1e-5; an imported GPT-2
                     config's layer_norm_epsilon).
    seed:            seed of the parameter initialization.
    """

    vocab_size: int
    block_size: int
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    d_ff: int | None = None
    activation: str = "gelu"
    norm: str = "pre"
    positional: str = "learned"
    tie_embeddings: bool = True
    label_smoothing: float = 0.0
    seed: int = 1337
    layer_norm_eps: float = 1e-5

    def __post_init__(self):
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model", "d_ff"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r}: must be a positive integer")
        if self.d_model % self.n_head:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_head={self.n_head}; choose "
                f"n_head among the divisors of d_model (e.g. "
                f"{', '.join(map(str, head_counts(self.d_model)))}) or change d_model")
        if self.positional == "sinusoidal" and self.d_model % 2:
            raise ValueError(f"d_model={self.d_model} is odd; sinusoidal positions pair sin and "
                             "cos channels, so use an even d_model or positional='learned'")
        for name, allowed in (("activation", ACTIVATIONS), ("norm", NORMS),
                              ("positional", POSITIONALS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}: use one of {allowed}")
        if not isinstance(self.tie_embeddings, bool):
            raise ValueError(f"tie_embeddings={self.tie_embeddings!r}: use True or False")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing={self.label_smoothing}: use a value in [0, 1)")
        eps = self.layer_norm_eps
        if isinstance(eps, bool) or not isinstance(eps, float | int) or not 0.0 < eps < 1.0:
            raise ValueError(f"layer_norm_eps={self.layer_norm_eps!r}: use a small positive "
                             "number (GPT-2: 1e-5)")
        object.__setattr__(self, "layer_norm_eps", float(self.layer_norm_eps))

    @property
    def head_size(self) -> int:
        return self.d_model // self.n_head


def head_counts(d_model: int, most: int = 6, largest: int = 128) -> list[int]:
    """Up to `most` head counts d_model divides into, the smallest first: the divisors up to
    `largest` (more heads than that is no model anyone trains; a search to d_model could take
    hours for a mistyped 1000000000001)."""
    return [h for h in range(1, min(d_model, largest) + 1) if d_model % h == 0][:most]
