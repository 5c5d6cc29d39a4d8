/* Matrix multiplication, BLIS/GotoBLAS style; see matmul.h for the structure and API.
 *
 * Threads form a grid over (rows, columns) of C chosen per shape (row_groups), and each computes
 * its block of C alone, over all of k, from panels it packs itself: they share no packed data
 * and never wait for each other. (A B panel packed by one core and read by another crossed
 * between the cores once per slice; on this VM's cores that made 2 threads 10-25% slower than
 * packing twice.) Loop nest of one thread's block:
 *   jc: NC columns of C
 *     pc: KC slice of k       pack the KC x NC panel of op(B) (or read its rows in place)
 *       ic: MC rows of C      pack an MC x KC block of op(A) (or read a row-major op(A) in place)
 *         jr: NR columns      micro-panel of B
 *           ir: MR rows       micro-kernel: C tile (MR x NR) = alpha * A panel @ B panel + ...
 * Products of at most FEW_ROWS rows (generation, a token at a time) skip all this:
 * gemm_few_rows streams B once, unpacked.
 */
#include "matmul.h"
#include "half.h"
#include "simd.h"
#include "threads.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MATMUL_X86 1
#endif

/* Below this many flops (2*m*n*k) one thread does the whole product: a parallel region costs
 * more than it saves. */
#define SERIAL_FLOPS (1 << 20)
/* column_sums splits its columns over threads from this many elements (a pass over memory, not
 * flops: a training step's (768, 128..512) bias gradients went serially under SERIAL_FLOPS). */
#define COLUMN_SUMS_PARALLEL (1 << 15)

/* Rows of A this many floats apart (4 KB: one way of Zen 4's L1) fall in the same cache sets, so
 * the micro-kernel's MR rows read in place would evict each other (1024^3 dout @ Wᵀ: 213 -> 195
 * GFLOPS); such an A is packed. Other strides spread the rows over the sets. */
#define ALIASING_STRIDE 1024

/* Where op(B)'s rows are contiguous (x @ W, and dW's dout), a thread reads its B block (kc x nc)
 * in place, unpacked, when one panel of it (kc x NR) is over B_IN_PLACE_MIN_FLOATS (32 KB, Zen
 * 4's L1: packed, it would be read from L2 all the same) and the block at most
 * B_IN_PLACE_MAX_FLOATS (512 KB, half of L2, where its strided rows stay while the A panels go
 * by). Packing would then only add a pass over the data: the small training config's dW (dout
 * 768 x 128..512, kc 384) gained 3-4%. Smaller panels stay packed (contiguous in L1, they beat
 * rows a power-of-two stride apart: x @ W at K = 128), and so do bigger blocks (the large
 * config's dW, dout 16384 x 1152: ~200 -> ~165 GFLOPS in place). */
#define B_IN_PLACE_MIN_FLOATS 8192
#define B_IN_PLACE_MAX_FLOATS (128 * 1024)

/* pack_rows prefetches the source row this many rows ahead (measured: 4-16 all help alike). */
#define PACK_PREFETCH_ROWS 8

/* Products with at most FEW_ROWS rows skip packing (gemm_few_rows). They take several threads
 * when B has at least FEW_ROWS_PARALLEL_BYTES: below that, reading it (from L2/L3 at ~100 GB/s
 * a core) takes less than a parallel region costs. */
#define FEW_ROWS 8
#define FEW_ROWS_PARALLEL_BYTES (256 << 10)

static int64_t round_up(int64_t x, int64_t multiple) { return (x + multiple - 1) / multiple * multiple; }
static int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

/* An operand seen as a matrix: element (i, j) at data[i * row_stride + j * col_stride] (strides
 * in elements). A transposed operand just swaps the strides. Elements are float32, or for B (the
 * weights) 16-bit floats (type LLM_BF16, LLM_F16: half.h), widened to float32 where they are read
 * (the few-row kernels) or packed (the GEMM path). */
typedef struct {
    const void* data;
    int64_t row_stride, col_stride;
    llm_dtype type;
} strided;

/* A float32 operand. */
static inline strided float_view(const float* data, int64_t row_stride, int64_t col_stride) {
    return (strided){data, row_stride, col_stride, LLM_F32};
}

static size_t element_size(llm_dtype type) {
    return type == LLM_F32 ? sizeof(float) : sizeof(uint16_t);
}

/* The address of element offset (in elements) of x's data. */
static const void* element_at(strided x, int64_t offset) {
    return (const char*)x.data + offset * (int64_t)element_size(x.type);
}

/* C tile (rows x cols, rows <= MR, cols <= NR) = alpha * A panel @ B panel [+ bias] [+ beta * C].
 * b_panel: kc rows of NR floats, b_step apart (NR packed, or op(B)'s row stride read in place);
 * bias: (cols) or NULL; beta = 0 never reads C. The A panel is either packed, (kc, MR) at a
 * (kernel; a_row is not read), or MR whole rows of a row-major op(A) read in place, row i at
 * a + i * a_row (kernel_a_rows). */
typedef void (*micro_kernel)(float* c, int64_t ldc, const float* a, int64_t a_row,
                             const float* b_panel, int64_t b_step, const float* bias, int64_t kc,
                             int64_t rows, int64_t cols, float alpha, float beta);

/* C rows [0, m) x columns [j_begin, j_end) = alpha * A @ op(B) [+ bias] [+ beta * C] for
 * m <= FEW_ROWS, unpacked: a_rows (m, k) contiguous; op(B) element (p, j) at b[p * ldb + j], or
 * at b[j * ldb + p] when b_transposed; B's elements of the kernel's type (few_rows[type]). */
