"""LayerNorm over the last dimension (wraps csrc/layernorm.c).

Arrays are float32 and C-contiguous. x: (..., C), leading dimensions flatten to N rows; the
row statistics mean and rstd are (N,) or x.shape[:-1]. Backward accumulates (+=) into dx,
dweight and dbias (zero them first when they are not running gradients).

Beyond the planned API: x may have leading dimensions, and layernorm_backward takes an optional
scratch array (one pass over the data with deterministic dweight/dbias sums needs a slot per
block of 64 rows; without it the wrapper allocates one per call).
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array, check_disjoint
from llm._ext.runtime cimport share_process_state

cnp.import_array()
share_process_state(__name__)


cdef (int64_t, int64_t) rows_and_channels(cnp.ndarray x) except *:
    cdef int ndim = cnp.PyArray_NDIM(x)
    if ndim == 0 or cnp.PyArray_DIM(x, ndim - 1) == 0:
        raise ValueError(f"x has shape {(<object>x).shape}; LayerNorm needs at least one channel "
                         f"in the last dimension")
    cdef int64_t C = cnp.PyArray_DIM(x, ndim - 1)
    return cnp.PyArray_SIZE(x) // C, C


cdef check_row_statistic(str name, object array, cnp.ndarray x, int64_t N, bint writeable=False):
    """array: (N,) or x.shape[:-1] float32, one value per row of x."""
    cdef cnp.ndarray a = check_array(name, array, np.float32, None, writeable)
    cdef int axis, ndim = cnp.PyArray_NDIM(a)
    cdef bint per_row = ndim == cnp.PyArray_NDIM(x) - 1
    for axis in range(ndim if per_row else 0):
        per_row = per_row and cnp.PyArray_DIM(a, axis) == cnp.PyArray_DIM(x, axis)
    if not (per_row or (ndim == 1 and cnp.PyArray_DIM(a, 0) == N)):
        raise ValueError(f"{name} has shape {array.shape}; expected ({N},) or "
                         f"{(<object>x).shape[:-1]}, "
                         f"one value per row of x")


def layernorm_forward(out, mean, rstd, x, weight, bias, float eps=1e-5, residual=None):
    """out = (x - mean) * rstd * weight + bias per row; writes the row mean and
    rstd = 1/sqrt(var + eps) for backward. x, out: (..., C); weight, bias: (C,); out may be x.

    residual: None, or an array shaped like x: then x += residual first, in place, and the sum
    is normalized (a residual connection and the LayerNorm after it, in one pass).
    """
    cdef int64_t N, C
    N, C = rows_and_channels(check_array("x", x, np.float32, None, residual is not None))
    if residual is not None:
        check_array("residual", residual, np.float32, x.shape)
    check_array("weight", weight, np.float32, (C,))
    check_array("bias", bias, np.float32, (C,))
    check_array("out", out, np.float32, x.shape, writeable=True)
    check_row_statistic("mean", mean, x, N, writeable=True)
    check_row_statistic("rstd", rstd, x, N, writeable=True)
    if not eps > 0:
        raise ValueError(f"eps={eps}: must be positive")
    if residual is None:
        check_disjoint((("out", out), ("mean", mean), ("rstd", rstd)),
                       (("x", x), ("weight", weight), ("bias", bias)),
                       same_allowed=(("out", "x"),))
    else:
        check_disjoint((("out", out), ("mean", mean), ("rstd", rstd), ("x", x)),
                       (("residual", residual), ("weight", weight), ("bias", bias)),
                       same_allowed=(("out", "x"),))
    cdef float* out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef float* mean_ptr = <float*>cnp.PyArray_DATA(mean)
    cdef float* rstd_ptr = <float*>cnp.PyArray_DATA(rstd)
    cdef float* x_ptr = <float*>cnp.PyArray_DATA(x)
    cdef const float* residual_ptr = NULL
    if residual is not None:
        residual_ptr = <const float*>cnp.PyArray_DATA(residual)
    cdef const float* weight_ptr = <const float*>cnp.PyArray_DATA(weight)
    cdef const float* bias_ptr = <const float*>cnp.PyArray_DATA(bias)
    with nogil:
        c_layernorm_forward(out_ptr, mean_ptr, rstd_ptr, x_ptr, residual_ptr, weight_ptr,
                            bias_ptr, N, C, eps)


def backward_scratch_size(N, C) -> int:
    """Floats of scratch layernorm_backward needs for N rows of C channels (about 2 C N / 64)."""
    return layernorm_backward_scratch_size(N, C)


def layernorm_backward(dx, dweight, dbias, dout, x, weight, mean, rstd, scratch=None,
                       bint accumulate_weights=True):
    """dx, dweight, dbias += the gradients of LayerNorm given dout (..., C), the forward's input
    x, weight (C,) and the forward's mean and rstd. Gradient arrays must not overlap inputs.

    scratch: None (allocated per call) or a float32 array of backward_scratch_size(N, C)
    elements, for callers that keep one to avoid the allocation. The result is the same bit for
    bit with any number of threads.

    accumulate_weights=False writes dweight and dbias (=) instead of adding to them (their old
    contents are never read); dx is always added to.
    """
    cdef int64_t N, C
    N, C = rows_and_channels(check_array("x", x, np.float32))
    check_array("dout", dout, np.float32, x.shape)
    check_array("weight", weight, np.float32, (C,))
    check_row_statistic("mean", mean, x, N)
    check_row_statistic("rstd", rstd, x, N)
    check_array("dx", dx, np.float32, x.shape, writeable=True)
    check_array("dweight", dweight, np.float32, (C,), writeable=True)
    check_array("dbias", dbias, np.float32, (C,), writeable=True)
    scratch_size = layernorm_backward_scratch_size(N, C)
    if scratch is None:
        scratch = np.empty(scratch_size, np.float32)
    else:
        check_array("scratch", scratch, np.float32, (scratch_size,), writeable=True)
    check_disjoint((("dx", dx), ("dweight", dweight), ("dbias", dbias), ("scratch", scratch)),
                   (("dout", dout), ("x", x), ("weight", weight), ("mean", mean), ("rstd", rstd)))
    cdef float* dx_ptr = <float*>cnp.PyArray_DATA(dx)
    cdef float* dweight_ptr = <float*>cnp.PyArray_DATA(dweight)
    cdef float* dbias_ptr = <float*>cnp.PyArray_DATA(dbias)
    cdef float* scratch_ptr = <float*>cnp.PyArray_DATA(scratch)
    cdef const float* dout_ptr = <const float*>cnp.PyArray_DATA(dout)
    cdef const float* x_ptr = <const float*>cnp.PyArray_DATA(x)
    cdef const float* weight_ptr = <const float*>cnp.PyArray_DATA(weight)
    cdef const float* mean_ptr = <const float*>cnp.PyArray_DATA(mean)
    cdef const float* rstd_ptr = <const float*>cnp.PyArray_DATA(rstd)
    with nogil:
        c_layernorm_backward(dx_ptr, dweight_ptr, dbias_ptr, scratch_ptr, dout_ptr, x_ptr,
                             weight_ptr, mean_ptr, rstd_ptr, N, C, accumulate_weights)
