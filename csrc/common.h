/* Conventions shared by every kernel in csrc/.
 *
 * - Kernels take outputs first, then inputs, then sizes; sizes are int64_t
 *   (B*T*C overflows int at real sizes).
 * - Kernels never allocate on hot paths and never call Python.
 * - Functions that can fail on bad input return an llm_status; the Cython
 *   wrapper turns a non-zero status into a ValueError naming the argument.
 */
#ifndef LLM_COMMON_H
#define LLM_COMMON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LLM_OK = 0,
    LLM_ERR_ARGUMENT = -1,   /* a size or argument is invalid */
    LLM_ERR_RANGE = -2,      /* an id or index is out of range */
    LLM_ERR_NOMEM = -3,      /* allocation failed (only outside hot paths) */
    LLM_ERR_FORMAT = -4,     /* malformed input data */
} llm_status;

/* SIMD levels, highest the CPU supports; see runtime.c. */
typedef enum {
    LLM_SIMD_SCALAR = 0,
    LLM_SIMD_AVX2 = 1,      /* AVX2 + FMA */
    LLM_SIMD_AVX512 = 2,    /* AVX-512 F */
} llm_simd;

/* Run-time SIMD detection, cheap to call (cached by the CPU builtins).
 * Kernels choose their micro-kernel with it; the compile flags only set the
 * baseline, so a portable build still reaches AVX-512 where the CPU has it. */
static inline llm_simd llm_simd_detect(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return LLM_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return LLM_SIMD_AVX2;
#endif
    return LLM_SIMD_SCALAR;
}

#endif
