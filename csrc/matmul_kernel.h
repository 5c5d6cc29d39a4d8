/* The SIMD micro-kernel of matmul.c, written once and instantiated per instruction set: matmul.c
 * defines the names below, includes this file, and the file undefines them again.
 *
 *   KERNEL_NAME, KERNEL_TARGET        function name and __attribute__((target(...))) string
 *   KERNEL_MR, KERNEL_NV, KERNEL_LANES  C tile of MR rows x NV vectors of LANES floats
 *   FEW_ROWS_ACCUMULATORS             vector registers the few-row kernel may accumulate in
 *   VEC, VEC_ZERO(), VEC_LOADU(p), VEC_BROADCAST(p),
 *   VEC_SET1(x), VEC_ADD(a, b), VEC_FMADD(a, b, c), VEC_REDUCE_ADD(v) (sum of the lanes)
 *   MASK, MASK_FIRST(n) (the first n lanes; n may be <= 0 or >= LANES),
 *   VEC_MASK_LOAD(p, mask) (zero in masked-off lanes), VEC_MASK_STORE(p, mask, v)
 *
 * Micro-kernel: C tile (rows x cols) = alpha * A panel @ B panel [+ bias] [+ beta * C]: the k loop
 * loads NV vectors of a B row once and broadcasts one element of A per C row into NV FMAs, so the
 * MR x NV accumulators never leave registers. Partial tiles are written with masks; beta = 0
 * never reads C.
 *
 * Few-row kernel (KERNEL_NAME_few_rows): up to FEW_ROWS rows of C from unpacked operands, reading
 * B once (see below).
 */
#define KERNEL_PASTE_(a, b) a##b
#define KERNEL_PASTE(a, b) KERNEL_PASTE_(a, b)
#define KERNEL_STORE KERNEL_PASTE(KERNEL_NAME, _store)
#define KERNEL_FEW KERNEL_PASTE(KERNEL_NAME, _few)
#define KERNEL_FEW_ROWS KERNEL_PASTE(KERNEL_NAME, _few_rows)
#define KERNEL_BODY KERNEL_PASTE(KERNEL_NAME, _body)
#define KERNEL_A_ROWS KERNEL_PASTE(KERNEL_NAME, _a_rows)

/* C row vectors (alpha * acc + bias [+ beta * C]) under mask; beta = 0 never reads C. */
__attribute__((target(KERNEL_TARGET), always_inline))
static inline void KERNEL_STORE(float* c, VEC acc, MASK mask, VEC bias_v, VEC alpha_v,
                                       float beta, VEC beta_v) {
    VEC value = VEC_FMADD(alpha_v, acc, bias_v);
    if (beta != 0.0f) value = VEC_FMADD(beta_v, VEC_MASK_LOAD(c, mask), value);
    VEC_MASK_STORE(c, mask, value);
}
/* The micro-kernel proper: element (i, p) of the A panel at a[i * a_row + p * a_step]. */
__attribute__((target(KERNEL_TARGET), always_inline))
static inline void KERNEL_BODY(float* c, int64_t ldc, const float* a, int64_t a_row,
                               int64_t a_step, const float* b_panel, int64_t b_step,
                               const float* bias,
                               int64_t kc, int64_t rows, int64_t cols, float alpha, float beta) {
    VEC acc[KERNEL_MR][KERNEL_NV];
#pragma GCC unroll 32
    for (int i = 0; i < KERNEL_MR; i++)
#pragma GCC unroll 8
        for (int v = 0; v < KERNEL_NV; v++) acc[i][v] = VEC_ZERO();
    /* C is read (beta != 0) or written at the end: fetch its lines while the k loop runs */
#pragma GCC unroll 32
    for (int i = 0; i < KERNEL_MR; i++) {
        if (i >= rows) break;
        _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_ET0);
        _mm_prefetch((const char*)(c + i * ldc + KERNEL_LANES * KERNEL_NV - 1), _MM_HINT_ET0);
    }
    const float* b = b_panel;
    for (int64_t p = 0; p < kc; p++) {
        VEC b_row[KERNEL_NV];
#pragma GCC unroll 8
        for (int v = 0; v < KERNEL_NV; v++) b_row[v] = VEC_LOADU(b + KERNEL_LANES * v);
#pragma GCC unroll 32
        for (int i = 0; i < KERNEL_MR; i++) {
            VEC a_i = VEC_BROADCAST(a + i * a_row);
#pragma GCC unroll 8
            for (int v = 0; v < KERNEL_NV; v++) acc[i][v] = VEC_FMADD(a_i, b_row[v], acc[i][v]);
        }
        a += a_step;
        b += b_step;
    }
    MASK mask[KERNEL_NV];
    VEC bias_v[KERNEL_NV];
