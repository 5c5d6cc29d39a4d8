/* The few-row kernel of matmul_kernel.h, written once for every element type of B: included by
 * matmul_kernel.h (inside one instruction set's definitions) once per type, with
 *
 *   FEW_TYPE       the name's suffix (_f32, _bf16, _f16)
 *   B_ELEMENT      B's element type (float, or uint16_t holding 16-bit floats)
 *   B_LOAD(p)      KERNEL_LANES elements of B at p as a VEC of floats
 *   B_LOAD_PART(p, mask, count)  the first count (< LANES) under mask, zeros after; optional:
 *                  by default the count are copied into a zeroed LANES-wide buffer, then B_LOAD
 *                  (16-bit elements have no masked load below AVX-512BW); for the last,
 *                  partial vector only
 *
 * and undefines them again. Accumulation is float32 whatever B's type.
 */
#define KERNEL_FEW KERNEL_PASTE(KERNEL_PASTE(KERNEL_NAME, _few), FEW_TYPE)
#define KERNEL_FEW_ROWS KERNEL_PASTE(KERNEL_PASTE(KERNEL_NAME, _few_rows), FEW_TYPE)
#ifndef B_LOAD_PART
#define KERNEL_LOAD_PART KERNEL_PASTE(KERNEL_PASTE(KERNEL_NAME, _load_part), FEW_TYPE)
/* The first count (0 < count < LANES) elements at p, zeros after, without reading past them. */
__attribute__((target(KERNEL_TARGET), always_inline))
static inline VEC KERNEL_LOAD_PART(const B_ELEMENT* p, int64_t count) {
    B_ELEMENT part[KERNEL_LANES] = {0};
    memcpy(part, p, (size_t)count * sizeof(B_ELEMENT));
    return B_LOAD(part);
}
#define B_LOAD_PART(p, mask, count) \
    ((count) >= KERNEL_LANES ? B_LOAD(p) : KERNEL_LOAD_PART(p, count))
#endif

/* Few-row kernel, C rows [0, m) x columns [j_begin, j_end) = alpha * A @ op(B) [+ bias]
 * [+ beta * C], m <= FEW_ROWS, A's rows contiguous in a_rows (m, k); m is a constant in each
 * instance. B is read once, several streams at a time: one core read ~19 GB/s from DRAM with 8
 * streams in flight but 9-12 GB/s with one or two (Zen 4; its prefetchers follow a stream within
 * a 4 KB page, so more streams keep more of the memory's parallelism busy).
 * Rows of op(B) contiguous (element (p, j) at b[p * ldb + j]): C first gets beta * C + bias (C
 * not read at beta = 0), then FEW_STREAMS rows of B at a time, each read along [j_begin, j_end)
 * in memory order, add alpha * A's FEW_STREAMS columns times them to every C row: C's vectors
 * go to and from L1, B's elements are loaded once. One row of A (a token at a time) takes B's
 * rows one at a time instead: whole rows, one after the other, are B in memory order, one
 * sequential stream — the prefetchers' best case (GPT-2's 16-bit 768 x 768 and 3072 x 768
 * matrices: 9-10 GB/s by 8 rows 1.5 KB apart, 19-21 whole) — and C's row, loaded and stored
 * once a row of B, stays in L1 (64-byte aligned by the caller: a row of NumPy's, 16-byte
 * aligned, split every access across two lines, 21 -> 14 GB/s). With 2 rows or more C's
 * traffic per element of B grows with the rows (2: even; 4: 12 -> 7 GB/s), so 8 rows of B.
 * Columns contiguous (b_transposed: element (p, j) at b[j * ldb + p], as in x @ Wᵀ):
 * FEW_COLUMNS(m) columns at a time (up to 8 streams) when they are long (k >= FEW_LONG_COLUMNS),
 * else 2, m dot products along k each, in nu vectors each, summed across lanes at the end. */