typedef void (*few_rows_kernel)(float* c, int64_t ldc, const float* a_rows, const void* b,
                                int64_t ldb, int b_transposed, const float* bias, int64_t m,
                                int64_t k, int64_t j_begin, int64_t j_end, float alpha, float beta);

/* Runs steps steps of independent FMA chains; returns the flops done (see matmul_fma_peak). */
typedef double (*fma_probe)(int64_t steps, float* sink);
/* The sum of x[0 .. n), read once in memory order (see matmul_read_bandwidth). */
typedef float (*read_probe)(const float* x, int64_t n);

typedef struct {
    micro_kernel kernel, kernel_a_rows;
    fma_probe fma_peak;
    read_probe read_peak;
    few_rows_kernel few_rows[3];   /* by B's llm_dtype: LLM_F32, LLM_BF16, LLM_F16 */
    int64_t mr, nr;          /* micro-tile of C held in registers */
    int64_t mc, kc, nc;      /* cache blocks: A block mc x kc, B panel kc x nc */
} gemm_config;

/* ---------------------------------------------------------------- micro-kernels */

/* *c = alpha * product + bias [+ beta * *c]; beta = 0 never reads *c (it may hold NaN). */
static inline void store_result(float* c, float product, float alpha, float bias, float beta) {
    float value = alpha * product + bias;
    *c = beta == 0.0f ? value : value + beta * *c;
}

enum { PORTABLE_MR = 4, PORTABLE_NR = 16 };

/* A panel element (i, p) at a[i * a_row + p * a_step]. */
static inline void kernel_portable_body(float* c, int64_t ldc, const float* a, int64_t a_row,
                                        int64_t a_step, const float* b_panel, int64_t b_step,
                                        const float* bias, int64_t kc, int64_t rows,
                                        int64_t cols, float alpha, float beta) {
    float acc[PORTABLE_MR][PORTABLE_NR] = {{0}};
    for (int64_t p = 0; p < kc; p++) {
        const float* b = b_panel + p * b_step;
        for (int i = 0; i < PORTABLE_MR; i++)
            for (int j = 0; j < PORTABLE_NR; j++) acc[i][j] += a[i * a_row + p * a_step] * b[j];
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            store_result(c + i * ldc + j, acc[i][j], alpha, bias ? bias[j] : 0.0f, beta);
}

static void kernel_portable(float* c, int64_t ldc, const float* a_panel, int64_t a_row,
                            const float* b_panel, int64_t b_step, const float* bias, int64_t kc,
                            int64_t rows, int64_t cols, float alpha, float beta) {
    (void)a_row;
    kernel_portable_body(c, ldc, a_panel, 1, PORTABLE_MR, b_panel, b_step, bias, kc, rows, cols,
                         alpha, beta);
}

static void kernel_portable_a_rows(float* c, int64_t ldc, const float* a, int64_t a_row,
                                   const float* b_panel, int64_t b_step, const float* bias,
                                   int64_t kc, int64_t rows, int64_t cols, float alpha,
                                   float beta) {
    kernel_portable_body(c, ldc, a, a_row, 1, b_panel, b_step, bias, kc, rows, cols, alpha, beta);
}

/* B's element at index, widened to float (type a constant in each caller below). */
__attribute__((always_inline))
static inline float load_element(const void* b, int64_t index, llm_dtype type) {
    if (type == LLM_BF16) return half_bf16_to_float(((const uint16_t*)b)[index]);
    if (type == LLM_F16) return half_f16_to_float(((const uint16_t*)b)[index]);
    return ((const float*)b)[index];
}

__attribute__((always_inline))
static inline void kernel_portable_few(llm_dtype type, float* c, int64_t ldc,
                                       const float* a_rows, const void* b, int64_t ldb,
                                       int b_transposed, const float* bias, int64_t m, int64_t k,
                                       int64_t j_begin, int64_t j_end, float alpha, float beta) {
    int64_t b_row_stride = b_transposed ? 1 : ldb, b_col_stride = b_transposed ? ldb : 1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = j_begin; j < j_end; j++) {
            float sum = 0.0f;
            for (int64_t p = 0; p < k; p++)
                sum += a_rows[i * k + p] *
                       load_element(b, p * b_row_stride + j * b_col_stride, type);
            store_result(c + i * ldc + j, sum, alpha, bias ? bias[j] : 0.0f, beta);
        }
}

/* The portable level's roofline: the micro-tile's accumulators as independent chains, in C (the
 * compiler vectorises them as far as the build's flags allow). */
static double kernel_portable_fma_peak(int64_t steps, float* sink) {
    float acc[PORTABLE_MR * PORTABLE_NR];
    float x = *sink, y = 1.0f - *sink;
    for (int r = 0; r < PORTABLE_MR * PORTABLE_NR; r++) acc[r] = (float)r;
    for (int64_t s = 0; s < steps; s++)
        for (int r = 0; r < PORTABLE_MR * PORTABLE_NR; r++) acc[r] += x * y;
    float total = 0.0f;
    for (int r = 0; r < PORTABLE_MR * PORTABLE_NR; r++) total += acc[r];
    *sink = total;
    return 2.0 * PORTABLE_MR * PORTABLE_NR * (double)steps;
}

/* The portable level's read probe folds x's bits with xor (float sums in C keep their order, so
 * a chain of adds, not the memory, would set the rate); its result only has to be used. */
static float kernel_portable_read_peak(const float* x, int64_t n) {
    uint32_t folded = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, x + i, sizeof bits);
        folded ^= bits;
    }
    return (float)(folded & 0xffff);
}

