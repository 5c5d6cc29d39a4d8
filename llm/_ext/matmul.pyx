"""Matrix multiplication for float32 row-major arrays (wraps csrc/matmul.c).

gemm is the general product; matmul_forward / matmul_backward are a linear layer's passes.
All arrays are float32 and C-contiguous; a wrong argument raises ValueError naming it.
"""
# The C declarations come from matmul.pxd, which Cython includes automatically.
cimport numpy as cnp

import numpy as np

cnp.import_array()


cdef float* data_of(object array):
    return <float*>cnp.PyArray_DATA(<cnp.ndarray>array)


cdef object checked(str name, object array, bint writable=False):
    """array as a C-contiguous float32 ndarray, or ValueError naming the argument."""
    if not cnp.PyArray_Check(array):
        raise ValueError(f"{name}: expected a float32 numpy array, got {type(array).__name__}")
    if cnp.PyArray_TYPE(<cnp.ndarray>array) != cnp.NPY_FLOAT32:
        raise ValueError(f"{name} has dtype {array.dtype}; expected float32 "
                         f"(convert with {name}.astype(np.float32))")
    if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>array):
        raise ValueError(f"{name} is not C-contiguous; pass np.ascontiguousarray({name})")
    if writable and not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>array):
        raise ValueError(f"{name} is read-only; pass a writable output array")
    return array


cdef check_ndim(str name, object array, int ndim):
    if array.ndim != ndim:
        raise ValueError(f"{name} has shape {array.shape}; expected {ndim} dimensions")


cdef bint overlaps(object x, object y):
    """Whether two C-contiguous arrays share memory: their byte ranges intersect."""
    cdef char* x_start = <char*>cnp.PyArray_DATA(<cnp.ndarray>x)
    cdef char* y_start = <char*>cnp.PyArray_DATA(<cnp.ndarray>y)
    cdef Py_ssize_t x_bytes = cnp.PyArray_NBYTES(<cnp.ndarray>x)
    cdef Py_ssize_t y_bytes = cnp.PyArray_NBYTES(<cnp.ndarray>y)
    return (x_bytes > 0 and y_bytes > 0 and x_start < y_start + y_bytes
            and y_start < x_start + x_bytes)


cdef check_no_overlap(list outputs, list inputs):
    """(name, array) lists: an output that overlaps an input or another output would be read
    while it is written."""
    for i, (name, array) in enumerate(outputs):
        for other, other_array in inputs + outputs[i + 1:]:
            if overlaps(array, other_array):
                raise ValueError(f"{name} overlaps {other}; pass a separate output array")


SIMD_LEVELS = ("scalar", "avx2", "avx512")  # as llm._ext.runtime.SIMD_NAMES


def set_simd_level(level=None):
    """Run the micro-kernel of SIMD level "scalar", "avx2" or "avx512" (None: the widest this CPU
    has, the default); a level the CPU lacks falls back to its widest. Returns the level in use.

    For validating and timing every kernel on one machine; not to be called while other
    threads multiply.
    """
    if level is not None and level not in SIMD_LEVELS:
        raise ValueError(f"level={level!r}: expected one of {SIMD_LEVELS} or None")
    return SIMD_LEVELS[matmul_set_simd_level(-1 if level is None else SIMD_LEVELS.index(level))]


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
    c_arr = checked("c", c, writable=True)
    a_arr = checked("a", a)
    b_arr = checked("b", b)
    check_ndim("c", c_arr, 2)
    check_ndim("a", a_arr, 2)
    check_ndim("b", b_arr, 2)
    cdef int64_t m = a_arr.shape[1] if trans_a else a_arr.shape[0]
    cdef int64_t k = a_arr.shape[0] if trans_a else a_arr.shape[1]
    cdef int64_t b_k = b_arr.shape[1] if trans_b else b_arr.shape[0]
    cdef int64_t n = b_arr.shape[0] if trans_b else b_arr.shape[1]
    if b_k != k:
        raise ValueError(f"b has shape {b_arr.shape} (trans_b={bool(trans_b)}) but op(a) has {k} "
                         f"columns (a has shape {a_arr.shape}, trans_a={bool(trans_a)})")
    if c_arr.shape[0] != m or c_arr.shape[1] != n:
        raise ValueError(f"c has shape {c_arr.shape}; expected ({m}, {n}) from a and b")
    check_no_overlap([("c", c_arr)], [("a", a_arr), ("b", b_arr)])
    cdef float* c_data = data_of(c_arr)
    cdef const float* a_data = data_of(a_arr)
    cdef const float* b_data = data_of(b_arr)
    cdef int64_t lda = a_arr.shape[1], ldb = b_arr.shape[1]
    cdef llm_status status
    with nogil:
        status = matmul_gemm(c_data, n, a_data, lda, b_data, ldb, m, n, k, trans_a, trans_b,
                             alpha, beta)
    raise_for(status)
    return c


