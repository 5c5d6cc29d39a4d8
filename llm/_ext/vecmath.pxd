from libc.stdint cimport int64_t


cdef extern from "vecmath.h":
    ctypedef enum llm_simd:
        LLM_SIMD_SCALAR
        LLM_SIMD_AVX2
        LLM_SIMD_AVX512
    llm_simd llm_simd_detect()
    double vec_exp_sum(float* out, const float* x, int64_t n, float shift) nogil
    double vec_exp_sum_simd(float* out, const float* x, int64_t n, float shift,
                            llm_simd simd) nogil
