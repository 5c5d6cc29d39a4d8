from libc.stdint cimport int32_t, int64_t, uint16_t


cdef extern from "common.h":
    ctypedef enum llm_status:
        LLM_OK
        LLM_ERR_ARGUMENT
        LLM_ERR_RANGE
    ctypedef enum llm_dtype:
        LLM_F32
        LLM_BF16
        LLM_F16


# The C names are the Python names, so Cython sees them with a c_ prefix.
cdef extern from "embedding.h":
    llm_status c_embedding_forward "embedding_forward"(
        float* out, int64_t* bad_position, const int32_t* ids, const float* table,
        int64_t N, int64_t V, int64_t C) nogil
    llm_status c_embedding_forward_half "embedding_forward_half"(
        float* out, int64_t* bad_position, const int32_t* ids, const uint16_t* table,
        llm_dtype table_type, int64_t N, int64_t V, int64_t C) nogil
    llm_status c_embedding_backward "embedding_backward"(
        float* dtable, int64_t* bad_position, const float* dout, const int32_t* ids,
        int64_t N, int64_t V, int64_t C) nogil