#define FEW_STREAMS 8
/* B vectors a row contributes per step of the row-streaming loop: 2 x 8 rows in AVX-512's 32
 * registers, 1 x 8 in AVX2's 16; a row streamed alone, 4. */
#define FEW_STREAM_VECTORS (FEW_ROWS_ACCUMULATORS >= 16 ? 2 : 1)
#define FEW_LINEAR_VECTORS 4
/* A dot product streamed alone takes 32 elements a step: 2 AVX-512 vectors, 4 AVX2 ones (the
 * f16 head, 1 thread: AVX-512 27.9 GB/s by 2 vectors, 24.8 by 4; AVX2 27.8 by 4, 26.0 by 2). */
#define FEW_LINEAR_DOT_VECTORS (32 / KERNEL_LANES)
/* Columns a dot-product pass reads together: as many as the accumulators hold with one vector
 * per dot product, from 2 (AVX2 with 5 to 8 rows: 7 or 8 spill some to the stack rather than
 * never advancing) to 8. */
#define FEW_COLUMNS(m) (FEW_ROWS_ACCUMULATORS / (m) >= 8   ? 8                              \
                        : FEW_ROWS_ACCUMULATORS / (m) >= 2 ? FEW_ROWS_ACCUMULATORS / (m) : 2)
#define FEW_LONG_COLUMNS 512
#define FEW_NU(n) (FEW_ROWS_ACCUMULATORS / (n) >= 4   ? 4                                 \
                   : FEW_ROWS_ACCUMULATORS / (n) >= 1 ? FEW_ROWS_ACCUMULATORS / (n) : 1)
#define KERNEL_FEW_STREAMS KERNEL_PASTE(KERNEL_PASTE(KERNEL_NAME, _few_streams), FEW_TYPE)
#define KERNEL_FEW_DOTS KERNEL_PASTE(KERNEL_PASTE(KERNEL_NAME, _few_dots), FEW_TYPE)

/* C rows [0, m) x [j_begin, j_end) += (alpha * A[:, p0 : p0 + R]) @ B rows p0 .. p0 + R - 1. */
__attribute__((target(KERNEL_TARGET), always_inline))
static inline void KERNEL_FEW_STREAMS(const int m, const int R, float* c, int64_t ldc,
                                      const float* a_rows, const B_ELEMENT* b, int64_t ldb,
                                      int64_t k, int64_t p0, int64_t j_begin, int64_t j_end,
                                      float alpha) {
    const int NV = R == 1 ? FEW_LINEAR_VECTORS : FEW_STREAM_VECTORS;
    VEC a_v[FEW_ROWS][FEW_STREAMS];  /* alpha * A[i, p0 + r], broadcast */
#pragma GCC unroll 8
    for (int i = 0; i < m; i++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) a_v[i][r] = VEC_SET1(alpha * a_rows[i * k + p0 + r]);
    const B_ELEMENT* rows = b + p0 * ldb;
    int64_t j = j_begin;
    /* whole steps: plain loads and stores (AVX2's masked store costs several times a plain one
     * on AMD), no test of the width */
    for (; j + NV * KERNEL_LANES <= j_end; j += NV * KERNEL_LANES) {
        VEC b_v[FEW_STREAMS][FEW_LINEAR_VECTORS];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) b_v[r][v] = B_LOAD(rows + r * ldb + j + KERNEL_LANES * v);
#pragma GCC unroll 8
        for (int i = 0; i < m; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                float* c_v = c + i * ldc + j + KERNEL_LANES * v;
                VEC acc = VEC_LOADU(c_v);
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) acc = VEC_FMADD(a_v[i][r], b_v[r][v], acc);
                VEC_STOREU(c_v, acc);
            }
    }
    for (; j < j_end; j += KERNEL_LANES) {  /* a vector at a time, the last one partial */
        const int64_t left = j_end - j;
        MASK mask = MASK_FIRST(left);
        VEC b_v[FEW_STREAMS];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) b_v[r] = B_LOAD_PART(rows + r * ldb + j, mask, left);