#define PORTABLE_FEW_ROWS(name, type)                                                          \
    static void name(float* c, int64_t ldc, const float* a_rows, const void* b, int64_t ldb,   \
                     int b_transposed, const float* bias, int64_t m, int64_t k,                \
                     int64_t j_begin, int64_t j_end, float alpha, float beta) {                \
        kernel_portable_few(type, c, ldc, a_rows, b, ldb, b_transposed, bias, m, k, j_begin,   \
                            j_end, alpha, beta);                                               \
    }
PORTABLE_FEW_ROWS(kernel_portable_few_rows_f32, LLM_F32)
PORTABLE_FEW_ROWS(kernel_portable_few_rows_bf16, LLM_BF16)
PORTABLE_FEW_ROWS(kernel_portable_few_rows_f16, LLM_F16)
#undef PORTABLE_FEW_ROWS

#ifdef MATMUL_X86

/* AVX-512: 12 rows x 2 vectors of 16 (24 accumulators of 32 registers). 12 x 32 beat 14 x 32,
 * 6 x 64, 8 x 32 and 8 x 48 on Zen 4, and 12 divides the usual model sizes well. */
#define AVX512_MR 12
#define AVX512_NR 32
#define KERNEL_NAME kernel_avx512
#define KERNEL_TARGET "avx512f"
#define KERNEL_MR AVX512_MR
#define KERNEL_NV 2
#define KERNEL_LANES 16
#define FEW_ROWS_ACCUMULATORS 24
#define VEC __m512
#define VEC_ZERO() _mm512_setzero_ps()
#define VEC_LOADU(p) _mm512_loadu_ps(p)
#define VEC_STOREU(p, v) _mm512_storeu_ps(p, v)
#define VEC_BROADCAST(p) _mm512_set1_ps(*(p))
#define VEC_SET1(x) _mm512_set1_ps(x)
#define VEC_ADD(a, b) _mm512_add_ps(a, b)
#define VEC_FMADD(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VEC_REDUCE_ADD(v) _mm512_reduce_add_ps(v)
#define MASK __mmask16
#define MASK_FIRST(n) ((n) >= 16 ? (__mmask16)0xFFFF : (n) > 0 ? (__mmask16)((1u << (n)) - 1) : 0)
#define VEC_MASK_LOAD(p, mask) _mm512_maskz_loadu_ps(mask, p)
#define VEC_MASK_STORE(p, mask, v) _mm512_mask_storeu_ps(p, mask, v)
/* 16 bf16: zero-extended to 32 bits, shifted into a float's top half; 16 f16: vcvtph2ps. (The
 * AVX512-BF16 dot product would round the activations to bf16 too; it is not used.) */
#define VEC_LOAD_BF16(p) _mm512_castsi512_ps(_mm512_slli_epi32( \
    _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(p))), 16))
#define VEC_LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(p)))
#include "matmul_kernel.h"

/* AVX2 + FMA: 6 rows x 2 vectors of 8 (12 accumulators of 16 registers), as in BLIS's Haswell
 * kernel. KC 384 (a 24 KB B micro-panel, within every AVX2 CPU's 32 KB L1; OpenBLAS's Haswell
 * Q): k = 384 (the large config's d_model) in one slice, so C is written once, not read back;
 * 2-6% over KC 256 at the benchmark's shapes, A/B on 1 and 2 threads. F16C (vcvtph2ps) widens
 * f16 weights: every AVX2 CPU has it (Intel since Ivy Bridge, AMD since Piledriver), so the
 * AVX2 level does not test for it. */
__attribute__((target("avx2,fma")))
static inline float avx2_reduce_add(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}
#define AVX2_MR 6
#define AVX2_NR 16
#define KERNEL_NAME kernel_avx2
#define KERNEL_TARGET "avx2,fma,f16c"
#define KERNEL_MR AVX2_MR
#define KERNEL_NV 2
#define KERNEL_LANES 8
#define FEW_ROWS_ACCUMULATORS 12
#define VEC __m256
#define VEC_ZERO() _mm256_setzero_ps()
#define VEC_LOADU(p) _mm256_loadu_ps(p)
#define VEC_STOREU(p, v) _mm256_storeu_ps(p, v)
#define VEC_BROADCAST(p) _mm256_broadcast_ss(p)
#define VEC_SET1(x) _mm256_set1_ps(x)
#define VEC_ADD(a, b) _mm256_add_ps(a, b)
#define VEC_FMADD(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VEC_REDUCE_ADD(v) avx2_reduce_add(v)
#define MASK __m256i
#define MASK_FIRST(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)((n) < 8 ? (n) : 8)), \
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define VEC_MASK_LOAD(p, mask) _mm256_maskload_ps(p, mask)
#define VEC_MASK_STORE(p, mask, v) _mm256_maskstore_ps(p, mask, v)
#define VEC_LOAD_BF16(p) _mm256_castsi256_ps(_mm256_slli_epi32( \
    _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(p))), 16))
#define VEC_LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(p)))
#include "matmul_kernel.h"

#endif /* MATMUL_X86 */