#pragma GCC unroll 8
    for (int v = 0; v < KERNEL_NV; v++) {
        mask[v] = MASK_FIRST(cols - KERNEL_LANES * v);
        bias_v[v] = bias ? VEC_MASK_LOAD(bias + KERNEL_LANES * v, mask[v]) : VEC_ZERO();
    }
    VEC alpha_v = VEC_SET1(alpha), beta_v = VEC_SET1(beta);
#pragma GCC unroll 32
    for (int i = 0; i < KERNEL_MR; i++) {
        if (i >= rows) break;
        float* row = c + i * ldc;
#pragma GCC unroll 8
        for (int v = 0; v < KERNEL_NV; v++)
            KERNEL_STORE(row + KERNEL_LANES * v, acc[i][v], mask[v], bias_v[v], alpha_v,
                                beta, beta_v);
    }
}

/* A packed: the panel's MR rows side by side at each k (a_row is not read). */
__attribute__((target(KERNEL_TARGET)))
static void KERNEL_NAME(float* c, int64_t ldc, const float* a_panel, int64_t a_row,
                        const float* b_panel, int64_t b_step, const float* bias, int64_t kc,
                        int64_t rows, int64_t cols, float alpha, float beta) {
    (void)a_row;
    KERNEL_BODY(c, ldc, a_panel, 1, KERNEL_MR, b_panel, b_step, bias, kc, rows, cols, alpha,
                beta);
}

/* A read in place: MR whole rows of a row-major op(A), row i at a + i * a_row. */
__attribute__((target(KERNEL_TARGET)))
static void KERNEL_A_ROWS(float* c, int64_t ldc, const float* a, int64_t a_row,
                          const float* b_panel, int64_t b_step, const float* bias, int64_t kc,
                          int64_t rows, int64_t cols, float alpha, float beta) {
    KERNEL_BODY(c, ldc, a, a_row, 1, b_panel, b_step, bias, kc, rows, cols, alpha, beta);
}

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
                              const float* b, int64_t ldb, int b_transposed, const float* bias,
                              int64_t k, int64_t j_begin, int64_t j_end, float alpha, float beta) {
    if (b_transposed) {  /* two columns at a time: two streams, the A loads shared */
        const int nu = FEW_NU(2 * m);
        for (int64_t j = j_begin; j < j_end; j += 2) {
            const int columns = j_end - j < 2 ? 1 : 2;
            const float* column = b + j * ldb;
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
                        b_v[q] = q < columns ? VEC_LOADU(column + q * ldb + p + KERNEL_LANES * u)
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
                    VEC b_v = VEC_MASK_LOAD(column + q * ldb + p, mask);
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
        const float* row = b + j;
        for (int64_t p = 0; p < k; p++, row += ldb)
#pragma GCC unroll 32
            for (int v = 0; v < nv; v++) {
                if (v >= used) break;
                VEC b_v = VEC_MASK_LOAD(row + KERNEL_LANES * v, mask[v]);
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
static void KERNEL_FEW_ROWS(float* c, int64_t ldc, const float* a_rows, const float* b, int64_t ldb,
                          int b_transposed, const float* bias, int64_t m, int64_t k,
                          int64_t j_begin, int64_t j_end, float alpha, float beta) {
    switch (m) {  /* one instance per row count */
#define FEW_ROWS_CASE(rows)                                                                   \
    case rows:                                                                                \
        KERNEL_FEW(rows, c, ldc, a_rows, b, ldb, b_transposed, bias, k, j_begin, j_end,       \
                   alpha, beta);                                                              \
        break;
        FEW_ROWS_CASE(1) FEW_ROWS_CASE(2) FEW_ROWS_CASE(3) FEW_ROWS_CASE(4)
        FEW_ROWS_CASE(5) FEW_ROWS_CASE(6) FEW_ROWS_CASE(7) FEW_ROWS_CASE(8)
#undef FEW_ROWS_CASE
    }
}

#undef KERNEL_NAME
#undef KERNEL_TARGET
#undef KERNEL_PASTE_
#undef KERNEL_PASTE
#undef KERNEL_STORE
#undef KERNEL_FEW
#undef KERNEL_FEW_ROWS
#undef KERNEL_BODY
#undef KERNEL_A_ROWS
#undef FEW_ROWS_ACCUMULATORS
#undef VEC_REDUCE_ADD
#undef KERNEL_MR
#undef KERNEL_NV
#undef KERNEL_LANES
#undef VEC
#undef VEC_ZERO
#undef VEC_LOADU
#undef VEC_BROADCAST
#undef VEC_SET1
#undef VEC_ADD
#undef VEC_FMADD
#undef MASK
#undef MASK_FIRST
#undef VEC_MASK_LOAD
#undef VEC_MASK_STORE