#pragma GCC unroll 8
        for (int i = 0; i < m; i++) {
            VEC acc = VEC_MASK_LOAD(c + i * ldc + j, mask);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) acc = VEC_FMADD(a_v[i][r], b_v[r], acc);
            VEC_MASK_STORE(c + i * ldc + j, mask, acc);
        }
    }
}

/* C rows [0, m) x columns [j_begin, j_end) of alpha * A @ Bᵀ [+ bias] [+ beta * C], B's columns
 * contiguous, Q of them at a time, each dot product in NU vectors. */
__attribute__((target(KERNEL_TARGET), always_inline))
static inline void KERNEL_FEW_DOTS(const int m, const int Q, const int NU, float* c,
                                   int64_t ldc, const float* a_rows, const B_ELEMENT* b,
                                   int64_t ldb, const float* bias, int64_t k, int64_t j_begin,
                                   int64_t j_end, float alpha, float beta) {
    for (int64_t j = j_begin; j < j_end; j += Q) {
        const int columns = j_end - j < Q ? (int)(j_end - j) : Q;
        const B_ELEMENT* column = b + j * ldb;
        VEC acc[8][FEW_ROWS][4];
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++)
#pragma GCC unroll 8
            for (int i = 0; i < m; i++)
#pragma GCC unroll 4
                for (int u = 0; u < NU; u++) acc[q][i][u] = VEC_ZERO();
        int64_t p = 0;
        if (columns == Q)
            for (; p + NU * KERNEL_LANES <= k; p += NU * KERNEL_LANES)
#pragma GCC unroll 4
                for (int u = 0; u < NU; u++) {
                    VEC a_v[FEW_ROWS];
#pragma GCC unroll 8
                    for (int i = 0; i < m; i++) a_v[i] = VEC_LOADU(a_rows + i * k + p + KERNEL_LANES * u);
#pragma GCC unroll 8
                    for (int q = 0; q < Q; q++) {
                        VEC b_v = B_LOAD(column + q * ldb + p + KERNEL_LANES * u);
#pragma GCC unroll 8
                        for (int i = 0; i < m; i++) acc[q][i][u] = VEC_FMADD(a_v[i], b_v, acc[q][i][u]);
                    }
                }
        for (; p < k; p += KERNEL_LANES) {  /* the rest of k; every step of the last columns */
            const int64_t left = k - p;
            MASK mask = MASK_FIRST(left);
#pragma GCC unroll 8
            for (int q = 0; q < Q; q++) {
                if (q >= columns) break;
                VEC b_v = B_LOAD_PART(column + q * ldb + p, mask, left);
#pragma GCC unroll 8
                for (int i = 0; i < m; i++)
                    acc[q][i][0] = VEC_FMADD(VEC_MASK_LOAD(a_rows + i * k + p, mask), b_v,
                                             acc[q][i][0]);
            }
        }
#pragma GCC unroll 8
        for (int q = 0; q < Q; q++)
#pragma GCC unroll 8
            for (int i = 0; i < m; i++) {
                if (q >= columns) break;
#pragma GCC unroll 4
                for (int u = 1; u < NU; u++) acc[q][i][0] = VEC_ADD(acc[q][i][0], acc[q][i][u]);
                store_result(c + i * ldc + j + q, VEC_REDUCE_ADD(acc[q][i][0]), alpha,
                             bias ? bias[j + q] : 0.0f, beta);
            }
    }
}