static const gemm_config* gemm_config_in_use(void) {
    llm_simd level = llm_simd_level();
#ifdef MATMUL_X86
    static const gemm_config avx512 = {
        kernel_avx512, kernel_avx512_a_rows, kernel_avx512_fma_peak, kernel_avx512_read_peak,
        {kernel_avx512_few_rows_f32, kernel_avx512_few_rows_bf16, kernel_avx512_few_rows_f16},
        AVX512_MR, AVX512_NR, 12 * 12, 384, 2048};
    static const gemm_config avx2 = {
        kernel_avx2, kernel_avx2_a_rows, kernel_avx2_fma_peak, kernel_avx2_read_peak,
        {kernel_avx2_few_rows_f32, kernel_avx2_few_rows_bf16, kernel_avx2_few_rows_f16},
        AVX2_MR, AVX2_NR, 6 * 24, 384, 2048};
    if (level == LLM_SIMD_AVX512) return &avx512;
    if (level == LLM_SIMD_AVX2) return &avx2;
#endif
    static const gemm_config portable = {
        kernel_portable, kernel_portable_a_rows, kernel_portable_fma_peak,
        kernel_portable_read_peak,
        {kernel_portable_few_rows_f32, kernel_portable_few_rows_bf16, kernel_portable_few_rows_f16},
        PORTABLE_MR, PORTABLE_NR, 4 * 32, 256, 1024};
    return &portable;
}

/* ---------------------------------------------------------------- packing */

/* The packing routines below copy a len x kc matrix X — element (w, p) at
 * x[w*stride_w + p*stride_k] — cut along w into panels of `width`:
 * dst[(panel*kc + p)*width + i] = X(panel*width + i, p), with zeros past len so that the
 * micro-kernel always runs on full tiles. */

/* X's k rows are contiguous (stride_w = 1): each is read once, left to right, and dealt out to
 * the panels, so the source streams from memory in long runs. */
static void pack_rows(float* dst, const float* x, int64_t stride_k, int64_t len, int64_t kc,
                      int64_t width) {
    int64_t panels = (len + width - 1) / width;
    for (int64_t p = 0; p < kc; p++) {
        const float* line = x + p * stride_k;
        if (p + PACK_PREFETCH_ROWS < kc)  /* the runs can be short (an A block's width) */
            for (int64_t w = 0; w < len; w += 16)
                __builtin_prefetch(line + PACK_PREFETCH_ROWS * stride_k + w);
        for (int64_t panel = 0; panel < panels; panel++) {
            float* out = dst + (panel * kc + p) * width;
            int64_t w0 = panel * width;
            int64_t valid = min64(width, len - w0);
            int64_t i = 0;
            if (valid == width) {  /* whole runs of 8 or 4 floats (widths are 32, 16, 12, 6, 4) */
                if (width % 8 == 0)
                    for (; i < width; i += 8) memcpy(out + i, line + w0 + i, 8 * sizeof(float));
                else
                    for (; i + 4 <= width; i += 4) memcpy(out + i, line + w0 + i, 4 * sizeof(float));
            }
            for (; i < valid; i++) out[i] = line[w0 + i];
            for (; i < width; i++) out[i] = 0.0f;
        }
    }
}

/* Any strides (in practice stride_k = 1: X's w rows are contiguous), panel by panel: each panel is
 * transposed on the way in, in 4 x 4 SSE blocks where it can be. */
static void pack_transposed(float* dst, const float* x, int64_t stride_w, int64_t stride_k,
                            int64_t len, int64_t kc, int64_t width) {
    for (int64_t panel = 0; panel * width < len; panel++) {
        float* out = dst + panel * kc * width;
        int64_t w0 = panel * width;
        int64_t valid = min64(width, len - w0);
        const float* src = x + w0 * stride_w;
        int64_t p = 0;
#ifdef MATMUL_X86
        if (stride_k == 1 && valid == width && width % 4 == 0)
            for (; p + 4 <= kc; p += 4)
                for (int64_t i = 0; i < width; i += 4) {
                    const float* block = src + i * stride_w + p;
                    __m128 r0 = _mm_loadu_ps(block), r1 = _mm_loadu_ps(block + stride_w);
                    __m128 r2 = _mm_loadu_ps(block + 2 * stride_w);
                    __m128 r3 = _mm_loadu_ps(block + 3 * stride_w);
                    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                    _mm_storeu_ps(out + p * width + i, r0);
                    _mm_storeu_ps(out + (p + 1) * width + i, r1);
                    _mm_storeu_ps(out + (p + 2) * width + i, r2);
                    _mm_storeu_ps(out + (p + 3) * width + i, r3);
                }
#endif
        for (; p < kc; p++) {
            for (int64_t i = 0; i < valid; i++) out[p * width + i] = src[i * stride_w + p * stride_k];
            for (int64_t i = valid; i < width; i++) out[p * width + i] = 0.0f;
        }
    }
}

/* 16-bit B (weights) is packed as float32, widened on the way in: the micro-kernel is the same
 * for every type. */

#ifdef MATMUL_X86
__attribute__((target("avx2,f16c")))
static void widen_run_avx2(float* out, const uint16_t* in, int64_t n, llm_dtype type) {
    int64_t i = 0;
    if (type == LLM_F16)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(in + i))));
    else
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_si256((__m256i*)(out + i), _mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(in + i))), 16));
    for (; i < n; i++) out[i] = load_element(in, i, type);
}
#endif

/* out[i] = in[i] widened to float, for n 16-bit elements of type; vector: the CPU has AVX2
 * (and so F16C). */
static void widen_run(float* out, const uint16_t* in, int64_t n, llm_dtype type, int vector) {
#ifdef MATMUL_X86
    if (vector) {
        widen_run_avx2(out, in, n, type);
        return;
    }
#else
    (void)vector;
#endif
    if (type == LLM_BF16)
        for (int64_t i = 0; i < n; i++) out[i] = half_bf16_to_float(in[i]);
    else
        for (int64_t i = 0; i < n; i++) out[i] = half_f16_to_float(in[i]);
}

