"""Fixtures for the kernel tests: finite differences, running under a thread count, and under
each SIMD level's copy of the kernels."""
import numpy as np
import pytest

import llm
from llm._ext import attention, matmul, runtime

# The kernel modules compiled once per SIMD level, each with its set_simd_level.
PER_LEVEL_KERNELS = (matmul, attention)


def central_differences(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Gradient of the scalar function f at the float64 array x by central differences
    (error O(h^2), about 1e-9 for smooth f and h = 1e-6)."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        centre = flat_x[i]
        flat_x[i] = centre + h
        up = f(x)
        flat_x[i] = centre - h
        down = f(x)
        flat_x[i] = centre
        flat_grad[i] = (up - down) / (2 * h)
    return grad


@pytest.fixture
def numeric_gradient():
    """numeric_gradient(f, x) -> the gradient of scalar f(x) at x, by central differences."""
    return central_differences


@pytest.fixture
def with_threads():
    """with_threads(n, fn, *args) -> fn(*args) run with n OpenMP threads."""
    def run(n, fn, *args):
        before = runtime.max_threads()
        llm.set_num_threads(n)
        try:
            return fn(*args)
        finally:
            llm.set_num_threads(before)
    return run


@pytest.fixture(params=runtime.SIMD_NAMES)
def simd_level(request):
    """Runs the test with each SIMD level's copy of matmul and attention that this CPU can
    execute, then restores the default (the widest)."""
    in_use = [module.set_simd_level(request.param) for module in PER_LEVEL_KERNELS]
    if any(level != request.param for level in in_use):
        for module in PER_LEVEL_KERNELS:
            module.set_simd_level()
        pytest.skip(f"this CPU has no {request.param}")
    yield request.param
    for module in PER_LEVEL_KERNELS:
        module.set_simd_level()