__attribute__((target(KERNEL_TARGET), always_inline))
static inline void KERNEL_FEW(const int m, float* c, int64_t ldc, const float* a_rows,
                              const B_ELEMENT* b, int64_t ldb, int b_transposed, const float* bias,
                              int64_t k, int64_t j_begin, int64_t j_end, float alpha, float beta) {
    /* One row of A: one column of B at a time, B in memory order (GPT-2's tied 50257 x 768
     * head, 1 thread: 11 -> 25-28 GB/s in 16 bits, 18 -> 27-30 in float32, both ISAs). More
     * rows: short columns (K = 128: 21 GB/s 2 at a time, 11 by 8) 2 at a time, the accumulators
     * full (K = 128 then runs whole steps: no masked loads, slow on AVX2); long ones 8 at a time
     * in half the accumulators (the rest for the loads and 16-bit widening: the f16 head read 18
     * GB/s on 2 threads with all of them, 23 with half). */
    if (b_transposed) {
        if (m == 1)
            KERNEL_FEW_DOTS(1, 1, FEW_LINEAR_DOT_VECTORS, c, ldc, a_rows, b, ldb, bias, k, j_begin,
                            j_end, alpha, beta);
        else if (k < FEW_LONG_COLUMNS)
            KERNEL_FEW_DOTS(m, 2, FEW_NU(2 * m), c, ldc, a_rows, b, ldb, bias, k, j_begin, j_end,
                            alpha, beta);
        else
            KERNEL_FEW_DOTS(m, FEW_COLUMNS(m), FEW_NU(2 * FEW_COLUMNS(m) * m), c, ldc, a_rows, b,
                            ldb, bias, k, j_begin, j_end, alpha, beta);
        return;
    }
    VEC beta_v = VEC_SET1(beta);
#pragma GCC unroll 8
    for (int i = 0; i < m; i++)  /* C = bias + beta * C, then the products are added */
        for (int64_t j = j_begin; j < j_end; j += KERNEL_LANES) {
            MASK mask = MASK_FIRST(j_end - j);
            VEC value = bias ? VEC_MASK_LOAD(bias + j, mask) : VEC_ZERO();
            if (beta != 0.0f) value = VEC_FMADD(beta_v, VEC_MASK_LOAD(c + i * ldc + j, mask), value);
            VEC_MASK_STORE(c + i * ldc + j, mask, value);
        }
    int64_t p = 0;
    if (m > 1)
        for (; p + FEW_STREAMS <= k; p += FEW_STREAMS)
            KERNEL_FEW_STREAMS(m, FEW_STREAMS, c, ldc, a_rows, b, ldb, k, p, j_begin, j_end,
                               alpha);
    for (; p < k; p++)
        KERNEL_FEW_STREAMS(m, 1, c, ldc, a_rows, b, ldb, k, p, j_begin, j_end, alpha);
}
#undef FEW_NU
#undef FEW_COLUMNS
#undef FEW_LONG_COLUMNS
#undef FEW_STREAMS
#undef FEW_STREAM_VECTORS
#undef FEW_LINEAR_VECTORS
#undef FEW_LINEAR_DOT_VECTORS
#undef KERNEL_FEW_STREAMS
#undef KERNEL_FEW_DOTS

__attribute__((target(KERNEL_TARGET)))
static void KERNEL_FEW_ROWS(float* c, int64_t ldc, const float* a_rows, const void* b,
                            int64_t ldb, int b_transposed, const float* bias, int64_t m,
                            int64_t k, int64_t j_begin, int64_t j_end, float alpha, float beta) {
    const B_ELEMENT* b_elements = (const B_ELEMENT*)b;
    switch (m) {  /* one instance per row count */
#define FEW_ROWS_CASE(rows)                                                                   \
    case rows:                                                                                \
        KERNEL_FEW(rows, c, ldc, a_rows, b_elements, ldb, b_transposed, bias, k, j_begin,    \
                   j_end, alpha, beta);                                                       \
        break;
        FEW_ROWS_CASE(1) FEW_ROWS_CASE(2) FEW_ROWS_CASE(3) FEW_ROWS_CASE(4)
        FEW_ROWS_CASE(5) FEW_ROWS_CASE(6) FEW_ROWS_CASE(7) FEW_ROWS_CASE(8)
#undef FEW_ROWS_CASE
    }
}

#undef KERNEL_FEW
#undef KERNEL_FEW_ROWS
#undef KERNEL_LOAD_PART
#undef FEW_TYPE
#undef B_ELEMENT
#undef B_LOAD
#undef B_LOAD_PART
