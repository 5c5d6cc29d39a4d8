/* Whole arrays to and from 16 bits (see half.h): converting a model's weights once, at load. */
#include "half.h"

/* Below this many elements one thread converts (a parallel region costs more). */
#define HALF_PARALLEL_MIN (1 << 18)

llm_status half_from_float(uint16_t* out, const float* in, int64_t n, llm_dtype kind) {
    if (n < 0 || (kind != LLM_BF16 && kind != LLM_F16)) return LLM_ERR_ARGUMENT;
    if (kind == LLM_BF16) {
        #pragma omp parallel for schedule(static) if (n >= HALF_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = half_bf16_from_float(in[i]);
    } else {
        #pragma omp parallel for schedule(static) if (n >= HALF_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = half_f16_from_float(in[i]);
    }
    return LLM_OK;
}

llm_status half_to_float(float* out, const uint16_t* in, int64_t n, llm_dtype kind) {
    if (n < 0 || (kind != LLM_BF16 && kind != LLM_F16)) return LLM_ERR_ARGUMENT;
    if (kind == LLM_BF16) {
        #pragma omp parallel for schedule(static) if (n >= HALF_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = half_bf16_to_float(in[i]);
    } else {
        #pragma omp parallel for schedule(static) if (n >= HALF_PARALLEL_MIN)
        for (int64_t i = 0; i < n; i++) out[i] = half_f16_to_float(in[i]);
    }
    return LLM_OK;
}
