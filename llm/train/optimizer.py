"""AdamW over the model's flat parameter buffer (one C call per step, llm._ext.adamw).

Adam's moments m and v are flat float32 buffers of the parameters' layout, so a step, a save and
a load are each one operation. Weight decay is decoupled (torch.optim.AdamW) and applies only
where the model's decay mask is 1: the matrices, not biases, LayerNorm parameters or embeddings.
"""
import math
import os
from dataclasses import dataclass

import numpy as np

from llm._ext import adamw
from llm.model import safetensors


class AdamW:
    """params, grads: (n,) float32 flat buffers (model.params.flat, model.grads.flat), updated /
    read in place; decay_mask: (n,) uint8, 1 where weight decay applies.

    step_count: updates done so far (the bias correction of the next update uses step_count + 1).
    """

    def __init__(self, params: np.ndarray, grads: np.ndarray, decay_mask: np.ndarray,
                 beta1: float = 0.9, beta2: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.1):
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}={beta}: must be in [0, 1)")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps={eps}: must be a finite number > 0")
        if not (math.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay={weight_decay}: must be a finite number >= 0")
        self.params, self.grads, self.decay_mask = params, grads, decay_mask
        self.beta1, self.beta2, self.eps, self.weight_decay = beta1, beta2, eps, weight_decay
        self.m = np.zeros_like(params)
        self.v = np.zeros_like(params)
        self.step_count = 0

    def step(self, lr: float, grad_scale: float = 1.0) -> None:
        """One update of params from grad_scale * grads with learning rate lr (grad_scale: the
        gradient clipping factor, adamw.clip_scale; grads themselves are left as they are)."""
        self.step_count += 1
        adamw.adamw_step(self.params, self.grads, self.m, self.v, lr, self.beta1, self.beta2,
                         self.eps, self.weight_decay, self.step_count, decay_mask=self.decay_mask,
                         grad_scale=grad_scale)

    def state(self) -> "OptimizerState":
        return OptimizerState(self.m, self.v, self.step_count)

    def save(self, path: str | os.PathLike) -> None:
        """Write m, v and the step count to a safetensors file."""
        self.state().save(path)

    def load(self, path: str | os.PathLike) -> None:
        """Restore m, v and the step count written by save (same parameter layout)."""
        self.load_state(OptimizerState.load(path, self.params.size))

    def load_state(self, state: "OptimizerState", part: slice = slice(None)) -> None:
        """Take m and v (or their elements `part`, this optimizer's share) and the step count
        from state."""
        self.m[...] = state.m[part]
        self.v[...] = state.v[part]
        self.step_count = state.step_count


@dataclass
class OptimizerState:
    """AdamW's state over the whole flat buffer, as checkpoints hold it: m, v (n,) float32 and
    the number of updates done."""

    m: np.ndarray
    v: np.ndarray
    step_count: int

    def save(self, path: str | os.PathLike) -> None:
        """Write m, v and the step count to a safetensors file."""
        safetensors.save_file(path, {"m": self.m, "v": self.v},
                              metadata={"step_count": str(self.step_count)})

    @classmethod
    def load(cls, path: str | os.PathLike, n: int) -> "OptimizerState":
        """The state saved in path by save, for n parameters (ValueError when it is not)."""
        tensors, metadata = safetensors.load_file(path)
        for name in ("m", "v"):
            if name not in tensors or tensors[name].shape != (n,):
                found = tensors[name].shape if name in tensors else "nothing"
                raise ValueError(f"{path}: optimizer state {name!r} should have shape "
                                 f"{(n,)} (the model's parameters), found {found}")
        if "step_count" not in metadata or not metadata["step_count"].isdigit():
            raise ValueError(f"{path}: no step_count in the metadata; not an optimizer state file")
        return cls(tensors["m"], tensors["v"], int(metadata["step_count"]))
