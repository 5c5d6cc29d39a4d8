"""Argument checks shared by the Cython wrappers: a wrong array is a ValueError naming it.

Kernels read raw pointers, so every array reaching C must have the dtype, C-contiguous layout and
shape the kernel assumes. The messages say how to fix the call.
"""
import numpy as np


def check_array(name: str, array, dtype, shape: tuple | None = None, *,
                writeable: bool = False) -> np.ndarray:
    """Return array after checking it is a C-contiguous numpy array of dtype and shape
    (an entry None in shape matches any size); writeable for outputs."""
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name} must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype != dtype:
        dtype_name = np.dtype(dtype).name
        raise ValueError(f"{name} must be {dtype_name}, got {array.dtype}; "
                         f"convert with {name}.astype(numpy.{dtype_name})")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (a transposed or sliced view is not); "
                         f"pass numpy.ascontiguousarray({name})")
    if shape is not None and (array.ndim != len(shape) or any(
            want is not None and have != want for have, want in zip(array.shape, shape))):
        expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + \
                   ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} has shape {array.shape}; expected {expected}")
    if writeable and not array.flags.writeable:
        raise ValueError(f"{name} is read-only; pass a writeable output array")
    return array


def check_disjoint(outputs, inputs, same_allowed=()) -> None:
    """Raise if an output array overlaps another output or an input in memory (the kernel would
    read values it has already overwritten). outputs, inputs: sequences of (name, array or None);
    same_allowed: (output name, input name) pairs that may be exactly the same array (in place)."""
    outputs = [(name, array) for name, array in outputs if array is not None]
    inputs = [(name, array) for name, array in inputs if array is not None]
    for position, (name, output) in enumerate(outputs):
        for other_name, other in outputs[position + 1:] + inputs:
            if not np.may_share_memory(output, other):
                continue
            if (name, other_name) in same_allowed:
                if output.ctypes.data == other.ctypes.data and output.shape == other.shape:
                    continue
                raise ValueError(f"{name} overlaps {other_name} in memory; it may be the very "
                                 f"same array (in place) but not a shifted view of it")
            raise ValueError(f"{name} overlaps {other_name} in memory; pass a separate array")
