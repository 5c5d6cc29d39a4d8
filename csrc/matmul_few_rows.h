/* The few-row kernel of matmul_kernel.h, written once for every element type of B: included by
 * matmul_kernel.h (inside one instruction set's definitions) once per type, with
 *
 *   FEW_TYPE       the name's suffix (_f32, _bf16, _f16)
 *   B_ELEMENT      B's element type (float, or uint16_t holding 16-bit floats)
 *   B_LOAD(p)      KERNEL_LANES elements of B at p as a VEC of floats
 *   B_LOAD_PART(p, mask, count)  the first count (< LANES) under mask, zeros after; optional:
 *                  by default the count are copied into a zeroed LANES-wide buffer, then B_LOAD
 *                  (16-bit elements have no masked load below AVX-512BW)
 *   B_WHOLE_LOADS  1: a strip of whole vectors runs a k loop of B_LOAD alone (the default
 *                  B_LOAD_PART tests the width, which costs in the k loop); 0: B_LOAD_PART
 *                  throughout (float32's masked loads cost no more than plain ones)
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
 * [+ beta * C], m <= FEW_ROWS, A's rows contiguous in a_rows (m, k). B is read once, in memory
 * order, which streams best from L3 and DRAM alike; m is a constant in each instance.
 * Rows of op(B) contiguous (element (p, j) at b[p * ldb + j]): a strip of columns at a time, down
 * all k rows of B, its m rows of C held in FEW_ROWS_ACCUMULATORS vector registers.
 * Columns contiguous (b_transposed: element (p, j) at b[j * ldb + p], as in x @ Wᵀ): one column
 * at a time, m dot products along k in FEW_NU(m) vectors each, summed across lanes at the end. */
/* At least one vector per dot product: AVX2's 12 accumulators hold 2 x 6 rows, so 7 or 8 rows
 * spill some to the stack rather than never advancing. */
#define FEW_NU(m) (FEW_ROWS_ACCUMULATORS / (m) >= 4   ? 4                                 \
                   : FEW_ROWS_ACCUMULATORS / (m) >= 1 ? FEW_ROWS_ACCUMULATORS / (m) : 1)