/* pack_rows for 16-bit X: each k row's runs widened into the panels. */
static void pack_rows_half(float* dst, const uint16_t* x, llm_dtype type, int64_t stride_k,
                           int64_t len, int64_t kc, int64_t width, int vector) {
    int64_t panels = (len + width - 1) / width;
    for (int64_t p = 0; p < kc; p++) {
        const uint16_t* line = x + p * stride_k;
        for (int64_t panel = 0; panel < panels; panel++) {
            float* out = dst + (panel * kc + p) * width;
            int64_t w0 = panel * width, valid = min64(width, len - w0);
            widen_run(out, line + w0, valid, type, vector);
            for (int64_t i = valid; i < width; i++) out[i] = 0.0f;
        }
    }
}

/* The longest k slice packed (every gemm_config's kc is at most this). */
#define PACK_LINE_MAX 512

/* pack_transposed for 16-bit X: each of a panel's w rows widened (kc elements) into a line, then
 * dealt out down the panel's column. */
static void pack_transposed_half(float* dst, const uint16_t* x, llm_dtype type, int64_t stride_w,
                                 int64_t stride_k, int64_t len, int64_t kc, int64_t width,
                                 int vector) {
    float line[PACK_LINE_MAX];
    for (int64_t panel = 0; panel * width < len; panel++) {
        float* out = dst + panel * kc * width;
        int64_t w0 = panel * width, valid = min64(width, len - w0);
        for (int64_t i = 0; i < width; i++) {
            const uint16_t* src = x + (w0 + i) * stride_w;
            if (i >= valid)
                for (int64_t p = 0; p < kc; p++) line[p] = 0.0f;
            else if (stride_k == 1)
                widen_run(line, src, kc, type, vector);
            else
                for (int64_t p = 0; p < kc; p++) line[p] = load_element(src, p * stride_k, type);
            for (int64_t p = 0; p < kc; p++) out[p * width + i] = line[p];
        }
    }
}

/* Panels of X (see above) of any element type, packed as float32. */
static void pack_panels(float* dst, const void* x, llm_dtype type, int64_t stride_w,
                        int64_t stride_k, int64_t len, int64_t kc, int64_t width) {
    if (type != LLM_F32) {
        int vector = llm_simd_level() >= LLM_SIMD_AVX2;
        if (stride_w == 1)
            pack_rows_half(dst, x, type, stride_k, len, kc, width, vector);
        else
            pack_transposed_half(dst, x, type, stride_w, stride_k, len, kc, width, vector);
    } else if (stride_w == 1) {
        pack_rows(dst, x, stride_k, len, kc, width);
    } else {
        pack_transposed(dst, x, stride_w, stride_k, len, kc, width);
    }
}

/* ---------------------------------------------------------------- workspace */

/* One packing workspace per calling thread, grown on demand and freed at thread exit. */
static _Thread_local float* workspace_data;
static _Thread_local size_t workspace_floats;
static pthread_key_t workspace_key;
static pthread_once_t workspace_once = PTHREAD_ONCE_INIT;

static void workspace_key_create(void) { pthread_key_create(&workspace_key, free); }

static float* workspace_get(size_t floats) {
    if (workspace_floats >= floats) return workspace_data;
    pthread_once(&workspace_once, workspace_key_create);
    void* data = NULL;
    if (posix_memalign(&data, 64, floats * sizeof(float)) != 0) return NULL;
    free(workspace_data);
    workspace_data = data;
    workspace_floats = floats;
    pthread_setspecific(workspace_key, data);
    return workspace_data;
}

/* ---------------------------------------------------------------- driver */

/* Splits nt threads into a grid of row groups x column groups minimising the largest cost of any
 * thread, per step of k: its micro-tiles (MR*NR/16 cycles each: one 16-lane FMA per cycle) plus
 * packing its own A rows and B columns (about a cycle per element), which threads sharing rows or
 * columns repeat. Ties go to more row groups. */
static int row_groups(int nt, const gemm_config* cfg, int64_t m_panels, int64_t n_panels) {
    int best = 1;
    int64_t best_cost = INT64_MAX;
    for (int tm = 1; tm <= nt; tm++) {
        if (nt % tm) continue;
        int tn = nt / tm;
        int64_t rows = (m_panels + tm - 1) / tm, columns = (n_panels + tn - 1) / tn;
        int64_t cost = rows * columns * (cfg->mr * cfg->nr / 16) + rows * cfg->mr + columns * cfg->nr;
        if (cost <= best_cost) { best_cost = cost; best = tm; }
    }
    return best;
}

/* Threads for a piece of work: all of OpenMP's (as many as the machine's load allows: threads.h)
 * if it is big enough to gain from them, unless the caller already runs in a parallel region
 * that cannot nest (then our team would be one thread anyway, and sizing buffers for more would
 * waste memory). */
static int team_size(int big_enough) {
#ifdef _OPENMP
    if (big_enough && omp_get_active_level() < omp_get_max_active_levels()) {
        llm_threads_adapt();
        return omp_get_max_threads();
    }
#else
    (void)big_enough;
#endif
    return 1;
}

/* The calling thread's number in its team, and the team's size (0 of 1 outside OpenMP). */
static void thread_in_team(int* t, int* team) {
#ifdef _OPENMP
    *t = omp_get_thread_num();
    *team = omp_get_num_threads();
#else
    *t = 0;
    *team = 1;
#endif
}

static int threads_for(int64_t m, int64_t n, int64_t k) {
    return team_size(2.0 * (double)m * (double)n * (double)k >= SERIAL_FLOPS);
}

/* Thread t of team's share of a few-row product with op(B)'s rows contiguous: B's rows (and A's
 * columns) [k * t / team, k * (t + 1) / team), a contiguous block of B, added into its own sums
 * (m, ldp); thread 0's start as bias + beta * C, the others' at zero. a_block: room for A's
 * columns of the share, (m, its k). */
