"""Fused causal multi-head self-attention (wraps csrc/attention.c).

qkv (B, T, 3C) float32 is the c_attn output in GPT-2 order (q, k, v; head h uses channels
h*hs:(h+1)*hs of each, hs = C // n_head); scores are scaled by 1/sqrt(hs). Query i sees key j iff
j <= i and key_mask[b, j] (1 = token, 0 = left padding; None = all tokens). A query that sees no
key outputs zeros and gets zero gradients. Backward accumulates (+=) into dqkv.
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks import check_array, check_disjoint

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


cdef const uint8_t* key_mask_pointer(key_mask, int64_t B, int64_t T) except? NULL:
    """The (B, T) mask as uint8 bytes (bool is viewed as uint8), or NULL for None."""
    if key_mask is None:
        return NULL
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
    check_array("qkv", qkv, np.float32, (None, None, None))
    if qkv.shape[2] % 3:
        raise ValueError(f"qkv has shape {qkv.shape}; expected (B, T, 3C): the last size is "
                         f"not a multiple of 3")
    cdef int64_t B = qkv.shape[0], T = qkv.shape[1], C = qkv.shape[2] // 3
    cdef int64_t NH = head_count(C, n_head)
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
    check_array("qkv", qkv, np.float32, (None, None, None))
    if qkv.shape[2] % 3:
        raise ValueError(f"qkv has shape {qkv.shape}; expected (B, T, 3C): the last size is "
                         f"not a multiple of 3")
    cdef int64_t B = qkv.shape[0], T = qkv.shape[1], C = qkv.shape[2] // 3
    cdef int64_t NH = head_count(C, n_head)
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


cdef check_rows(str name, array, shape):
    """A (B, T, C) float32 array whose channels are contiguous; its rows and batches may be
    strided (a slice of a larger buffer). Returns its (batch, row) strides in floats."""
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name} must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {array.dtype}; "
                         f"convert with {name}.astype(numpy.float32)")
    if array.ndim != 3 or any(want is not None and have != want
                              for have, want in zip(array.shape, shape)):
        expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} has shape {array.shape}; expected {expected}")
    itemsize = array.itemsize
    if array.shape[2] > 1 and array.strides[2] != itemsize or any(
            stride % itemsize for stride in array.strides[:2]):
        raise ValueError(f"{name} must have contiguous channels (a view like buffer[:, :n] is "
                         f"fine, a transposed one is not); pass numpy.ascontiguousarray({name})")
    return array.strides[0] // itemsize, array.strides[1] // itemsize


def attention_forward_cached(out, q, k_cache, v_cache, n_head, key_mask=None):
    """Attention of the last Tq of Tk positions over a KV cache (generation), forward only.

    q: (B, Tq, C) float32 queries of positions Tk-Tq .. Tk-1; may be a strided view such as
    qkv[..., :C] of the c_attn output. k_cache, v_cache: (B, Tk, C) float32 keys and values of
    positions 0 .. Tk-1, with identical strides; the rows in use of a preallocated
    (B, capacity, C) buffer (buffer[:, :Tk]) are fine as they are. out: (B, Tq, C) float32,
    C-contiguous, written. key_mask: (B, Tk) uint8 or bool, or None.
    Equals the last Tq rows of attention_forward over the whole sequence.
    """
    q_batch_stride, q_row_stride = check_rows("q", q, (None, None, None))
    cdef int64_t B = q.shape[0], Tq = q.shape[1], C = q.shape[2]
    kv_strides = check_rows("k_cache", k_cache, (B, None, C))
    cdef int64_t Tk = k_cache.shape[1]
    if Tk < Tq:
        raise ValueError(f"k_cache has {Tk} positions but q has {Tq}; the cache must hold the "
                         f"queries' own positions too")
    if check_rows("v_cache", v_cache, (B, Tk, C)) != kv_strides:
        raise ValueError(f"v_cache must have the strides of k_cache ({v_cache.strides} vs "
                         f"{k_cache.strides}); allocate both caches alike")
    cdef int64_t NH = head_count(C, n_head)
    check_array("out", out, np.float32, (B, Tq, C), writeable=True)
    check_disjoint((("out", out),), (("q", q), ("k_cache", k_cache), ("v_cache", v_cache),
                                     ("key_mask", key_mask)))
    cdef const uint8_t* mask_ptr = key_mask_pointer(key_mask, B, Tk)
    cdef float* out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef const float* q_ptr = <const float*>cnp.PyArray_DATA(q)
    cdef const float* k_ptr = <const float*>cnp.PyArray_DATA(k_cache)
    cdef const float* v_ptr = <const float*>cnp.PyArray_DATA(v_cache)
    cdef int64_t qb = q_batch_stride, qr = q_row_stride, kb = kv_strides[0], kr = kv_strides[1]
    cdef llm_status status
    with nogil:
        status = c_attention_forward_cached(out_ptr, q_ptr, k_ptr, v_ptr, mask_ptr,
                                            B, Tq, Tk, C, NH, qb, qr, kb, kr)
    raise_on_error(status, "attention_forward_cached")
