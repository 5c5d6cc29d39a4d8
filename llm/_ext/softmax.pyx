"""Row-wise softmax over the last dimension (wraps csrc/softmax.c).

Arrays are float32 and C-contiguous; leading dimensions flatten to rows. Backward accumulates
(+=) into dx, so zero it first when it is not a running gradient.
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array, check_disjoint
from llm._ext.runtime cimport share_simd_level

cnp.import_array()
share_simd_level(__name__)


cdef int64_t row_length(x):
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension (rows of the last one)")
    return x.shape[x.ndim - 1]


def softmax_forward(out, x):
    """out = softmax(x) over the last dimension. x: (..., C) float32; out: same shape, may be x
    itself (in place)."""
    check_array("x", x, np.float32)
    check_array("out", out, np.float32, x.shape, writeable=True)
    check_disjoint((("out", out),), (("x", x),), same_allowed=(("out", "x"),))
    cdef int64_t C = row_length(x)
    cdef int64_t N = x.size // C if C else 0
    cdef float* out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef const float* x_ptr = <const float*>cnp.PyArray_DATA(x)
    with nogil:
        c_softmax_forward(out_ptr, x_ptr, N, C)


def softmax_backward(dx, dout, out):
    """dx += the gradient through softmax, given dout (the gradient at its output) and out (the
    forward's output). All (..., C) float32 of one shape; dx must not overlap the inputs."""
    check_array("out", out, np.float32)
    check_array("dout", dout, np.float32, out.shape)
    check_array("dx", dx, np.float32, out.shape, writeable=True)
    check_disjoint((("dx", dx),), (("dout", dout), ("out", out)))
    cdef int64_t C = row_length(out)
    cdef int64_t N = out.size // C if C else 0
    cdef float* dx_ptr = <float*>cnp.PyArray_DATA(dx)
    cdef const float* dout_ptr = <const float*>cnp.PyArray_DATA(dout)
    cdef const float* out_ptr = <const float*>cnp.PyArray_DATA(out)
    with nogil:
        c_softmax_backward(dx_ptr, dout_ptr, out_ptr, N, C)