static void few_rows_share(few_rows_kernel few_rows, int t, int team, const float* c,
                           int64_t ldc, const float* a_rows, float* a_block, strided b,
                           const float* bias, int64_t m, int64_t n, int64_t k, float alpha,
                           float beta, float* sums, int64_t ldp) {
    int64_t p_begin = k * t / team, rows = k * (t + 1) / team - p_begin;
    const float* a_share = a_rows;
    if (team > 1) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t q = 0; q < rows; q++) a_block[i * rows + q] = a_rows[i * k + p_begin + q];
        a_share = a_block;
    }
    if (t == 0 && beta != 0.0f)
        for (int64_t i = 0; i < m; i++)
            memcpy(sums + i * ldp, c + i * ldc, (size_t)n * sizeof(float));
    few_rows(sums, ldp, a_share, element_at(b, p_begin * b.row_stride), b.row_stride, 0,
             t == 0 ? bias : NULL, m, rows, 0, n, alpha, t == 0 ? beta : 0.0f);
}

/* C (at most FEW_ROWS rows) without packing: every element of B is read once, straight from
 * memory, so a token-at-a-time product (generation) costs B's size over memory bandwidth rather
 * than a packing pass plus a mostly padded micro-tile. Threads each read a contiguous block of
 * B: its columns when they are contiguous (x @ Wᵀ), split on cache-line (16-float) boundaries;
 * else its rows (the columns split instead read every row in pieces, each thread in every page:
 * GPT-2's block matrices on 2 threads streamed 27 GB/s that way, 29 in row blocks), each thread
 * adding its rows' products into its own sums, which are added into C at the end. The sums'
 * rows are 64-byte aligned whatever C's are: the kernel loads and stores them once per row of B
 * when A has one row (see matmul_few_rows.h). */
static llm_status gemm_few_rows(const gemm_config* cfg, float* c, int64_t ldc, strided a,
                                strided b, const float* bias, int64_t m, int64_t n, int64_t k,
                                float alpha, float beta) {
    int b_transposed = b.col_stride != 1;  /* then op(B)'s columns are contiguous */
    few_rows_kernel few_rows = cfg->few_rows[b.type];
    int threads = team_size((double)n * (double)k * (double)element_size(b.type) >=
                            FEW_ROWS_PARALLEL_BYTES);
    /* a_rows: op(A)'s rows contiguous (m, k); with rows of B split, then each thread's columns
     * of them (m, its k) and each thread's sums (m, ldp) */
    int64_t ldp = round_up(n, 16);
    int64_t a_floats = round_up(m * k * (!b_transposed && threads > 1 ? 2 : 1), 16);
    float* a_rows =
        workspace_get((size_t)a_floats + (b_transposed ? 0 : (size_t)(threads * m * ldp)));
    if (!a_rows) return LLM_ERR_NOMEM;
    const float* a_data = a.data;
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++) a_rows[i * k + p] = a_data[i * a.row_stride + p * a.col_stride];
    if (b_transposed && threads == 1) {  /* no region: entering one costs ~0.3 us */
        few_rows(c, ldc, a_rows, b.data, b.col_stride, 1, bias, m, k, 0, n, alpha, beta);
        return LLM_OK;
    }
    float* a_blocks = a_rows + m * k;
    float* sums = a_rows + a_floats;
    if (threads == 1) {
        few_rows_share(few_rows, 0, 1, c, ldc, a_rows, NULL, b, bias, m, n, k, alpha, beta, sums,
                       ldp);
        for (int64_t i = 0; i < m; i++)
            memcpy(c + i * ldc, sums + i * ldp, (size_t)n * sizeof(float));
        return LLM_OK;
    }
#pragma omp parallel num_threads(threads)
    {
        int t, team;
        thread_in_team(&t, &team);
        int64_t lines = (n + 15) / 16;
        int64_t j_begin = min64(n, lines * t / team * 16), j_end = min64(n, lines * (t + 1) / team * 16);
        if (b_transposed) {
            if (j_begin < j_end)
                few_rows(c, ldc, a_rows, b.data, b.col_stride, 1, bias, m, k, j_begin, j_end,
                         alpha, beta);
        } else {
            few_rows_share(few_rows, t, team, c, ldc, a_rows, a_blocks + m * (k * t / team), b,
                           bias, m, n, k, alpha, beta, sums + t * m * ldp, ldp);
#pragma omp barrier
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = j_begin; j < j_end; j++) {
                    float sum = sums[i * ldp + j];
                    for (int s = 1; s < team; s++) sum += sums[(s * m + i) * ldp + j];
                    c[i * ldc + j] = sum;
                }
        }
    }
    return LLM_OK;
}

/* One thread's block of C, rows [i_begin, i_end) x columns [j_begin, j_end) (j_begin a multiple
 * of NR), over all of k: C block = alpha * A rows @ B columns + beta * C block [+ bias]. Each
 * thread packs its own panels (b_pack kc x nc, a_pack mc x kc), so threads share nothing, except
 * where an operand is read in place: a row-major op(A) (x in x @ W, dout in dout @ Wᵀ; not rows
 * a multiple of ALIASING_STRIDE apart), MR whole rows at a time, and an op(B) with contiguous
 * rows under the B_IN_PLACE bounds, NR whole columns at a time. A partial panel at the edge is
 * always packed (zero-padded). */
