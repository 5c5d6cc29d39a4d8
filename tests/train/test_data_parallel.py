"""llm/train/data_parallel.py in one process (the MPI runs are in test_distributed.py): both
optimizers are AdamW, and their checkpoints are interchangeable."""
import numpy as np
import pytest

from llm.train.data_parallel import ReplicatedAdamW, ShardedAdamW
from llm.train.distributed import ONE_PROCESS
from llm.train.optimizer import AdamW

HYPER = {"beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1}


def buffers(seed=0, n=1000):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n).astype(np.float32), np.zeros(n, np.float32),
            (rng.random(n) < 0.5).astype(np.uint8))


@pytest.mark.parametrize("kind", [ReplicatedAdamW, ShardedAdamW])
def test_one_process_updates_as_adamw(tmp_path, kind):
    params, grads, mask = buffers()
    reference_params, reference_grads = params.copy(), grads.copy()
    optimizer = kind(params, grads, mask, ONE_PROCESS, **HYPER)
    reference = AdamW(reference_params, reference_grads, mask, **HYPER)
    rng = np.random.default_rng(1)
    for _ in range(3):
        grads[...] = reference_grads[...] = rng.standard_normal(grads.size)
        norm = optimizer.reduce_gradients()
        assert norm == pytest.approx(np.linalg.norm(reference_grads.astype(np.float64)),
                                     rel=1e-12)
        optimizer.step(1e-2, grad_scale=0.5)
        reference.step(1e-2, grad_scale=0.5)
    np.testing.assert_array_equal(params, reference_params)
    optimizer.gather_state().save(tmp_path / "state.safetensors")
    restored = AdamW(*buffers(), **HYPER)
    restored.load(tmp_path / "state.safetensors")
    np.testing.assert_array_equal(restored.v, reference.v)
    assert restored.step_count == 3
    again = kind(*buffers(), ONE_PROCESS, **HYPER)
    again.load(tmp_path / "state.safetensors")
    np.testing.assert_array_equal(again.adamw.m, reference.m)
