"""All of a model's tensors in one flat float32 buffer, with a named view per tensor.

Parameters, gradients and the optimizer's moments share one layout, so zeroing, clipping, the
AdamW step, saving and a data-parallel all-reduce are each one call over one buffer. Names and
shapes are GPT-2's (`h.0.attn.c_attn.weight` is (C, 3C), used as x @ W), so a model directory can
be read by other tools.
"""
import math

import numpy as np

from llm.model.config import GPTConfig
from llm.model.layers import GPTLayers

# Matrices multiplied with activations: decayed by AdamW. Biases, LayerNorm parameters and the
# embedding tables (also the tied lm head) are not (the usual GPT rule, as minGPT).
MATRIX_SUFFIXES = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
                   "mlp.c_proj.weight", "lm_head.weight")
# Projections into the residual stream, initialized with std 0.02 / sqrt(2 * n_layer) (GPT-2).
RESIDUAL_PROJECTIONS = ("attn.c_proj.weight", "mlp.c_proj.weight")
INIT_STD = 0.02


def parameter_shapes(config: GPTConfig) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every parameter tensor, in buffer order: as the layers declare them."""
    return GPTLayers(config).parameter_shapes()


class TensorBuffer:
    """One flat float32 array (`flat`) and a named, shaped view of it per tensor.

    `buffer["h.0.ln_1.weight"]` is a view: writing to it writes to `flat`.
    """

    def __init__(self, shapes: list[tuple[str, tuple[int, ...]]]):
        self.shapes = dict(shapes)
        self.offsets: dict[str, tuple[int, int]] = {}
        start = 0
        for name, shape in shapes:
            size = math.prod(shape)
            self.offsets[name] = (start, start + size)
            start += size
        self.flat = np.zeros(start, dtype=np.float32)
        self.views = {name: self.flat[begin:end].reshape(self.shapes[name])
                      for name, (begin, end) in self.offsets.items()}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.views[name]

    def __iter__(self):
        return iter(self.views)

    def __len__(self) -> int:
        return len(self.views)

    def items(self):
        return self.views.items()

    @property
    def size(self) -> int:
        """Number of float32 elements in the buffer."""
        return self.flat.size

    def like(self) -> "TensorBuffer":
        """A zeroed buffer with the same layout (for gradients, Adam's moments)."""
        return TensorBuffer(list(self.shapes.items()))


def initialize(params: TensorBuffer, config: GPTConfig) -> None:
    """GPT-2 initialization, seeded by config.seed: weights and embeddings normal(0, 0.02),
    residual projections normal(0, 0.02 / sqrt(2 * n_layer)), LayerNorm weight 1, biases 0."""
    rng = np.random.default_rng(config.seed)
    residual_std = INIT_STD / math.sqrt(2 * config.n_layer)
    for name, view in params.items():
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            view.fill(1.0)
        elif name.endswith(".bias"):
            view.fill(0.0)
        else:
            rng.standard_normal(dtype=np.float32, out=view)
            view *= residual_std if name.endswith(RESIDUAL_PROJECTIONS) else INIT_STD


def decay_mask(params: TensorBuffer) -> np.ndarray:
    """(params.size,) uint8: 1 where AdamW applies weight decay (the matrices), 0 elsewhere."""
    mask = np.zeros(params.size, dtype=np.uint8)
    for name, (begin, end) in params.offsets.items():
        if name.endswith(MATRIX_SUFFIXES):
            mask[begin:end] = 1
    return mask
