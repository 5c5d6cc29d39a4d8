"""Vectorised exp (wraps csrc/vecmath.c), the primitive under softmax, cross-entropy and GELU.

Exposed for its tests and for anyone who needs a fast, accurate exp over a float32 array.
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array
from llm._ext.runtime cimport share_process_state

cnp.import_array()
share_process_state(__name__)


def exp_sum(out, x, float shift=0.0) -> float:
    """out[i] = exp(x[i] - shift) for every element; returns their sum (accumulated in double).

    x: float32 C-contiguous array of any shape; out: None (only sum) or a float32 array of x's
    shape, which may be x itself. Runs at the SIMD level in force (llm._ext.runtime).
    """
    check_array("x", x, np.float32)
    cdef float* out_ptr = NULL
    if out is not None:
        check_array("out", out, np.float32, x.shape, writeable=True)
        out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef const float* x_ptr = <const float*>cnp.PyArray_DATA(x)
    cdef int64_t n = x.size
    cdef double total
    with nogil:
        total = vec_exp_sum(out_ptr, x_ptr, n, shift)
    return total