static void gemm_block(const gemm_config* cfg, float* c, int64_t ldc, strided a, strided b,
                       const float* bias, int64_t i_begin, int64_t i_end, int64_t j_begin,
                       int64_t j_end, int64_t k, float alpha, float beta, float* b_pack,
                       float* a_pack) {
    if (i_begin >= i_end || j_begin >= j_end) return;  /* more threads than panels */
    const int a_row_major = a.col_stride == 1 && a.row_stride % ALIASING_STRIDE != 0;
    for (int64_t jc = j_begin; jc < j_end; jc += cfg->nc) {
        int64_t nc = min64(cfg->nc, j_end - jc);
        int64_t n_panels = (nc + cfg->nr - 1) / cfg->nr;
        for (int64_t pc = 0; pc < k; pc += cfg->kc) {
            int64_t kc = min64(cfg->kc, k - pc);
            int64_t b_offset = pc * b.row_stride + jc * b.col_stride;
            /* in place: float32 only (16-bit B is always packed, widened) */
            const float* b_block = b.type == LLM_F32 ? (const float*)b.data + b_offset : NULL;
            int64_t b_in_place = b_block && b.col_stride == 1 &&
                                 kc * cfg->nr > B_IN_PLACE_MIN_FLOATS &&
                                 kc * nc <= B_IN_PLACE_MAX_FLOATS ? nc / cfg->nr : 0;  /* panels */
            if (b_in_place < n_panels)
                pack_panels(b_pack, element_at(b, b_offset + b_in_place * cfg->nr * b.col_stride),
                            b.type, b.col_stride, b.row_stride, nc - b_in_place * cfg->nr, kc,
                            cfg->nr);
            float beta_pc = pc == 0 ? beta : 1.0f;
            const float* bias_pc = pc == 0 && bias ? bias + jc : NULL;
            for (int64_t ic = i_begin; ic < i_end; ic += cfg->mc) {
                int64_t mc = min64(cfg->mc, i_end - ic);
                int64_t a_panels = (mc + cfg->mr - 1) / cfg->mr;
                int64_t a_in_place = a_row_major ? mc / cfg->mr : 0;   /* panels */
                const float* a_block = (const float*)a.data + ic * a.row_stride + pc * a.col_stride;
                if (a_in_place < a_panels)
                    pack_panels(a_pack, a_block + a_in_place * cfg->mr * a.row_stride, LLM_F32,
                                a.row_stride, a.col_stride, mc - a_in_place * cfg->mr, kc, cfg->mr);
                for (int64_t jp = 0; jp < n_panels; jp++) {
                    int64_t j = jp * cfg->nr;
                    const float* b_panel = jp < b_in_place ? b_block + j
                                                           : b_pack + (j - b_in_place * cfg->nr) * kc;
                    int64_t b_step = jp < b_in_place ? b.row_stride : cfg->nr;
                    for (int64_t ip = 0; ip < a_panels; ip++) {
                        int64_t i = ip * cfg->mr;
                        micro_kernel kernel = ip < a_in_place ? cfg->kernel_a_rows : cfg->kernel;
                        const float* a_panel = ip < a_in_place
                                                   ? a_block + i * a.row_stride
                                                   : a_pack + (i - a_in_place * cfg->mr) * kc;
                        kernel(c + (ic + i) * ldc + jc + j, ldc, a_panel, a.row_stride, b_panel,
                               b_step, bias_pc ? bias_pc + j : NULL, kc, min64(cfg->mr, mc - i),
                               min64(cfg->nr, nc - j), alpha, beta_pc);
                    }
                }
            }
        }
    }
}

/* C = alpha * A @ B + beta * C [+ bias on every row], A (m, k), B (k, n) strided views. */
static llm_status gemm_strided(float* c, int64_t ldc, strided a, strided b, const float* bias,
                               int64_t m, int64_t n, int64_t k, float alpha, float beta) {
    if (m == 0 || n == 0) return LLM_OK;
    if (k == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                store_result(c + i * ldc + j, 0.0f, alpha, bias ? bias[j] : 0.0f, beta);
        return LLM_OK;
    }
    const gemm_config* cfg = gemm_config_in_use();
    if (m <= FEW_ROWS) return gemm_few_rows(cfg, c, ldc, a, b, bias, m, n, k, alpha, beta);
    int nt = threads_for(m, n, k);
    int64_t m_panels = (m + cfg->mr - 1) / cfg->mr, n_panels = (n + cfg->nr - 1) / cfg->nr;
    /* Room for the largest block any grid of at most nt threads gives a thread. */
    int64_t kc_max = min64(cfg->kc, k);
    int64_t nc_max = min64(cfg->nc, n_panels * cfg->nr);
    int64_t mc_max = min64(cfg->mc, m_panels * cfg->mr);
    size_t b_floats = (size_t)round_up(kc_max * nc_max, 16);
    size_t thread_floats = b_floats + (size_t)round_up(mc_max * kc_max, 16);
    float* workspace = workspace_get((size_t)nt * thread_floats);
    if (!workspace) return LLM_ERR_NOMEM;

#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t, team;
        thread_in_team(&t, &team);
        int tm = row_groups(team, cfg, m_panels, n_panels), tn = team / tm;
        int row_group = t / tn, col_group = t % tn;
        float* b_pack = workspace + (size_t)t * thread_floats;
        gemm_block(cfg, c, ldc, a, b, bias, m_panels * row_group / tm * cfg->mr,
                   min64(m, m_panels * (row_group + 1) / tm * cfg->mr),
                   n_panels * col_group / tn * cfg->nr,
                   min64(n, n_panels * (col_group + 1) / tn * cfg->nr), k, alpha, beta, b_pack,
                   b_pack + b_floats);
    }
    return LLM_OK;
}

/* ---------------------------------------------------------------- public API */

