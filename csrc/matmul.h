/* Matrix multiplication for float32 row-major arrays: a general GEMM and the forward/backward of a
 * linear layer built on it.
 *
 * Structure (after BLIS/GotoBLAS): threads split C into blocks (by rows, columns or both, per
 * shape); each thread cuts k into KC slices, packs a KC x NC panel of op(B) into NR-wide
 * micro-panels and MC x KC blocks of op(A) into MR-tall micro-panels, and runs an MR x NR
 * register-blocked micro-kernel (AVX-512, AVX2+FMA or portable C, chosen at run time) over them.
 * Transposed operands are read strided by the packing routines; nothing is transposed in memory.
 * Products of at most 8 rows (generation, one token at a time) skip packing and stream B once.
 *
 * Packing buffers: one workspace per calling thread (thread-local, grown on demand, freed when the
 * thread exits) holds one B panel and one A block per OpenMP thread: at most about 6.5 MB with
 * AVX-512 and 2 threads. So calls allocate only when a
 * shape needs more room than any earlier call from the same thread. Concurrent calls from
 * different threads (and calls from inside another kernel's parallel region) are safe.
 */
#ifndef LLM_MATMUL_H
#define LLM_MATMUL_H

#include <stdint.h>

#include "common.h"

/* C (M,N) = alpha * op(A) @ op(B) + beta * C, row-major, lda/ldb/ldc row strides in elements;
 * op(X) = X or Xᵀ: A is (M,K), or (K,M) when trans_a; B is (K,N), or (N,K) when trans_b.
 * beta = 0 ignores C's old contents (NaN-safe); beta = 1 accumulates.
 * Returns LLM_ERR_ARGUMENT for negative sizes or strides smaller than a row, LLM_ERR_NOMEM if the
 * packing workspace cannot be allocated (C is then unchanged). */
llm_status matmul_gemm(float* c,        // (M, ldc)
                       int64_t ldc,
                       const float* a,  // (M, lda), or (K, lda) when trans_a
                       int64_t lda,
                       const float* b,  // (K, ldb), or (N, ldb) when trans_b
                       int64_t ldb,
                       int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                       float alpha, float beta);

/* out (M,N) = inp (M,K) @ W (K,N) [+ bias (N)]; with transpose_weight, W is (N,K) and
 * out = inp @ Wᵀ (the tied lm head: logits = x @ wteᵀ). bias may be NULL. */
llm_status matmul_forward(float* out,           // (M, N)
                          const float* inp,     // (M, K)
                          const float* weight,  // (K, N), or (N, K) when transpose_weight
                          const float* bias,    // (N) or NULL
                          int64_t m, int64_t k, int64_t n, int transpose_weight);

/* matmul_forward with 16-bit weights (inference): weight_type LLM_BF16 or LLM_F16 (half.h),
 * anything else LLM_ERR_ARGUMENT. The weights are widened to float32 as they are read (products
 * of at most 8 rows, generation: in registers, so a token streams 2 bytes a weight) or packed
 * (longer products: the prompt); the sums are float32. */
llm_status matmul_forward_half(float* out,              // (M, N)
                               const float* inp,        // (M, K)
                               const uint16_t* weight,  // (K, N), or (N, K) when transposed
                               llm_dtype weight_type,
                               const float* bias,       // (N) or NULL
                               int64_t m, int64_t k, int64_t n, int transpose_weight);

/* Accumulates (+=): dinp (M,K) += dout @ op(W)ᵀ; dweight += inpᵀ @ dout (or its transpose,
 * dout ᵀ @ inp, when transpose_weight); dbias (N) += column sums of dout. With
 * accumulate_weights = 0, dweight and dbias are written (=) instead, their old values never read
 * (a first micro-batch needs no zeroing pass); dinp is always added to.
 * Any of dinp/dweight/dbias may be NULL. */
llm_status matmul_backward(float* dinp,          // (M, K) or NULL
                           float* dweight,       // (K, N), or (N, K) when transpose_weight; or NULL
                           float* dbias,         // (N) or NULL
                           const float* dout,    // (M, N)
                           const float* inp,     // (M, K)
                           const float* weight,  // (K, N), or (N, K) when transpose_weight
                           int64_t m, int64_t k, int64_t n, int transpose_weight,
                           int accumulate_weights);

/* The FMA roofline the GEMM is measured against: GFLOPS of `threads` threads (OpenMP, forced to
 * that count) each running independent chains of fused multiply-adds at the SIMD level in force
 * and the micro-kernel's vector width, nothing else; the best of a few ~5 ms runs. 0 for
 * threads < 1. */
double matmul_fma_peak(int threads);

/* The memory roofline the one-row products (generation) are measured against: GB/s of `threads`
 * threads (OpenMP, forced to that count) each summing a contiguous part of x[0 .. n) in memory
 * order with the SIMD level in force, nothing else; the best of a few runs. x should be much
 * larger than the caches (the benchmarks pass 256 MB). 0 for threads < 1 or n < 1. */
double matmul_read_bandwidth(const float* x, int64_t n, int threads);

#endif
