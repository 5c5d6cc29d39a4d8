"""Matrix multiplication for float32 row-major arrays (wraps csrc/matmul.c).

gemm is the general product; matmul_forward / matmul_backward are a linear layer's passes (the
forward also with 16-bit weights: bf16 or f16 bits in uint16, for inference). All other arrays
are float32 and C-contiguous; a wrong argument raises ValueError naming it.
"""
# The C declarations come from matmul.pxd, which Cython includes automatically.
cimport numpy as cnp

import numpy as np

from libc.stdint cimport uint16_t

from llm._ext.checks cimport check_array, check_disjoint, check_weight_kind, overlaps
from llm._ext.runtime cimport share_process_state

cnp.import_array()
share_process_state(__name__)

# np.float32 looked up once: two dictionary lookups per argument add up over a decoding step's
# ~20 products of one row.
cdef object FLOAT32 = np.float32
cdef object UINT16 = np.uint16


cdef inline float* data_of(object array):
    return <float*>cnp.PyArray_DATA(<cnp.ndarray>array)


cdef raise_for(llm_status status):
    if status == LLM_ERR_NOMEM:
        raise MemoryError("matmul: could not allocate the packing workspace")
    if status != LLM_OK:
        raise ValueError("matmul: invalid sizes")


def gemm(c, a, b, bint trans_a=False, bint trans_b=False, float alpha=1.0, float beta=0.0):
    """c = alpha * op(a) @ op(b) + beta * c, in place; returns c.

    a: (M, K) float32, or (K, M) with trans_a (op(a) = a.T, read in place, never copied).
    b: (K, N) float32, or (N, K) with trans_b.
    c: (M, N) float32; beta = 0 ignores its old contents (even NaN), beta = 1 accumulates.
    """
    cdef cnp.ndarray a_arr = check_array("a", a, FLOAT32, (None, None))
    cdef cnp.ndarray b_arr = check_array("b", b, FLOAT32, (None, None))
    cdef int64_t m = cnp.PyArray_DIM(a_arr, 1 if trans_a else 0)
    cdef int64_t k = cnp.PyArray_DIM(a_arr, 0 if trans_a else 1)
    if cnp.PyArray_DIM(b_arr, 1 if trans_b else 0) != k:
        raise ValueError(f"b has shape {b.shape} (trans_b={bool(trans_b)}) but op(a) has {k} "
                         f"columns (a has shape {a.shape}, trans_a={bool(trans_a)})")
    cdef int64_t n = cnp.PyArray_DIM(b_arr, 0 if trans_b else 1)
    check_array("c", c, FLOAT32, (m, n), writeable=True)
    check_disjoint((("c", c),), (("a", a), ("b", b)))
    cdef float* c_data = data_of(c)
    cdef const float* a_data = data_of(a)
    cdef const float* b_data = data_of(b)
    cdef int64_t lda = cnp.PyArray_DIM(a_arr, 1), ldb = cnp.PyArray_DIM(b_arr, 1)
    cdef llm_status status
    with nogil:
        status = matmul_gemm(c_data, n, a_data, lda, b_data, ldb, m, n, k, trans_a, trans_b,
                             alpha, beta)
    raise_for(status)
    return c


cdef (int64_t, int64_t, int64_t) layer_sizes(object inp, object weight,
                                              bint transpose_weight,
                                              object weight_dtype=FLOAT32) except *:
    """(M, K, N) of a linear layer after checking inp (..., K) and weight (K, N), or (N, K) when
    transposed, of weight_dtype: M is the product of inp's leading dimensions."""
    cdef cnp.ndarray x = check_array("inp", inp, FLOAT32)
    cdef cnp.ndarray w = check_array("weight", weight, weight_dtype, (None, None))
    cdef int ndim = cnp.PyArray_NDIM(x)
    if ndim < 1:
        raise ValueError("inp is a scalar; expected shape (..., K)")
    cdef int64_t k = cnp.PyArray_DIM(x, ndim - 1), m = 1
    if cnp.PyArray_DIM(w, 1 if transpose_weight else 0) != k:
        raise ValueError(f"weight has shape {weight.shape} (transpose_weight="
                         f"{bool(transpose_weight)}) but inp's last dimension is {k}")
    cdef int axis
    for axis in range(ndim - 1):
        m *= cnp.PyArray_DIM(x, axis)
    return m, k, cnp.PyArray_DIM(w, 0 if transpose_weight else 1)


cdef check_rows(str name, object array, cnp.ndarray inp, int64_t width, bint writeable=False):
    """array: a C-contiguous float32 (..., width) with inp's leading dimensions."""
    cdef cnp.ndarray a = check_array(name, array, FLOAT32, None, writeable)
    cdef int axis, ndim = cnp.PyArray_NDIM(inp)
    cdef bint same = cnp.PyArray_NDIM(a) == ndim and cnp.PyArray_DIM(a, ndim - 1) == width
    for axis in range(ndim - 1 if same else 0):
        same = cnp.PyArray_DIM(a, axis) == cnp.PyArray_DIM(inp, axis)
        if not same:
            break
    if not same:
        raise ValueError(f"{name} has shape {array.shape}; expected "
                         f"{(<object>inp).shape[:-1] + (width,)} from inp and weight")