llm_status matmul_gemm(float* c, int64_t ldc, const float* a, int64_t lda, const float* b,
                       int64_t ldb, int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                       float alpha, float beta) {
    if (m < 0 || n < 0 || k < 0 || ldc < n || lda < (trans_a ? m : k) || ldb < (trans_b ? k : n))
        return LLM_ERR_ARGUMENT;
    strided a_view = trans_a ? float_view(a, 1, lda) : float_view(a, lda, 1);
    strided b_view = trans_b ? float_view(b, 1, ldb) : float_view(b, ldb, 1);
    return gemm_strided(c, ldc, a_view, b_view, NULL, m, n, k, alpha, beta);
}

llm_status matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                          int64_t m, int64_t k, int64_t n, int transpose_weight) {
    if (m < 0 || n < 0 || k < 0) return LLM_ERR_ARGUMENT;
    strided w = transpose_weight ? float_view(weight, 1, k) : float_view(weight, n, 1);
    return gemm_strided(out, n, float_view(inp, k, 1), w, bias, m, n, k, 1.0f, 0.0f);
}

llm_status matmul_forward_half(float* out, const float* inp, const uint16_t* weight,
                               llm_dtype weight_type, const float* bias, int64_t m, int64_t k,
                               int64_t n, int transpose_weight) {
    if (m < 0 || n < 0 || k < 0 || (weight_type != LLM_BF16 && weight_type != LLM_F16))
        return LLM_ERR_ARGUMENT;
    strided w = transpose_weight ? (strided){weight, 1, k, weight_type}
                                 : (strided){weight, n, 1, weight_type};
    return gemm_strided(out, n, float_view(inp, k, 1), w, bias, m, n, k, 1.0f, 0.0f);
}

/* Steps of one run of the FMA probe (~5 ms a core at 100 GFLOPS on AVX2), and the runs whose
 * best each probe takes: a busy machine takes the core away now and then, not for every run. */
#define FMA_PEAK_STEPS (1 << 21)
#define PROBE_RUNS 7

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double matmul_fma_peak(int threads) {
    if (threads < 1) return 0.0;
    const gemm_config* cfg = gemm_config_in_use();
    double best = 0.0;
    float sink = 0.5f;
    for (int run = 0; run < PROBE_RUNS; run++) {
        double flops = 0.0, start = seconds_now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
        {
            float own = sink;
            flops += cfg->fma_peak(FMA_PEAK_STEPS, &own);
            if (own == 12345.0f) sink = own;  /* keeps the chains' result alive */
        }
        double rate = flops / (seconds_now() - start) / 1e9;
        if (rate > best) best = rate;
    }
    return best;
}

double matmul_read_bandwidth(const float* x, int64_t n, int threads) {
    if (threads < 1 || n < 1) return 0.0;
    const gemm_config* cfg = gemm_config_in_use();
    double best = 0.0;
    float sink = 0.0f;
    for (int run = 0; run < PROBE_RUNS; run++) {
        double start = seconds_now();
#pragma omp parallel num_threads(threads)
        {
            int t, team;
            thread_in_team(&t, &team);
            int64_t begin = n * t / team, end = n * (t + 1) / team;
            float sum = cfg->read_peak(x + begin, end - begin);
            if (sum == 12345.0f) sink = sum;  /* keeps the reads alive */
        }
        double rate = (double)n * sizeof(float) / (seconds_now() - start) / 1e9;
        if (rate > best) best = rate;
    }
    (void)sink;
    return best;
}

/* dbias (N) = (accumulate: dbias +) column sums of dout (M, N); threads split the columns. */
static void column_sums(float* dbias, const float* dout, int64_t m, int64_t n, int accumulate) {
#pragma omp parallel for schedule(static) num_threads(team_size(m * n >= COLUMN_SUMS_PARALLEL))
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
        int64_t j1 = min64(n, j0 + 64);
        float sum[64] = {0};
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = j0; j < j1; j++) sum[j - j0] += dout[i * n + j];
        for (int64_t j = j0; j < j1; j++)
            dbias[j] = accumulate ? dbias[j] + sum[j - j0] : sum[j - j0];
    }
}

llm_status matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                           const float* inp, const float* weight, int64_t m, int64_t k, int64_t n,
                           int transpose_weight, int accumulate_weights) {
    if (m < 0 || n < 0 || k < 0) return LLM_ERR_ARGUMENT;
    llm_status status = LLM_OK;
    float weights_beta = accumulate_weights ? 1.0f : 0.0f;   /* 0: the old values are never read */
    if (dinp) {  /* dinp (M,K) += dout (M,N) @ op(W)ᵀ (N,K) */
        strided w_t = transpose_weight ? float_view(weight, k, 1) : float_view(weight, 1, n);
        status = gemm_strided(dinp, k, float_view(dout, n, 1), w_t, NULL, m, k, n, 1.0f, 1.0f);
        if (status != LLM_OK) return status;
    }
    if (dweight) {
        if (transpose_weight)  /* dW (N,K) += doutᵀ (N,M) @ inp (M,K) */
            status = gemm_strided(dweight, k, float_view(dout, 1, n), float_view(inp, k, 1), NULL,
                                  n, k, m, 1.0f, weights_beta);
        else                   /* dW (K,N) += inpᵀ (K,M) @ dout (M,N) */
            status = gemm_strided(dweight, n, float_view(inp, 1, k), float_view(dout, n, 1), NULL,
                                  k, n, m, 1.0f, weights_beta);
        if (status != LLM_OK) return status;
    }
    if (dbias) column_sums(dbias, dout, m, n, accumulate_weights);
    return LLM_OK;
}
