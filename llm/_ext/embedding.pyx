"""Embedding lookup and its scatter-add backward (wraps csrc/embedding.c).

ids: int32 of any shape (N ids in all); table: (V, C) float32 (or, for the forward, 16-bit bits
in uint16); the per-id rows out / dout are ids.shape + (C,) or (N, C), float32. An id outside
[0, V) is a ValueError naming its position and value, raised before anything is written.
"""
cimport numpy as cnp
import numpy as np

from libc.stdint cimport uint16_t

from llm._ext.checks cimport check_array, check_disjoint, check_weight_kind

cnp.import_array()


cdef check_rows(str name, object array, cnp.ndarray ids, int64_t C, bint writeable=False):
    """array: ids.shape + (C,) or (N, C) float32, a row per id."""
    cdef cnp.ndarray a = check_array(name, array, np.float32, None, writeable)
    cdef int axis, ndim = cnp.PyArray_NDIM(a), id_ndim = cnp.PyArray_NDIM(ids)
    cdef bint per_id = ndim == id_ndim + 1 and cnp.PyArray_DIM(a, ndim - 1) == C
    for axis in range(id_ndim if per_id else 0):
        per_id = per_id and cnp.PyArray_DIM(a, axis) == cnp.PyArray_DIM(ids, axis)
    if not (per_id or (ndim == 2 and cnp.PyArray_DIM(a, 0) == cnp.PyArray_SIZE(ids)
                       and cnp.PyArray_DIM(a, 1) == C)):
        raise ValueError(f"{name} has shape {array.shape}; expected "
                         f"{(<object>ids).shape + (C,)} (one row of C={C} per id) or "
                         f"({cnp.PyArray_SIZE(ids)}, {C})")


def _raise_bad_id(ids, int64_t position, int64_t V):
    where = ", ".join(str(int(i)) for i in np.unravel_index(position, ids.shape))
    raise ValueError(f"ids[{where}] = {ids.reshape(-1)[position]} is out of range [0, {V}) "
                     f"for a table of {V} rows")


def embedding_forward(out, ids, table, str kind="f32"):
    """out[i] = table[ids[i]] for every id (rows copied); table (V, C) of kind "f32" (float32)
    or "bf16" / "f16" (uint16 holding those bits: the rows are widened to float32)."""
    cdef int table_type = check_weight_kind("kind", kind)
    check_array("table", table, np.uint16 if table_type else np.float32, (None, None))
    check_array("ids", ids, np.int32)
    cdef int64_t V = table.shape[0], C = table.shape[1], N = ids.size
    check_rows("out", out, ids, C, writeable=True)
    check_disjoint((("out", out),), (("ids", ids), ("table", table)))
    cdef float* out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef const int32_t* ids_ptr = <const int32_t*>cnp.PyArray_DATA(ids)
    cdef const void* table_ptr = cnp.PyArray_DATA(table)
    cdef int64_t bad_position = -1
    cdef llm_status status
    with nogil:
        if table_type == 0:
            status = c_embedding_forward(out_ptr, &bad_position, ids_ptr,
                                         <const float*>table_ptr, N, V, C)
        else:
            status = c_embedding_forward_half(out_ptr, &bad_position, ids_ptr,
                                              <const uint16_t*>table_ptr,
                                              <llm_dtype>table_type, N, V, C)
    if status == LLM_ERR_RANGE:
        _raise_bad_id(ids, bad_position, V)


def embedding_backward(dtable, dout, ids):
    """dtable[ids[i]] += dout[i] for every id in order (a repeated id accumulates); the result
    is the same bit for bit with any number of threads."""
    check_array("dtable", dtable, np.float32, (None, None), writeable=True)
    check_array("ids", ids, np.int32)
    cdef int64_t V = dtable.shape[0], C = dtable.shape[1], N = ids.size
    check_rows("dout", dout, ids, C)
    check_disjoint((("dtable", dtable),), (("dout", dout), ("ids", ids)))
    cdef float* dtable_ptr = <float*>cnp.PyArray_DATA(dtable)
    cdef const float* dout_ptr = <const float*>cnp.PyArray_DATA(dout)
    cdef const int32_t* ids_ptr = <const int32_t*>cnp.PyArray_DATA(ids)
    cdef int64_t bad_position = -1
    cdef llm_status status
    with nogil:
        status = c_embedding_backward(dtable_ptr, &bad_position, dout_ptr, ids_ptr, N, V, C)
    if status == LLM_ERR_RANGE:
        _raise_bad_id(ids, bad_position, V)