cdef tuple layer_sizes(object inp, object weight, bint transpose_weight):
    """(M, K, N) of a linear layer: inp (..., K), weight (K, N) or (N, K) when transposed."""
    check_ndim("weight", weight, 2)
    if inp.ndim < 1:
        raise ValueError("inp is a scalar; expected shape (..., K)")
    k = inp.shape[inp.ndim - 1]
    weight_k = weight.shape[1] if transpose_weight else weight.shape[0]
    if weight_k != k:
        raise ValueError(f"weight has shape {weight.shape} (transpose_weight="
                         f"{bool(transpose_weight)}) but inp's last dimension is {k}")
    n = weight.shape[0] if transpose_weight else weight.shape[1]
    return inp.size // k if k else int(np.prod(inp.shape[:-1])), k, n


cdef check_shape(str name, object array, tuple expected, str origin):
    if array.shape != expected:
        raise ValueError(f"{name} has shape {array.shape}; expected {expected} from {origin}")


def matmul_forward(out, inp, weight, bias=None, bint transpose_weight=False):
    """out = inp @ weight (+ bias), in place; returns out.

    inp: (..., K) float32; leading dimensions are flattened.
    weight: (K, N) float32, or (N, K) with transpose_weight (out = inp @ weight.T: the tied lm head).
    bias: (N,) float32 or None.
    out: (..., N) float32 with inp's leading dimensions.
    """
    out_arr = checked("out", out, writable=True)
    inp_arr = checked("inp", inp)
    weight_arr = checked("weight", weight)
    bias_arr = None if bias is None else checked("bias", bias)
    cdef int64_t m, k, n
    m, k, n = layer_sizes(inp_arr, weight_arr, transpose_weight)
    check_shape("out", out_arr, inp_arr.shape[:-1] + (n,), "inp and weight")
    inputs = [("inp", inp_arr), ("weight", weight_arr)]
    if bias_arr is not None:
        check_shape("bias", bias_arr, (n,), "weight")
        inputs.append(("bias", bias_arr))
    check_no_overlap([("out", out_arr)], inputs)
    cdef float* out_data = data_of(out_arr)
    cdef const float* inp_data = data_of(inp_arr)
    cdef const float* weight_data = data_of(weight_arr)
    cdef const float* bias_data = NULL if bias_arr is None else data_of(bias_arr)
    cdef llm_status status
    with nogil:
        status = c_matmul_forward(out_data, inp_data, weight_data, bias_data, m, k, n,
                                transpose_weight)
    raise_for(status)
    return out


def matmul_backward(dinp, dweight, dbias, dout, inp, weight, bint transpose_weight=False):
    """Accumulate (+=) the gradients of out = inp @ weight (+ bias).

    dout: (..., N) float32; inp: (..., K) with the same leading dimensions; weight as in
    matmul_forward. dinp (like inp) += dout @ weight.T; dweight (like weight) += inp.T @ dout
    (its transpose with transpose_weight); dbias (N,) += dout summed over the leading dimensions.
    Any of dinp, dweight, dbias may be None (that gradient is skipped).
    """
    dout_arr = checked("dout", dout)
    inp_arr = checked("inp", inp)
    weight_arr = checked("weight", weight)
    cdef int64_t m, k, n
    m, k, n = layer_sizes(inp_arr, weight_arr, transpose_weight)
    check_shape("dout", dout_arr, inp_arr.shape[:-1] + (n,), "inp and weight")
    outputs = []
    dinp_arr = dweight_arr = dbias_arr = None
    if dinp is not None:
        dinp_arr = checked("dinp", dinp, writable=True)
        check_shape("dinp", dinp_arr, inp_arr.shape, "inp")
        outputs.append(("dinp", dinp_arr))
    if dweight is not None:
        dweight_arr = checked("dweight", dweight, writable=True)
        check_shape("dweight", dweight_arr, weight_arr.shape, "weight")
        outputs.append(("dweight", dweight_arr))
    if dbias is not None:
        dbias_arr = checked("dbias", dbias, writable=True)
        check_shape("dbias", dbias_arr, (n,), "weight")
        outputs.append(("dbias", dbias_arr))
    check_no_overlap(outputs, [("dout", dout_arr), ("inp", inp_arr), ("weight", weight_arr)])
    cdef float* dinp_data = NULL if dinp_arr is None else data_of(dinp_arr)
    cdef float* dweight_data = NULL if dweight_arr is None else data_of(dweight_arr)
    cdef float* dbias_data = NULL if dbias_arr is None else data_of(dbias_arr)
    cdef const float* dout_data = data_of(dout_arr)
    cdef const float* inp_data = data_of(inp_arr)
    cdef const float* weight_data = data_of(weight_arr)
    cdef llm_status status
    with nogil:
        status = c_matmul_backward(dinp_data, dweight_data, dbias_data, dout_data, inp_data,
                                 weight_data, m, k, n, transpose_weight)
    raise_for(status)