def matmul_forward(out, inp, weight, bias=None, bint transpose_weight=False, str kind="f32"):
    """out = inp @ weight (+ bias), in place; returns out.

    inp: (..., K) float32; leading dimensions are flattened.
    weight: (K, N), or (N, K) with transpose_weight (out = inp @ weight.T: the tied lm head), of
    kind "f32" (float32) or "bf16" / "f16" (uint16 holding those bits, for inference: widened to
    float32 as they are read; the sums are float32 either way).
    bias: (N,) float32 or None.
    out: (..., N) float32 with inp's leading dimensions.
    """
    cdef int weight_type = check_weight_kind("kind", kind)
    cdef int64_t m, k, n
    m, k, n = layer_sizes(inp, weight, transpose_weight, UINT16 if weight_type else FLOAT32)
    check_rows("out", out, <cnp.ndarray>inp, n, writeable=True)
    if bias is not None:
        check_array("bias", bias, FLOAT32, (n,))
    if overlaps(out, inp) or overlaps(out, weight) or overlaps(out, bias):
        check_disjoint((("out", out),), (("inp", inp), ("weight", weight), ("bias", bias)))
    cdef float* out_data = data_of(out)
    cdef const float* inp_data = data_of(inp)
    cdef const void* weight_data = cnp.PyArray_DATA(<cnp.ndarray>weight)
    cdef const float* bias_data = NULL if bias is None else data_of(bias)
    cdef llm_status status
    with nogil:
        if weight_type == 0:
            status = c_matmul_forward(out_data, inp_data, <const float*>weight_data, bias_data,
                                      m, k, n, transpose_weight)
        else:
            status = c_matmul_forward_half(out_data, inp_data, <const uint16_t*>weight_data,
                                           <llm_dtype>weight_type, bias_data, m, k, n,
                                           transpose_weight)
    raise_for(status)
    return out


def matmul_backward(dinp, dweight, dbias, dout, inp, weight, bint transpose_weight=False,
                    bint accumulate_weights=True):
    """Accumulate (+=) the gradients of out = inp @ weight (+ bias).

    dout: (..., N) float32; inp: (..., K) with the same leading dimensions; weight as in
    matmul_forward. dinp (like inp) += dout @ weight.T; dweight (like weight) += inp.T @ dout
    (its transpose with transpose_weight); dbias (N,) += dout summed over the leading dimensions.
    Any of dinp, dweight, dbias may be None (that gradient is skipped).

    accumulate_weights=False writes dweight and dbias (=) instead of adding to them: their old
    contents are never read, so a first micro-batch needs no zeroing pass. dinp is always added to.
    """
    cdef int64_t m, k, n
    m, k, n = layer_sizes(inp, weight, transpose_weight)
    check_rows("dout", dout, <cnp.ndarray>inp, n)
    if dinp is not None:
        check_array("dinp", dinp, FLOAT32, inp.shape, writeable=True)
    if dweight is not None:
        check_array("dweight", dweight, FLOAT32, weight.shape, writeable=True)
    if dbias is not None:
        check_array("dbias", dbias, FLOAT32, (n,), writeable=True)
    check_disjoint((("dinp", dinp), ("dweight", dweight), ("dbias", dbias)),
                   (("dout", dout), ("inp", inp), ("weight", weight)))
    cdef float* dinp_data = NULL if dinp is None else data_of(dinp)
    cdef float* dweight_data = NULL if dweight is None else data_of(dweight)
    cdef float* dbias_data = NULL if dbias is None else data_of(dbias)
    cdef const float* dout_data = data_of(dout)
    cdef const float* inp_data = data_of(inp)
    cdef const float* weight_data = data_of(weight)
    cdef llm_status status
    with nogil:
        status = c_matmul_backward(dinp_data, dweight_data, dbias_data, dout_data, inp_data,
                                   weight_data, m, k, n, transpose_weight, accumulate_weights)
    raise_for(status)


def fma_peak_gflops(int threads=1) -> float:
    """The FMA roofline our GEMM is measured against: GFLOPS of `threads` threads each running
    independent chains of fused multiply-adds at the SIMD level in force and the micro-kernel's
    vector width, nothing else (the best of a few ~5 ms runs, so a busy machine lowers it less
    than it lowers a longer benchmark). threads < 1 raises ValueError."""
    if threads < 1:
        raise ValueError(f"threads={threads}: expected at least 1")
    cdef double gflops
    with nogil:
        gflops = matmul_fma_peak(threads)
    return gflops


def read_bandwidth_gbs(x, int threads=1) -> float:
    """The memory roofline our one-row products (generation) are measured against: GB/s of
    `threads` threads each summing a contiguous part of x (float32, C-contiguous; make it much
    larger than the caches: 256 MB) in memory order at the SIMD level in force, nothing else;
    the best of a few runs. threads < 1 or an empty x raises ValueError."""
    if threads < 1:
        raise ValueError(f"threads={threads}: expected at least 1")
    cdef cnp.ndarray data = check_array("x", x, FLOAT32)
    if cnp.PyArray_SIZE(data) == 0:
        raise ValueError("x is empty: nothing to read")
    cdef const float* x_data = data_of(data)
    cdef int64_t n = cnp.PyArray_SIZE(data)
    cdef double gbs
    with nogil:
        gbs = matmul_read_bandwidth(x_data, n, threads)
    return gbs
