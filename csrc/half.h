/* 16-bit floating-point weights: bfloat16 (float32's top half: 8 exponent bits, 7 mantissa) and
 * IEEE binary16 ("f16": 5 exponent bits, 10 mantissa, largest finite 65504), held as uint16_t.
 *
 * Weights are stored in 16 bits to halve the bytes a token streams from memory; kernels widen
 * them to float32 in registers and accumulate in float32. The scalar conversions below are what
 * the portable paths use and what the vector paths must agree with bit for bit:
 *   - float -> 16 bits rounds to nearest, ties to even; a NaN stays a NaN (quieted, sign kept);
 *     f16: magnitudes from 65520 up (halfway past 65504, rounding to even) become infinity,
 *     below 2^-14 they become f16 subnormals (rounded to even), below 2^-25 (and at it) zero.
 *   - 16 bits -> float is exact (every bf16 and f16 value is a float32).
 */
#ifndef LLM_HALF_H
#define LLM_HALF_H

#include <stdint.h>
#include <string.h>

#include "common.h"

static inline float half_bits_to_float(uint32_t bits) {
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static inline uint32_t half_float_to_bits(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static inline float half_bf16_to_float(uint16_t h) { return half_bits_to_float((uint32_t)h << 16); }

static inline uint16_t half_bf16_from_float(float x) {
    uint32_t bits = half_float_to_bits(x);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((bits >> 16) | 0x0040u);  /* NaN */
    /* round to nearest even on the 16 bits dropped (cannot overflow: NaNs are out) */
    return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

static inline float half_f16_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
    if (exponent == 0x1F)   /* infinity, NaN (payload kept) */
        return half_bits_to_float(sign | 0x7F800000u | (mantissa << 13));
    if (exponent == 0) {    /* zero, subnormal: mantissa * 2^-24, exact */
        float value = (float)mantissa * 0x1p-24f;
        return sign ? -value : value;
    }
    return half_bits_to_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

static inline uint16_t half_f16_from_float(float x) {
    uint32_t bits = half_float_to_bits(x);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t magnitude = bits & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u)                       /* NaN: quiet, the payload's top bits */
        return (uint16_t)(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
    if (magnitude >= 0x477FF000u) return sign | 0x7C00u;   /* >= 65520 (and inf): infinity */
    if (magnitude >= 0x38800000u) {                    /* normal: >= 2^-14 */
        uint32_t rounded = magnitude + 0xFFFu + ((magnitude >> 13) & 1u);
        return (uint16_t)(sign | ((rounded - 0x38000000u) >> 13));
    }
    /* subnormal or zero: adding 0.5 (ulp 2^-24 there) rounds to a multiple of 2^-24, to even;
     * the mantissa bits then count those units (1024 = the smallest normal, also right) */
    float sum = half_bits_to_float(magnitude) + 0.5f;
    return (uint16_t)(sign | (half_float_to_bits(sum) - 0x3F000000u));
}

/* out[i] = in[i] rounded to kind (LLM_BF16 or LLM_F16); LLM_ERR_ARGUMENT for another kind. */
llm_status half_from_float(uint16_t* out,      // (n)
                           const float* in,    // (n)
                           int64_t n, llm_dtype kind);

/* out[i] = the float32 value of in[i], of kind LLM_BF16 or LLM_F16. */
llm_status half_to_float(float* out,            // (n)
                         const uint16_t* in,    // (n)
                         int64_t n, llm_dtype kind);

#endif
