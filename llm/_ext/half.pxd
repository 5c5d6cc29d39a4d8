from libc.stdint cimport int64_t, uint16_t


cdef extern from "common.h":
    ctypedef enum llm_status:
        LLM_OK
        LLM_ERR_ARGUMENT
    ctypedef enum llm_dtype:
        LLM_F32
        LLM_BF16
        LLM_F16


cdef extern from "half.h":
    llm_status half_from_float(uint16_t* out, const float* inp, int64_t n, llm_dtype kind) nogil
    llm_status half_to_float(float* out, const uint16_t* inp, int64_t n, llm_dtype kind) nogil
