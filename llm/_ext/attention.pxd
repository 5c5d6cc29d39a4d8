from libc.stdint cimport int64_t, uint8_t


# The C names are the Python names, so Cython sees them with a c_ prefix.
cdef extern from "attention.h":
    ctypedef enum llm_status:
        LLM_OK

    int ATTENTION_MAX_HEAD_SIZE

    llm_status c_attention_forward "attention_forward"(
        float* out, float* stats, const float* qkv, const uint8_t* key_mask,
        int64_t B, int64_t T, int64_t C, int64_t NH) nogil
    llm_status c_attention_backward "attention_backward"(
        float* dqkv, const float* dout, const float* qkv, const float* out, const float* stats,
        const uint8_t* key_mask, int64_t B, int64_t T, int64_t C, int64_t NH) nogil
    llm_status c_attention_forward_cached "attention_forward_cached"(
        float* out, float* k_cache, float* v_cache, const float* qkv, const uint8_t* key_mask,
        int64_t B, int64_t Tq, int64_t Tk, int64_t capacity, int64_t C, int64_t NH) nogil
