/* Vector primitives: exp for the kernels that spend their time in it (softmax, cross-entropy,
 * GELU), sums and dots, and word2vec's row updates.
 *
 * glibc's expf is accurate but scalar; without -ffast-math GCC will not call a vector libm.
 * vec_exp_sum evaluates exp with the Cephes range reduction and degree-7 polynomial in
 * AVX-512 or AVX2+FMA lanes (chosen at run time) and sums the results on the way, which is
 * exactly what a softmax row needs; the level is the process's (llm_simd_level(), simd.h),
 * read once per call. Accuracy: within 2 ulp of the exact exp over the whole float range;
 * exp(-inf) = 0, exp(+inf) = +inf, exp(NaN) = NaN; results below the smallest normal float
 * (x < -87.3) are denormal or 0.
 *
 * Below, the primitives of word2vec's inner loop over short rows (dot, axpy, the pair update),
 * one copy per SIMD level, inlined: a caller compiles its loop once per level with the level a
 * constant (each copy then holds only its level's code, with no call per row) and picks the copy
 * with llm_simd_level() once per call.
 */
#ifndef LLM_VECMATH_H
#define LLM_VECMATH_H

#include "common.h"
#include "simd.h"

/* out[i] = exp(x[i] - shift) for i < n, returning the sum of those values, accumulated in
 * double in an order fixed by n alone (so the same for every thread count and call).
 * out may be x itself (in place), or NULL to only sum. Values are first summed in float over
 * blocks of 256, so the sum overflows to inf once it nears FLT_MAX / 256 (never for softmax,
 * whose values are at most 1). */
double vec_exp_sum(float* out,       // (n,) or NULL
                   const float* x,   // (n,)
                   int64_t n, float shift);

/* sum of x[i], and sum of x[i] * y[i]: in float lanes within blocks of 256 elements (fast, and
 * the autovectoriser needs no reassociation licence) and in double across blocks, in an order
 * fixed by n alone. */
double vec_sum(const float* x,   // (n,)
               int64_t n);
double vec_dot(const float* x,   // (n,)
               const float* y,   // (n,)
               int64_t n);

/* ---- inlined primitives over n floats, per SIMD level ---- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define VECMATH_X86 1

__attribute__((target("avx512f")))
static inline __mmask16 vec_tail_mask_avx512(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

__attribute__((target("avx512f")))
static inline float vec_dot_float_avx512(const float* a, const float* b, int64_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = vec_tail_mask_avx512(n - i);
        acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i),
                               acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

__attribute__((target("avx512f")))
static inline void vec_axpy_avx512(float* y, float g, const float* x, int64_t n) {
    __m512 gv = _mm512_set1_ps(g);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = vec_tail_mask_avx512(n - i);
        __m512 yv = _mm512_maskz_loadu_ps(m, y + i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(m, x + i), yv));
    }
}

__attribute__((target("avx512f")))
static inline void vec_pair_update_avx512(float* step, float* row, float g, const float* hidden,
                                          int64_t n) {
    __m512 gv = _mm512_set1_ps(g);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = vec_tail_mask_avx512(n - i);
        __m512 r = _mm512_maskz_loadu_ps(m, row + i);
        __m512 s = _mm512_maskz_loadu_ps(m, step + i);
        __m512 h = _mm512_maskz_loadu_ps(m, hidden + i);
        _mm512_mask_storeu_ps(step + i, m, _mm512_fmadd_ps(gv, r, s));
        _mm512_mask_storeu_ps(row + i, m, _mm512_fmadd_ps(gv, h, r));
    }
}

__attribute__((target("avx2,fma")))
static inline float vec_dot_float_avx2(const float* a, const float* b, int64_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc0 = _mm256_add_ps(acc0, acc1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    float sum = _mm_cvtss_f32(s);
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

__attribute__((target("avx2,fma")))
static inline void vec_axpy_avx2(float* y, float g, const float* x, int64_t n) {
    __m256 gv = _mm256_set1_ps(g);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(gv, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += g * x[i];
}

__attribute__((target("avx2,fma")))
static inline void vec_pair_update_avx2(float* step, float* row, float g, const float* hidden,
                                        int64_t n) {
    __m256 gv = _mm256_set1_ps(g);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 r = _mm256_loadu_ps(row + i);
        _mm256_storeu_ps(step + i, _mm256_fmadd_ps(gv, r, _mm256_loadu_ps(step + i)));
        _mm256_storeu_ps(row + i, _mm256_fmadd_ps(gv, _mm256_loadu_ps(hidden + i), r));
    }
    for (; i < n; i++) {
        float r = row[i];
        step[i] += g * r;
        row[i] = r + g * hidden[i];
    }
}

#endif /* x86 */

static inline float vec_dot_float_scalar(const float* a, const float* b, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static inline void vec_axpy_scalar(float* y, float g, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += g * x[i];
}

static inline void vec_pair_update_scalar(float* step, float* row, float g, const float* hidden,
                                          int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float r = row[i];
        step[i] += g * r;
        row[i] = r + g * hidden[i];
    }
}

/* The dispatch, one per primitive: simd should be a constant where these are inlined. */

/* sum of a[i] * b[i], accumulated in float (rows of a few hundred at most). */
static inline __attribute__((always_inline))
float vec_dot_float(llm_simd simd, const float* a, const float* b, int64_t n) {
#ifdef VECMATH_X86
    if (simd == LLM_SIMD_AVX512) return vec_dot_float_avx512(a, b, n);
    if (simd == LLM_SIMD_AVX2) return vec_dot_float_avx2(a, b, n);
#endif
    return vec_dot_float_scalar(a, b, n);
}

/* y += g * x */
static inline __attribute__((always_inline))
void vec_axpy(llm_simd simd, float* y, float g, const float* x, int64_t n) {
#ifdef VECMATH_X86
    if (simd == LLM_SIMD_AVX512) { vec_axpy_avx512(y, g, x, n); return; }
    if (simd == LLM_SIMD_AVX2) { vec_axpy_avx2(y, g, x, n); return; }
#endif
    vec_axpy_scalar(y, g, x, n);
}

/* step += g * row; row += g * hidden (one pass over row, which is read before it is changed) */
static inline __attribute__((always_inline))
void vec_pair_update(llm_simd simd, float* step, float* row, float g, const float* hidden,
                     int64_t n) {
#ifdef VECMATH_X86
    if (simd == LLM_SIMD_AVX512) { vec_pair_update_avx512(step, row, g, hidden, n); return; }
    if (simd == LLM_SIMD_AVX2) { vec_pair_update_avx2(step, row, g, hidden, n); return; }
#endif
    vec_pair_update_scalar(step, row, g, hidden, n);
}

#endif
