/* Vectorised exp for the kernels that spend their time in it: softmax, cross-entropy, GELU.
 *
 * glibc's expf is accurate but scalar; without -ffast-math GCC will not call a vector libm.
 * vec_exp_sum evaluates exp with the Cephes range reduction and degree-7 polynomial in
 * AVX-512 or AVX2+FMA lanes (chosen at run time) and sums the results on the way, which is
 * exactly what a softmax row needs. Accuracy: within 2 ulp of the exact exp over the whole float
 * range; exp(-inf) = 0, exp(+inf) = +inf, exp(NaN) = NaN; results below the smallest normal
 * float (x < -87.3) are denormal or 0.
 */
#ifndef LLM_VECMATH_H
#define LLM_VECMATH_H

#include "common.h"

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

/* The same at a given SIMD level (at most what llm_simd_detect() reports): lets the tests
 * check each implementation on a CPU that has them all. */
double vec_exp_sum_simd(float* out, const float* x, int64_t n, float shift, llm_simd simd);

#endif
