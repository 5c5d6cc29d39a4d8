"""Fused causal multi-head self-attention (wraps csrc/attention.c).

qkv (B, T, 3C) float32 is the c_attn output in GPT-2 order (q, k, v; head h uses channels
h*hs:(h+1)*hs of each, hs = C // n_head); scores are scaled by 1/sqrt(hs). Query i sees key j iff
j <= i and key_mask[b, j] (1 = token, 0 = left padding; None = all tokens). A query that sees no
key outputs zeros and gets zero gradients. Backward accumulates (+=) into dqkv.
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array, check_disjoint

cnp.import_array()

MAX_HEAD_SIZE = ATTENTION_MAX_HEAD_SIZE


cdef int64_t head_count(int64_t C, n_head) except -1:
    if not isinstance(n_head, (int, np.integer)) or n_head < 1:
        raise ValueError(f"n_head={n_head!r}: the number of heads must be a positive integer")
    if C % n_head:
        raise ValueError(f"n_head={n_head}: C={C} is not divisible by it; choose n_head dividing C")
    if C // n_head > ATTENTION_MAX_HEAD_SIZE:
        raise ValueError(f"n_head={n_head}: head size C // n_head = {C // n_head} exceeds "
                         f"{ATTENTION_MAX_HEAD_SIZE}; use more heads")
    return n_head


cdef tuple qkv_sizes(qkv, n_head):
    """(B, T, C, n_head) of a checked (B, T, 3C) qkv."""
    check_array("qkv", qkv, np.float32, (None, None, None))
    if qkv.shape[2] % 3:
        raise ValueError(f"qkv has shape {qkv.shape}; expected (B, T, 3C): the last size is "
                         f"not a multiple of 3")
    C = qkv.shape[2] // 3
    return qkv.shape[0], qkv.shape[1], C, head_count(C, n_head)


cdef const uint8_t* key_mask_pointer(key_mask, int64_t B, int64_t T) except? NULL:
    """The (B, T) mask as uint8 bytes (bool is viewed as uint8), or NULL for None."""
    if key_mask is None:
        return NULL
    if (cnp.PyArray_Check(key_mask) and cnp.PyArray_NDIM(<cnp.ndarray>key_mask) == 2
            and cnp.PyArray_TYPE(<cnp.ndarray>key_mask) in (cnp.NPY_UINT8, cnp.NPY_BOOL)
            and cnp.PyArray_DIM(<cnp.ndarray>key_mask, 0) == B
            and cnp.PyArray_DIM(<cnp.ndarray>key_mask, 1) == T
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>key_mask)):
        return <const uint8_t*>cnp.PyArray_DATA(<cnp.ndarray>key_mask)   # the common case, fast
    if isinstance(key_mask, np.ndarray) and key_mask.dtype == np.bool_:
        key_mask = key_mask.view(np.uint8)
    check_array("key_mask", key_mask, np.uint8, (B, T))
    return <const uint8_t*>cnp.PyArray_DATA(key_mask)


cdef raise_on_error(llm_status status, str function):
    if status != LLM_OK:
        raise ValueError(f"{function}: the kernel rejected the sizes (status {status})")


def attention_forward(out, stats, qkv, n_head, key_mask=None):
    """out = causal multi-head attention of qkv; stats = each query row's log-sum-exp.

    qkv: (B, T, 3C) float32. out: (B, T, C) float32, written. stats: (B, n_head, T) float32,
    written: log Σ_j exp(score_ij) over the keys query i sees, +inf for a query that sees none;
    keep it for attention_backward. key_mask: (B, T) uint8 or bool, or None.
    """
    cdef int64_t B, T, C, NH
    B, T, C, NH = qkv_sizes(qkv, n_head)
    check_array("out", out, np.float32, (B, T, C), writeable=True)
    check_array("stats", stats, np.float32, (B, NH, T), writeable=True)
    check_disjoint((("out", out), ("stats", stats)), (("qkv", qkv), ("key_mask", key_mask)))
    cdef const uint8_t* mask_ptr = key_mask_pointer(key_mask, B, T)
    cdef float* out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef float* stats_ptr = <float*>cnp.PyArray_DATA(stats)
    cdef const float* qkv_ptr = <const float*>cnp.PyArray_DATA(qkv)
    cdef llm_status status
    with nogil:
        status = c_attention_forward(out_ptr, stats_ptr, qkv_ptr, mask_ptr, B, T, C, NH)
    raise_on_error(status, "attention_forward")


def attention_backward(dqkv, dout, qkv, out, stats, n_head, key_mask=None):
    """dqkv += the gradient with respect to qkv, given dout (the gradient at out).

    dqkv: (B, T, 3C) float32, accumulated (zero it first unless it holds a running gradient).
    dout, out: (B, T, C) float32; qkv, out, stats, key_mask as in and from attention_forward.
    """
    cdef int64_t B, T, C, NH
    B, T, C, NH = qkv_sizes(qkv, n_head)
    check_array("dqkv", dqkv, np.float32, (B, T, 3 * C), writeable=True)
    check_array("dout", dout, np.float32, (B, T, C))
    check_array("out", out, np.float32, (B, T, C))
    check_array("stats", stats, np.float32, (B, NH, T))
    check_disjoint((("dqkv", dqkv),), (("dout", dout), ("qkv", qkv), ("out", out),
                                       ("stats", stats), ("key_mask", key_mask)))
    cdef const uint8_t* mask_ptr = key_mask_pointer(key_mask, B, T)
    cdef float* dqkv_ptr = <float*>cnp.PyArray_DATA(dqkv)
    cdef const float* dout_ptr = <const float*>cnp.PyArray_DATA(dout)
    cdef const float* qkv_ptr = <const float*>cnp.PyArray_DATA(qkv)
    cdef const float* out_ptr = <const float*>cnp.PyArray_DATA(out)
    cdef const float* stats_ptr = <const float*>cnp.PyArray_DATA(stats)
    cdef llm_status status
    with nogil:
        status = c_attention_backward(dqkv_ptr, dout_ptr, qkv_ptr, out_ptr, stats_ptr, mask_ptr,
                                      B, T, C, NH)
    raise_on_error(status, "attention_backward")


cdef int64_t float_strides(str name, object array, int64_t B, int64_t T, int64_t C,
                           bint contiguous_channels, int64_t* strides) except -1:
    """Checks a (B, T, C) float32 array (B, T or C < 0: any size) that may be a strided view of a
    larger buffer (such as buffer[:, :n]); with contiguous_channels its last stride must be one
    element. Writes its strides, in floats, to strides[0:3]. Typed C-level checks: this guards
    every decoding step, where Python-level checks would cost more than the attention."""
    if not (cnp.PyArray_Check(array) and cnp.PyArray_TYPE(<cnp.ndarray>array) == cnp.NPY_FLOAT32
            and cnp.PyArray_NDIM(<cnp.ndarray>array) == 3):
        check_array(name, array, np.float32, (B if B >= 0 else None, T if T >= 0 else None,
                                              C if C >= 0 else None))
        raise ValueError(f"{name} must be a (B, T, C) float32 numpy.ndarray")
    cdef cnp.ndarray a = <cnp.ndarray>array
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(a)
    cdef cnp.npy_intp* byte_strides = cnp.PyArray_STRIDES(a)
    if (B >= 0 and shape[0] != B) or (T >= 0 and shape[1] != T) or (C >= 0 and shape[2] != C):
        expected = tuple("*" if size < 0 else size for size in (B, T, C))
        raise ValueError(f"{name} has shape {array.shape}; expected "
                         f"({', '.join(map(str, expected))})")
    for axis in range(3):
        if byte_strides[axis] % 4:
            raise ValueError(f"{name} has strides {array.strides} that are not whole float32 "
                             f"elements; pass numpy.ascontiguousarray({name})")
        strides[axis] = byte_strides[axis] // 4
    if contiguous_channels and shape[2] > 1 and strides[2] != 1:
        raise ValueError(f"{name} must have contiguous channels (a view like buffer[:, :n] is "
                         f"fine, a transposed one is not); pass numpy.ascontiguousarray({name})")
    return 0


def attention_forward_cached(out, q, k_cache, v_cache, n_head, key_mask=None):
    """Attention of the last Tq of Tk positions over a KV cache (generation), forward only.

    q: (B, Tq, C) float32 queries of positions Tk-Tq .. Tk-1, channels contiguous; may be a
    strided view such as qkv[..., :C] of the c_attn output.
    v_cache: (B, Tk, C) float32 values of positions 0 .. Tk-1, channels contiguous: the rows in
    use of a preallocated (B, capacity, C) buffer (buffer[:, :Tk]) are fine as they are.
    k_cache: (B, Tk, C) float32 keys, any strides. Fastest is a transposed (B, C, capacity) buffer
    passed as kt_buffer[:, :, :Tk].transpose(0, 2, 1), filled with
    kt_buffer[:, :, t0:t1] = k.transpose(0, 2, 1): the kernel then copies key tiles instead of
    transposing them. out: (B, Tq, C) float32, C-contiguous, written.
    key_mask: (B, Tk) uint8 or bool, or None.
    Equals the last Tq rows of attention_forward over the whole sequence.
    """
    cdef int64_t q_s[3]
    cdef int64_t k_s[3]
    cdef int64_t v_s[3]
    float_strides("q", q, -1, -1, -1, True, q_s)
    cdef int64_t B = q.shape[0], Tq = q.shape[1], C = q.shape[2]
    float_strides("k_cache", k_cache, B, -1, C, False, k_s)
    cdef int64_t Tk = k_cache.shape[1]
    if Tk < Tq:
        raise ValueError(f"k_cache has {Tk} positions but q has {Tq}; the cache must hold the "
                         f"queries' own positions too")
    float_strides("v_cache", v_cache, B, Tk, C, True, v_s)
    cdef int64_t NH = head_count(C, n_head)
    check_array("out", out, np.float32, (B, Tq, C), writeable=True)
    check_disjoint((("out", out),), (("q", q), ("k_cache", k_cache), ("v_cache", v_cache),
                                     ("key_mask", key_mask)))
    cdef const uint8_t* mask_ptr = key_mask_pointer(key_mask, B, Tk)
    cdef float* out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef const float* q_ptr = <const float*>cnp.PyArray_DATA(q)
    cdef const float* k_ptr = <const float*>cnp.PyArray_DATA(k_cache)
    cdef const float* v_ptr = <const float*>cnp.PyArray_DATA(v_cache)
    cdef llm_status status
    with nogil:
        status = c_attention_forward_cached(out_ptr, q_ptr, k_ptr, v_ptr, mask_ptr,
                                            B, Tq, Tk, C, NH, q_s, k_s, v_s)
    raise_on_error(status, "attention_forward_cached")
