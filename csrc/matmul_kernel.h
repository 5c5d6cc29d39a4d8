/* The SIMD micro-kernel of matmul.c, written once and instantiated per instruction set: matmul.c
 * defines the names below, includes this file, and the file undefines them again.
 *
 *   KERNEL_NAME, KERNEL_TARGET        function name and __attribute__((target(...))) string
 *   KERNEL_MR, KERNEL_NV, KERNEL_LANES  C tile of MR rows x NV vectors of LANES floats
 *   FEW_ROWS_ACCUMULATORS             vector registers the few-row kernel may accumulate in
 *   VEC, VEC_ZERO(), VEC_LOADU(p), VEC_STOREU(p, v), VEC_BROADCAST(p),
 *   VEC_SET1(x), VEC_ADD(a, b), VEC_FMADD(a, b, c), VEC_REDUCE_ADD(v) (sum of the lanes)
 *   MASK, MASK_FIRST(n) (the first n lanes; n may be <= 0 or >= LANES),
 *   VEC_MASK_LOAD(p, mask) (zero in masked-off lanes), VEC_MASK_STORE(p, mask, v)
 *   VEC_LOAD_BF16(p), VEC_LOAD_F16(p)  LANES 16-bit weights (const uint16_t*) widened to floats
 *
 * Micro-kernel: C tile (rows x cols) = alpha * A panel @ B panel [+ bias] [+ beta * C]: the k loop
 * loads NV vectors of a B row once and broadcasts one element of A per C row into NV FMAs, so the
 * MR x NV accumulators never leave registers. Partial tiles are written with masks; beta = 0
 * never reads C.
 *
 * Few-row kernels (KERNEL_NAME_few_rows_f32, _bf16, _f16: matmul_few_rows.h): up to FEW_ROWS
 * rows of C from unpacked operands, reading B once, its elements float32 or 16 bits.
 */
#define KERNEL_PASTE_(a, b) a##b
#define KERNEL_PASTE(a, b) KERNEL_PASTE_(a, b)
#define KERNEL_STORE KERNEL_PASTE(KERNEL_NAME, _store)
#define KERNEL_BODY KERNEL_PASTE(KERNEL_NAME, _body)
#define KERNEL_A_ROWS KERNEL_PASTE(KERNEL_NAME, _a_rows)
#define KERNEL_FMA_PEAK KERNEL_PASTE(KERNEL_NAME, _fma_peak)
#define KERNEL_READ_PEAK KERNEL_PASTE(KERNEL_NAME, _read_peak)

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

/* The roofline the micro-kernel is measured against: FEW_ROWS_ACCUMULATORS independent chains of
 * VEC_FMADD (enough to cover the FMA latency on every port), nothing else, for `steps` steps.
 * Returns the flops done; *sink receives a value of the chains so that none is optimised away. */
__attribute__((target(KERNEL_TARGET)))
static double KERNEL_FMA_PEAK(int64_t steps, float* sink) {
    VEC acc[FEW_ROWS_ACCUMULATORS];
    VEC x = VEC_SET1(*sink), y = VEC_SET1(1.0f - *sink);
#pragma GCC unroll 32
    for (int r = 0; r < FEW_ROWS_ACCUMULATORS; r++) acc[r] = VEC_SET1((float)r);
    for (int64_t s = 0; s < steps; s++)
#pragma GCC unroll 32
        for (int r = 0; r < FEW_ROWS_ACCUMULATORS; r++) acc[r] = VEC_FMADD(x, y, acc[r]);
    VEC total = acc[0];
    for (int r = 1; r < FEW_ROWS_ACCUMULATORS; r++) total = VEC_ADD(total, acc[r]);
    *sink = VEC_REDUCE_ADD(total);
    return 2.0 * KERNEL_LANES * FEW_ROWS_ACCUMULATORS * (double)steps;
}

/* The other roofline, memory's: the sum of x[0 .. n) read once in memory order, 4 vectors a step
 * into 4 chains (a load's worth of work per element, as the few-row kernels do at best). */
__attribute__((target(KERNEL_TARGET)))
static float KERNEL_READ_PEAK(const float* x, int64_t n) {
    VEC acc[4] = {VEC_ZERO(), VEC_ZERO(), VEC_ZERO(), VEC_ZERO()};
    int64_t i = 0;
    for (; i + 4 * KERNEL_LANES <= n; i += 4 * KERNEL_LANES)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) acc[v] = VEC_ADD(acc[v], VEC_LOADU(x + i + KERNEL_LANES * v));
    float sum = VEC_REDUCE_ADD(VEC_ADD(VEC_ADD(acc[0], acc[1]), VEC_ADD(acc[2], acc[3])));
    for (; i < n; i++) sum += x[i];
    return sum;
}

/* The few-row kernels, one per element type of B (matmul_few_rows.h): KERNEL_NAME_few_rows_f32,
 * _bf16 and _f16. The 16-bit ones widen B to float32 in registers (VEC_LOAD_BF16, VEC_LOAD_F16
 * of HALF_LANES uint16_t, defined with the others) and accumulate in float32. */
#define FEW_TYPE _f32
#define B_ELEMENT float
#define B_LOAD(p) VEC_LOADU(p)
#define B_LOAD_PART(p, mask, count) VEC_MASK_LOAD(p, mask)
#include "matmul_few_rows.h"
#define FEW_TYPE _bf16
#define B_ELEMENT uint16_t
#define B_LOAD(p) VEC_LOAD_BF16(p)
#include "matmul_few_rows.h"
#define FEW_TYPE _f16
#define B_ELEMENT uint16_t
#define B_LOAD(p) VEC_LOAD_F16(p)
#include "matmul_few_rows.h"

#undef KERNEL_NAME
#undef KERNEL_TARGET
#undef KERNEL_PASTE_
#undef KERNEL_PASTE
#undef KERNEL_STORE
#undef KERNEL_BODY
#undef KERNEL_A_ROWS
#undef KERNEL_FMA_PEAK
#undef KERNEL_READ_PEAK
#undef FEW_ROWS_ACCUMULATORS
#undef VEC_REDUCE_ADD
#undef KERNEL_MR
#undef KERNEL_NV
#undef KERNEL_LANES
#undef VEC
#undef VEC_ZERO
#undef VEC_LOADU
#undef VEC_STOREU
#undef VEC_BROADCAST
#undef VEC_SET1
#undef VEC_ADD
#undef VEC_FMADD
#undef MASK
#undef MASK_FIRST
#undef VEC_MASK_LOAD
#undef VEC_MASK_STORE
#undef VEC_LOAD_BF16
#undef VEC_LOAD_F16
