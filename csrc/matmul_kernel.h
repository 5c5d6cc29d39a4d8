/* The SIMD micro-kernel of matmul.c, written once and instantiated per instruction set: matmul.c
 * defines the names below, includes this file, and the file undefines them again.
 *
 *   KERNEL_NAME, KERNEL_TARGET        function name and __attribute__((target(...))) string
 *   KERNEL_MR, KERNEL_NV, KERNEL_LANES  C tile of MR rows x NV vectors of LANES floats
 *   VEC, VEC_ZERO(), VEC_LOAD(p) (aligned), VEC_BROADCAST(p), VEC_SET1(x), VEC_FMADD(a, b, c)
 *   MASK, MASK_FIRST(n) (the first n lanes; n may be <= 0 or >= LANES),
 *   VEC_MASK_LOAD(p, mask) (zero in masked-off lanes), VEC_MASK_STORE(p, mask, v)
 *
 * C tile (rows x cols) = alpha * A panel @ B panel [+ bias] [+ beta * C]: the k loop loads NV
 * vectors of a B row once and broadcasts one element of A per C row into NV FMAs, so the MR x NV
 * accumulators never leave registers. Partial tiles are written with masks; beta = 0 never reads C.
 */
__attribute__((target(KERNEL_TARGET)))
static void KERNEL_NAME(float* c, int64_t ldc, const float* a_panel, const float* b_panel,
                        const float* bias, int64_t kc, int64_t rows, int64_t cols,
                        float alpha, float beta) {
    VEC acc[KERNEL_MR][KERNEL_NV];
#pragma GCC unroll 32
    for (int i = 0; i < KERNEL_MR; i++)
#pragma GCC unroll 8
        for (int v = 0; v < KERNEL_NV; v++) acc[i][v] = VEC_ZERO();
    if (beta != 0.0f)  /* C is read at the end: fetch it while the k loop runs */
#pragma GCC unroll 32
        for (int i = 0; i < KERNEL_MR; i++) {
            if (i >= rows) break;
            _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char*)(c + i * ldc + KERNEL_LANES * KERNEL_NV - 1), _MM_HINT_T0);
        }
    const float* a = a_panel;
    const float* b = b_panel;
    for (int64_t p = 0; p < kc; p++) {
        VEC b_row[KERNEL_NV];
#pragma GCC unroll 8
        for (int v = 0; v < KERNEL_NV; v++) b_row[v] = VEC_LOAD(b + KERNEL_LANES * v);
#pragma GCC unroll 32
        for (int i = 0; i < KERNEL_MR; i++) {
            VEC a_i = VEC_BROADCAST(a + i);
#pragma GCC unroll 8
            for (int v = 0; v < KERNEL_NV; v++) acc[i][v] = VEC_FMADD(a_i, b_row[v], acc[i][v]);
        }
        a += KERNEL_MR;
        b += KERNEL_LANES * KERNEL_NV;
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
        for (int v = 0; v < KERNEL_NV; v++) {
            VEC value = VEC_FMADD(alpha_v, acc[i][v], bias_v[v]);
            if (beta != 0.0f)
                value = VEC_FMADD(beta_v, VEC_MASK_LOAD(row + KERNEL_LANES * v, mask[v]), value);
            VEC_MASK_STORE(row + KERNEL_LANES * v, mask[v], value);
        }
    }
}

#undef KERNEL_NAME
#undef KERNEL_TARGET
#undef KERNEL_MR
#undef KERNEL_NV
#undef KERNEL_LANES
#undef VEC
#undef VEC_ZERO
#undef VEC_LOAD
#undef VEC_BROADCAST
#undef VEC_SET1
#undef VEC_FMADD
#undef MASK
#undef MASK_FIRST
#undef VEC_MASK_LOAD
#undef VEC_MASK_STORE
