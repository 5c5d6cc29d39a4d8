from libc.stdint cimport int64_t, uint16_t


# The Python wrappers reuse the C names matmul_forward/matmul_backward, so the C functions are
# declared under c_-prefixed names bound to the real symbols.
cdef extern from "matmul.h":
    ctypedef enum llm_status:
        LLM_OK
        LLM_ERR_ARGUMENT
        LLM_ERR_NOMEM
    ctypedef enum llm_dtype:
        LLM_F32
        LLM_BF16
        LLM_F16

    llm_status matmul_gemm(float* c, int64_t ldc, const float* a, int64_t lda, const float* b,
                           int64_t ldb, int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                           float alpha, float beta) nogil
    llm_status c_matmul_forward "matmul_forward" (float* out, const float* inp, const float* weight, const float* bias,
                              int64_t m, int64_t k, int64_t n, int transpose_weight) nogil
    llm_status c_matmul_forward_half "matmul_forward_half" (
        float* out, const float* inp, const uint16_t* weight, llm_dtype weight_type,
        const float* bias, int64_t m, int64_t k, int64_t n, int transpose_weight) nogil
    llm_status c_matmul_backward "matmul_backward" (float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* weight, int64_t m, int64_t k,
                               int64_t n, int transpose_weight, int accumulate_weights) nogil
    double matmul_fma_peak(int threads) nogil
    double matmul_read_bandwidth(const float* x, int64_t n, int threads) nogil
