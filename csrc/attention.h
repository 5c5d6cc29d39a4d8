/* Causal multi-head self-attention, fused: forward, backward, and a forward over a KV cache.
 *
 * Layout (GPT-2): qkv (B, T, 3C) is the output of the c_attn projection, with q = qkv[..., :C],
 * k = qkv[..., C:2C], v = qkv[..., 2C:]; head h uses channels h*hs .. (h+1)*hs - 1, hs = C / NH.
 * Scores are scaled by 1/sqrt(hs); out (B, T, C) holds the heads side by side in the same way.
 *
 * Visibility: query i (at sequence position p) sees key j iff j <= p and key_mask[b, j] != 0
 * (key_mask 1 = a real token, 0 = padding; NULL = every key is real). A query that sees no key
 * (a fully padded row of a left-padded batch) outputs zeros and gets zero gradients, never NaN.
 *
 * Method (flash-attention 2 on the CPU): queries in tiles of 32 rows, keys in tiles of 32, an
 * online softmax, tiles wholly above the diagonal or wholly padding skipped. Nothing of size
 * T x T is ever stored: forward keeps one log-sum-exp per query row (stats), and backward
 * recomputes the probabilities from it. Scratch is a few tiles on each thread's stack (at most
 * ~230 KiB, with hs = 256). Work is split with OpenMP over (batch, head,
 * query tile) in forward and (batch, head) in backward, so every thread owns the gradient slices
 * it writes: results do not depend on the thread count. The tile arithmetic (GCC vectors of 8
 * floats, 4 in a build for a baseline without AVX) is compiled for AVX-512VL, AVX2+FMA and the
 * baseline, chosen at run time by llm_simd_level() (simd.h).
 *
 * Limits: 1 <= hs <= ATTENTION_MAX_HEAD_SIZE; C % NH == 0. Functions return LLM_ERR_ARGUMENT
 * (and write nothing) otherwise.
 */
#ifndef LLM_ATTENTION_H
#define LLM_ATTENTION_H

#include <stdint.h>

#include "common.h"

#define ATTENTION_MAX_HEAD_SIZE 256

/* out = softmax(q kᵀ / sqrt(hs) + mask) v, per batch row and head.
 * stats[b, h, i] = log Σ_j exp(s_ij) over the keys query i sees (s = scaled scores), the only
 * thing backward needs besides the inputs; +INFINITY for a query that sees no key (then
 * exp(s - stats) = 0 and its gradient vanishes). */
llm_status attention_forward(float* out,                // (B, T, C)
                             float* stats,              // (B, NH, T)
                             const float* qkv,          // (B, T, 3C)
                             const uint8_t* key_mask,   // (B, T) 1 = token, 0 = padding; or NULL
                             int64_t B, int64_t T, int64_t C, int64_t NH);

/* Writes the gradient of the loss with respect to qkv into dqkv (every element: no zeroing
 * needed), given dout, the gradient with respect to out. qkv, out, stats and key_mask are those
 * of the forward call. */
llm_status attention_backward(float* dqkv,              // (B, T, 3C) written
                              const float* dout,        // (B, T, C)
                              const float* qkv,         // (B, T, 3C)
                              const float* out,         // (B, T, C)
                              const float* stats,       // (B, NH, T)
                              const uint8_t* key_mask,  // (B, T) or NULL
                              int64_t B, int64_t T, int64_t C, int64_t NH);

/* Generation over a KV cache: appends the keys and values of positions Tk - Tq .. Tk - 1 (the k
 * and v parts of qkv, their c_attn output) to the caches, then writes the attention of their
 * queries over positions 0 .. Tk - 1 into out; the caches hold the earlier positions' keys and
 * values from earlier calls. No stats are produced. The result equals the last Tq rows of
 * attention_forward over all Tk positions. Tk <= capacity.
 * Cache layout, head by head: k_cache[b, h, t, :] is the hs channels of head h of the key at
 * position t, so that each head's keys (and values) are one block that a decoding step streams
 * through in order. */
llm_status attention_forward_cached(float* out,               // (B, Tq, C)
                                    float* k_cache,           // (B, NH, capacity, hs) appended
                                    float* v_cache,           // (B, NH, capacity, hs) appended
                                    const float* qkv,         // (B, Tq, 3C)
                                    const uint8_t* key_mask,  // (B, capacity) or NULL
                                    int64_t B, int64_t Tq, int64_t Tk, int64_t capacity,
                                    int64_t C, int64_t NH);

#endif
