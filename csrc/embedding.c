#include "embedding.h"
#include "half.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many floats one thread is faster than waking the others. */
#define PARALLEL_MIN 32768
/* Channel ranges owned by threads in backward start on 64-byte (16-float) boundaries. */
#define CHANNEL_ALIGN 16

/* The first position whose id is outside [0, V), or -1. */
static int64_t first_bad_id(const int32_t* ids, int64_t N, int64_t V) {
    for (int64_t i = 0; i < N; i++) {
        if (ids[i] < 0 || ids[i] >= V) return i;
    }
    return -1;
}

/* out[i] = table[ids[i]] for first <= i < end. */
static void copy_rows(float* out, const int32_t* ids, const float* table, int64_t first,
                      int64_t end, int64_t C) {
    for (int64_t i = first; i < end; i++) {
        memcpy(out + i * C, table + (int64_t)ids[i] * C, (size_t)C * sizeof(float));
    }
}

llm_status embedding_forward(float* out, int64_t* bad_position, const int32_t* ids,
                             const float* table, int64_t N, int64_t V, int64_t C) {
    *bad_position = first_bad_id(ids, N, V);
    if (*bad_position >= 0) return LLM_ERR_RANGE;
    /* A small call (a decoding step) stays out of OpenMP: entering a parallel region costs
     * ~0.3 us even when its if clause keeps it on one thread. */
    if (N * C < PARALLEL_MIN) {
        copy_rows(out, ids, table, 0, N, C);
        return LLM_OK;
    }
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) copy_rows(out, ids, table, i, i + 1, C);
    return LLM_OK;
}

/* out[i] = table[ids[i]] widened, for first <= i < end (type a constant in each caller). */
static inline void widen_rows(float* out, const int32_t* ids, const uint16_t* table,
                              llm_dtype type, int64_t first, int64_t end, int64_t C) {
    for (int64_t i = first; i < end; i++) {
        const uint16_t* row = table + (int64_t)ids[i] * C;
        float* dst = out + i * C;
        if (type == LLM_BF16)
            for (int64_t c = 0; c < C; c++) dst[c] = half_bf16_to_float(row[c]);
        else
            for (int64_t c = 0; c < C; c++) dst[c] = half_f16_to_float(row[c]);
    }
}

llm_status embedding_forward_half(float* out, int64_t* bad_position, const int32_t* ids,
                                  const uint16_t* table, llm_dtype table_type, int64_t N,
                                  int64_t V, int64_t C) {
    if (table_type != LLM_BF16 && table_type != LLM_F16) return LLM_ERR_ARGUMENT;
    *bad_position = first_bad_id(ids, N, V);
    if (*bad_position >= 0) return LLM_ERR_RANGE;
    if (N * C < PARALLEL_MIN) {     /* a decoding step: as embedding_forward */
        widen_rows(out, ids, table, table_type, 0, N, C);
        return LLM_OK;
    }
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) widen_rows(out, ids, table, table_type, i, i + 1, C);
    return LLM_OK;
}

llm_status embedding_backward(float* dtable, int64_t* bad_position, const float* dout,
                              const int32_t* ids, int64_t N, int64_t V, int64_t C) {
    *bad_position = first_bad_id(ids, N, V);
    if (*bad_position >= 0) return LLM_ERR_RANGE;
    #pragma omp parallel if (N * C >= PARALLEL_MIN)
    {
        int64_t thread = 0, n_threads = 1;
#ifdef _OPENMP
        thread = omp_get_thread_num();
        n_threads = omp_get_num_threads();
#endif
        int64_t per_thread = (C + n_threads - 1) / n_threads;
        per_thread = (per_thread + CHANNEL_ALIGN - 1) / CHANNEL_ALIGN * CHANNEL_ALIGN;
        int64_t c0 = thread * per_thread < C ? thread * per_thread : C;
        int64_t c1 = c0 + per_thread < C ? c0 + per_thread : C;
        for (int64_t i = 0; i < N; i++) {
            float* dst = dtable + (int64_t)ids[i] * C;
            const float* src = dout + i * C;
            #pragma omp simd
            for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
    return LLM_OK;
}
