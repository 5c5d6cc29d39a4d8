"""AdamW across data-parallel ranks: the gradients are summed over the ranks, then either every
rank updates the whole model (ReplicatedAdamW) or each updates its shard and the ranks exchange
parameters (ShardedAdamW, ZeRO stage 1, as llm.c). Both take a Communicator
(llm.train.distributed); with a single process both are exactly AdamW.

The trainer uses one interface:
    norm = optimizer.reduce_gradients()   # after backward: sum the ranks' gradient shares,
                                          # return the global L2 norm of the sum
    optimizer.step(lr, grad_scale)        # update the parameters, identical on every rank
    optimizer.gather_state()              # AdamW's whole state on rank 0 (checkpoints); every
                                          # rank calls it
    optimizer.load(path)                  # every rank, from a checkpoint's optimizer file
Each rank's gradient buffer holds its share of the global batch's mean gradient (see
llm.train.loader), so the sum over the ranks is the mean gradient itself.
"""
import math
import os

import numpy as np

from llm._ext import adamw
from llm.train.distributed import Communicator
from llm.train.optimizer import AdamW, OptimizerState


class ReplicatedAdamW:
    """Every rank holds all of AdamW's state and updates the whole model: an all-reduce of
    the flat gradient buffer, then the same AdamW step everywhere.

    params, grads: (n,) float32 flat buffers (model.params.flat, model.grads.flat); decay_mask
    (n,) uint8; hyper: AdamW's beta1, beta2, eps, weight_decay.
    """

    def __init__(self, params: np.ndarray, grads: np.ndarray, decay_mask: np.ndarray,
                 comm: Communicator, **hyper):
        self.comm, self.grads = comm, grads
        self.adamw = AdamW(params, grads, decay_mask, **hyper)

    @property
    def state_bytes(self) -> int:
        """Bytes of AdamW moments this rank holds."""
        return self.adamw.m.nbytes + self.adamw.v.nbytes

    def reduce_gradients(self) -> float:
        self.comm.sum_buffer(self.grads)
        return adamw.grad_norm(self.grads)

    def step(self, lr: float, grad_scale: float = 1.0) -> None:
        self.adamw.step(lr, grad_scale)

    def gather_state(self) -> OptimizerState | None:
        return self.adamw.state() if self.comm.rank == 0 else None

    def load(self, path: str | os.PathLike) -> None:
        self.adamw.load(path)


class ShardedAdamW:
    """ZeRO stage 1: each rank holds AdamW's moments for its shard of the flat buffer only
    (1/N of them). A step reduce-scatters the gradients in place (the sum of this rank's shard
    lands at the start of the gradient buffer, whose other values backward overwrites next),
    updates this rank's shard of the parameters, and all-gathers the parameters. The global
    gradient norm (for clipping) is the square root of the ranks' summed squared shard norms.

    Arguments as ReplicatedAdamW. Same updates as it up to the order of float32 sums.
    """

    def __init__(self, params: np.ndarray, grads: np.ndarray, decay_mask: np.ndarray,
                 comm: Communicator, **hyper):
        self.comm, self.params, self.grads = comm, params, grads
        self.shard = comm.shard(params.size)
        grad_shard = grads[:self.shard.stop - self.shard.start]   # where reduce_scatter sums
        self.adamw = AdamW(params[self.shard], grad_shard, decay_mask[self.shard], **hyper)

    @property
    def state_bytes(self) -> int:
        """Bytes of AdamW moments this rank holds."""
        return self.adamw.m.nbytes + self.adamw.v.nbytes

    def reduce_gradients(self) -> float:
        grad_shard = self.comm.reduce_scatter(self.grads)
        return math.sqrt(self.comm.sum([adamw.grad_norm(grad_shard) ** 2])[0])

    def step(self, lr: float, grad_scale: float = 1.0) -> None:
        self.adamw.step(lr, grad_scale)
        self.comm.all_gather(self.params)

    def gather_state(self) -> OptimizerState | None:
        n = self.params.size
        m, v = self.comm.gather(self.adamw.m, n), self.comm.gather(self.adamw.v, n)
        return OptimizerState(m, v, self.adamw.step_count) if self.comm.rank == 0 else None

    def load(self, path: str | os.PathLike) -> None:
        self.adamw.load_state(OptimizerState.load(path, self.params.size), self.shard)


def data_parallel_adamw(params: np.ndarray, grads: np.ndarray, decay_mask: np.ndarray,
                        comm: Communicator, zero: int, **hyper):
    """ShardedAdamW when zero is 1, ReplicatedAdamW when it is 0 (the ZeRO stage, as
    TrainConfig.zero; other arguments as theirs)."""
    return (ShardedAdamW if zero else ReplicatedAdamW)(params, grads, decay_mask, comm, **hyper)
