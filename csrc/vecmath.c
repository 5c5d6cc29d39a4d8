#include "vecmath.h"

#include <math.h>

/* Inputs are clamped to [EXP_LO, EXP_HI]: exp(-104) rounds to 0 and exp(89) overflows to
 * +inf, so the clamp changes no finite result and maps -inf and +inf to the right limits. */
#define EXP_LO (-104.0f)
#define EXP_HI 89.0f
#define LOG2E 1.44269504088896341f
/* ln 2 split so that n * LN2_HI is exact for |n| < 2^9 (Cephes). */
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
/* exp(r) = 1 + r + r^2 * P(r) on |r| <= ln2 / 2 (Cephes expf). */
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

/* Values are summed in float within a block of this many elements, then in double: blocks keep
 * the float error tiny and the double widening off the inner loop. */
#define SUM_BLOCK 256

#ifdef VECMATH_X86

/* ---- AVX-512: 16 lanes, masked tail, scalef for the 2^n scaling ---- */

__attribute__((target("avx512f")))
static inline __m512 exp_avx512(__m512 x) {
    /* max/min return their second operand when either is NaN: NaN passes through. */
    x = _mm512_max_ps(_mm512_set1_ps(EXP_LO), x);
    x = _mm512_min_ps(_mm512_set1_ps(EXP_HI), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP_P5));
    __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);   /* y * 2^n, with correct overflow and gradual underflow */
}

__attribute__((target("avx512f")))
static double exp_sum_avx512(float* out, const float* x, int64_t n, float shift) {
    const __m512 s = _mm512_set1_ps(shift);
    __m512d total = _mm512_setzero_pd();
    for (int64_t start = 0; start < n; start += SUM_BLOCK) {
        int64_t end = start + SUM_BLOCK < n ? start + SUM_BLOCK : n;
        __m512 block = _mm512_setzero_ps();
        int64_t i = start;
        for (; i + 16 <= end; i += 16) {
            __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
            if (out) _mm512_storeu_ps(out + i, e);
            block = _mm512_add_ps(block, e);
        }
        if (i < end) {
            __mmask16 tail = vec_tail_mask_avx512(end - i);
            __m512 e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + i), s));
            if (out) _mm512_mask_storeu_ps(out + i, tail, e);
            block = _mm512_mask_add_ps(block, tail, block, e);
        }
        __m256 upper = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(block), 1));
        total = _mm512_add_pd(total, _mm512_cvtps_pd(_mm512_castps512_ps256(block)));
        total = _mm512_add_pd(total, _mm512_cvtps_pd(upper));
    }
    return _mm512_reduce_add_pd(total);
}

/* ---- AVX2 + FMA: 8 lanes, masked tail, 2^n built from exponent bits in two halves ---- */

__attribute__((target("avx2,fma")))
static inline __m256 pow2_avx2(__m256i e) {   /* 2^e for -126 <= e <= 127 */
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
}

__attribute__((target("avx2,fma")))
static inline __m256 exp_avx2(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(EXP_LO), x);
    x = _mm256_min_ps(_mm256_set1_ps(EXP_HI), x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_set1_ps(EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(EXP_P5));
    __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* n lies in [-150, 128], beyond one float exponent: scale by 2^(n/2) and 2^(n - n/2), each
     * a normal float, so the product overflows or underflows (gradually) as y * 2^n would. */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i half = _mm256_srai_epi32(ni, 1);
    return _mm256_mul_ps(_mm256_mul_ps(y, pow2_avx2(half)), pow2_avx2(_mm256_sub_epi32(ni, half)));
}

__attribute__((target("avx2,fma")))
static double exp_sum_avx2(float* out, const float* x, int64_t n, float shift) {
    const __m256 s = _mm256_set1_ps(shift);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256d total = _mm256_setzero_pd();
    for (int64_t start = 0; start < n; start += SUM_BLOCK) {
        int64_t end = start + SUM_BLOCK < n ? start + SUM_BLOCK : n;
        __m256 block = _mm256_setzero_ps();
        int64_t i = start;
        for (; i + 8 <= end; i += 8) {
            __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
            if (out) _mm256_storeu_ps(out + i, e);
            block = _mm256_add_ps(block, e);
        }
        if (i < end) {
            __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(end - i)), lane);
            __m256 e = exp_avx2(_mm256_sub_ps(_mm256_maskload_ps(x + i, tail), s));
            if (out) _mm256_maskstore_ps(out + i, tail, e);
            block = _mm256_add_ps(block, _mm256_and_ps(e, _mm256_castsi256_ps(tail)));
        }
        total = _mm256_add_pd(total, _mm256_cvtps_pd(_mm256_castps256_ps128(block)));
        total = _mm256_add_pd(total, _mm256_cvtps_pd(_mm256_extractf128_ps(block, 1)));
    }
    __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(total), _mm256_extractf128_pd(total, 1));
    return _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
}

#endif /* VECMATH_X86 */

/* ---- Portable C: libm's expf ---- */

static double exp_sum_scalar(float* out, const float* x, int64_t n, float shift) {
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i] - shift);
        if (out) out[i] = e;
        total += e;
    }
    return total;
}

double vec_sum(const float* x, int64_t n) {
    double total = 0.0;
    for (int64_t start = 0; start < n; start += SUM_BLOCK) {
        int64_t end = start + SUM_BLOCK < n ? start + SUM_BLOCK : n;
        float block = 0.0f;
        #pragma omp simd reduction(+:block)
        for (int64_t i = start; i < end; i++) block += x[i];
        total += block;
    }
    return total;
}

double vec_dot(const float* x, const float* y, int64_t n) {
    double total = 0.0;
    for (int64_t start = 0; start < n; start += SUM_BLOCK) {
        int64_t end = start + SUM_BLOCK < n ? start + SUM_BLOCK : n;
        float block = 0.0f;
        #pragma omp simd reduction(+:block)
        for (int64_t i = start; i < end; i++) block += x[i] * y[i];
        total += block;
    }
    return total;
}

double vec_exp_sum(float* out, const float* x, int64_t n, float shift) {
#ifdef VECMATH_X86
    llm_simd simd = llm_simd_level();
    if (simd == LLM_SIMD_AVX512) return exp_sum_avx512(out, x, n, shift);
    if (simd == LLM_SIMD_AVX2) return exp_sum_avx2(out, x, n, shift);
#endif
    return exp_sum_scalar(out, x, n, shift);
}