__attribute__((target(KERNEL_TARGET), always_inline))
static inline void KERNEL_FEW(const int m, float* c, int64_t ldc, const float* a_rows,
                              const B_ELEMENT* b, int64_t ldb, int b_transposed, const float* bias,
                              int64_t k, int64_t j_begin, int64_t j_end, float alpha, float beta) {
    if (b_transposed) {  /* two columns at a time: two streams, the A loads shared */
        const int nu = FEW_NU(2 * m);
        for (int64_t j = j_begin; j < j_end; j += 2) {
            const int columns = j_end - j < 2 ? 1 : 2;
            const B_ELEMENT* column = b + j * ldb;
            VEC acc[2][FEW_ROWS][4];
#pragma GCC unroll 2
            for (int q = 0; q < 2; q++)
#pragma GCC unroll 8
                for (int i = 0; i < m; i++)
#pragma GCC unroll 4
                    for (int u = 0; u < nu; u++) acc[q][i][u] = VEC_ZERO();
            int64_t p = 0;
            for (; p + nu * KERNEL_LANES <= k; p += nu * KERNEL_LANES)
#pragma GCC unroll 4
                for (int u = 0; u < nu; u++) {
                    VEC b_v[2];
#pragma GCC unroll 2
                    for (int q = 0; q < 2; q++)
                        b_v[q] = q < columns ? B_LOAD(column + q * ldb + p + KERNEL_LANES * u)
                                             : VEC_ZERO();
#pragma GCC unroll 8
                    for (int i = 0; i < m; i++) {
                        VEC a_v = VEC_LOADU(a_rows + i * k + p + KERNEL_LANES * u);
#pragma GCC unroll 2
                        for (int q = 0; q < 2; q++) acc[q][i][u] = VEC_FMADD(a_v, b_v[q], acc[q][i][u]);
                    }
                }
            for (; p < k; p += KERNEL_LANES) {
                MASK mask = MASK_FIRST(k - p);
#pragma GCC unroll 2
                for (int q = 0; q < 2; q++) {
                    if (q >= columns) break;
                    VEC b_v = B_LOAD_PART(column + q * ldb + p, mask, k - p);
#pragma GCC unroll 8
                    for (int i = 0; i < m; i++)
                        acc[q][i][0] = VEC_FMADD(VEC_MASK_LOAD(a_rows + i * k + p, mask), b_v,
                                                 acc[q][i][0]);
                }
            }
#pragma GCC unroll 2
            for (int q = 0; q < 2; q++)
#pragma GCC unroll 8
                for (int i = 0; i < m; i++) {
                    if (q >= columns) break;
#pragma GCC unroll 4
                    for (int u = 1; u < nu; u++) acc[q][i][0] = VEC_ADD(acc[q][i][0], acc[q][i][u]);
                    store_result(c + i * ldc + j + q, VEC_REDUCE_ADD(acc[q][i][0]), alpha,
                                 bias ? bias[j + q] : 0.0f, beta);
                }
        }
        return;
    }
    /* Strips as wide as the accumulators allow: for the usual widths (128, 384 with m = 1) a strip
     * is whole rows of B, and the strip streams B in memory order. */
    const int nv = FEW_ROWS_ACCUMULATORS / m;
    VEC acc[FEW_ROWS][FEW_ROWS_ACCUMULATORS];
    MASK mask[FEW_ROWS_ACCUMULATORS];
    VEC alpha_v = VEC_SET1(alpha), beta_v = VEC_SET1(beta);
    for (int64_t j = j_begin; j < j_end; j += nv * KERNEL_LANES) {
        const int64_t vectors = (j_end - j + KERNEL_LANES - 1) / KERNEL_LANES;
        const int used = vectors < nv ? (int)vectors : nv;  /* the last strip may be narrower */
#pragma GCC unroll 32
        for (int v = 0; v < nv; v++) {
            mask[v] = MASK_FIRST(j_end - j - KERNEL_LANES * v);
#pragma GCC unroll 8
            for (int i = 0; i < m; i++) acc[i][v] = VEC_ZERO();
        }
        const B_ELEMENT* row = b + j;
        if (B_WHOLE_LOADS && j_end - j >= (int64_t)nv * KERNEL_LANES)
            /* a whole strip: plain loads, no test of the width in the k loop */
            for (int64_t p = 0; p < k; p++, row += ldb)
#pragma GCC unroll 32
                for (int v = 0; v < nv; v++) {
                    VEC b_v = B_LOAD(row + KERNEL_LANES * v);
#pragma GCC unroll 8
                    for (int i = 0; i < m; i++)
                        acc[i][v] = VEC_FMADD(VEC_BROADCAST(a_rows + i * k + p), b_v, acc[i][v]);
                }
        else
            for (int64_t p = 0; p < k; p++, row += ldb)
#pragma GCC unroll 32
                for (int v = 0; v < nv; v++) {
                    if (v >= used) break;
                    VEC b_v = B_LOAD_PART(row + KERNEL_LANES * v, mask[v],
                                          j_end - j - KERNEL_LANES * v);
#pragma GCC unroll 8
                    for (int i = 0; i < m; i++)
                        acc[i][v] = VEC_FMADD(VEC_BROADCAST(a_rows + i * k + p), b_v, acc[i][v]);
                }
#pragma GCC unroll 32
        for (int v = 0; v < nv; v++) {
            if (v >= used) break;
            VEC bias_v = bias ? VEC_MASK_LOAD(bias + j + KERNEL_LANES * v, mask[v]) : VEC_ZERO();
#pragma GCC unroll 8
            for (int i = 0; i < m; i++)
                KERNEL_STORE(c + i * ldc + j + KERNEL_LANES * v, acc[i][v], mask[v], bias_v, alpha_v,
                             beta, beta_v);
        }
    }
}
#undef FEW_NU

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
#undef B_WHOLE_LOADS
