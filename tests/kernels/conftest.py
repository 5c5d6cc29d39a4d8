"""Fixtures for the kernel tests: finite differences and running under a thread count (the
simd_level fixture is in the top conftest.py, shared with tests/embeddings)."""
import numpy as np
import pytest

import llm


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
        llm.set_num_threads(n)   # the session's policy comes back after the test (conftest.py)
        return fn(*args)
    return run

