"""Fused causal multi-head self-attention (wraps csrc/attention.c).

qkv (B, T, 3C) float32 is the c_attn output in GPT-2 order (q, k, v; head h uses channels
h*hs:(h+1)*hs of each, hs = C // n_head); scores are scaled by 1/sqrt(hs). Query i sees key j iff
j <= i and key_mask[b, j] (1 = token, 0 = left padding; None = all tokens). A query that sees no
key outputs zeros and gets zero gradients. Backward writes dqkv (all of it).
attention_forward_cached is generation's step: it appends new keys and values to a KV cache and
attends over all of it.
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array, check_disjoint
from llm._ext.runtime cimport share_process_state

cnp.import_array()
share_process_state(__name__)

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


cdef (int64_t, int64_t, int64_t, int64_t) qkv_sizes(qkv, n_head) except *:
    """(B, T, C, n_head) of a checked (B, T, 3C) qkv."""
    cdef cnp.ndarray checked = check_array("qkv", qkv, np.float32, (None, None, None))
    cdef int64_t C = cnp.PyArray_DIM(checked, 2) // 3
    if cnp.PyArray_DIM(checked, 2) % 3:
        raise ValueError(f"qkv has shape {qkv.shape}; expected (B, T, 3C): the last size is "
                         f"not a multiple of 3")
    return cnp.PyArray_DIM(checked, 0), cnp.PyArray_DIM(checked, 1), C, head_count(C, n_head)


cdef const uint8_t* key_mask_pointer(key_mask, int64_t B, int64_t T) except? NULL:
    """The (B, T) mask as uint8 bytes (bool is viewed as uint8), or NULL for None."""
    if key_mask is None:
        return NULL
    if cnp.PyArray_Check(key_mask) and cnp.PyArray_TYPE(<cnp.ndarray>key_mask) == cnp.NPY_BOOL:
        key_mask = key_mask.view(np.uint8)
    return <const uint8_t*>cnp.PyArray_DATA(check_array("key_mask", key_mask, np.uint8, (B, T)))


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
    """dqkv = the gradient with respect to qkv, given dout (the gradient at out).

    dqkv: (B, T, 3C) float32, written (its old contents are never read).
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


def attention_forward_cached(out, k_cache, v_cache, qkv, n_head, length, key_mask=None):
    """Generation over a KV cache: appends the keys and values of a step's Tq new positions,
    length - Tq .. length - 1, to the caches, then writes their attention over positions
    0 .. length - 1 into out (forward only).

    qkv: (B, Tq, 3C) float32, the c_attn output of the new positions.
    k_cache, v_cache: (B, n_head, capacity, hs) float32, hs = C // n_head: k_cache[b, h, t] is the
    key of head h at position t (head by head, each head's keys one contiguous block that a
    decoding step reads in order). Positions 0 .. length - Tq - 1 hold the earlier positions
    (from earlier calls); positions length - Tq .. length - 1 are written.
    out: (B, Tq, C) float32, written. key_mask: (B, capacity) uint8 or bool (columns from length
    on are not read), or None.
    Equals the last Tq rows of attention_forward over all length positions.
    """
    cdef int64_t B, Tq, C, NH
    B, Tq, C, NH = qkv_sizes(qkv, n_head)
    check_array("k_cache", k_cache, np.float32, (B, NH, None, C // NH), True)
    cdef int64_t capacity = cnp.PyArray_DIM(<cnp.ndarray>k_cache, 2)
    check_array("v_cache", v_cache, np.float32, (B, NH, capacity, C // NH), True)
    if not Tq <= length <= capacity:
        raise ValueError(f"length={length}: the cache must hold the step's {Tq} position(s) "
                         f"and fit in its capacity of {capacity}")
    check_array("out", out, np.float32, (B, Tq, C), True)
    check_disjoint((("out", out), ("k_cache", k_cache), ("v_cache", v_cache)),
                   (("qkv", qkv), ("key_mask", key_mask)))
    cdef const uint8_t* mask_ptr = key_mask_pointer(key_mask, B, capacity)
    cdef float* out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef float* k_ptr = <float*>cnp.PyArray_DATA(k_cache)
    cdef float* v_ptr = <float*>cnp.PyArray_DATA(v_cache)
    cdef const float* qkv_ptr = <const float*>cnp.PyArray_DATA(qkv)
    cdef int64_t Tk = length
    cdef llm_status status
    with nogil:
        status = c_attention_forward_cached(out_ptr, k_ptr, v_ptr, qkv_ptr, mask_ptr, B, Tq, Tk,
                                            capacity, C, NH)
    raise_on_error(status, "attention_forward_cached")
