/* Causal multi-head self-attention, flash-attention style; the contract is in attention.h.
 *
 * Reading order: vector helpers (GCC vectors, a vectorised exp) -> tile loads -> the two tile
 * products (scores = rows · columnsᵀ, and accumulate += weights · rows) -> masking and the online
 * softmax -> one query tile of forward, one head of backward -> per-ISA copies and dispatch -> the
 * public functions, which only validate, slice heads and spread tasks over threads.
 *
 * Every tile buffer holds rows of hsp = hs rounded up to a whole vector, zero-padded, so the tile
 * products never need a remainder loop. Query tiles are scaled by 1/sqrt(hs) as they are loaded.
 * When hs is a whole number of vectors (32, 64, 128: every GPT size) key and value rows need no
 * padding and are read in place instead: value rows always, key rows for a lone query row (a
 * decoding step, whose transposed key tile would serve one row only; its scores are dot
 * products, VECTOR_WIDTH keys reduced at once). At Tq = 1 this took the step from ~12 to ~5-7 ns
 * per key and head (small model, L2 to L3 resident cache).
 */
#include "attention.h"
#include "simd.h"
#include "threads.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Tile rows are short (hs floats): a memcpy/memset call per row costs more than the copy. */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#define TILE 32                      /* queries, and keys, per tile: a multiple of VECTOR_WIDTH */
#define VECTOR_WIDTH (VECTOR_BYTES / 4)   /* floats per vector */
#define TILE_VECTORS (TILE / VECTOR_WIDTH)
/* Tile rows a product keeps in registers at once (times 2 vectors): 8 with AVX-512VL's 32
 * registers, 4 with the 16 of AVX2 or the baseline. Each per-ISA copy passes its own. */
#define MAX_ROW_BLOCK 8
#define MAX_BLOCK_VECTORS TILE_VECTORS
/* Below this many multiply-adds a call runs on one thread. A decoding step of the small model
 * (C = 128) goes on two threads from ~256 cached positions on (266 keys: 7.3 -> 5.0 us wall),
 * of the large one (C = 384) from ~85 (266 keys: 74 -> 51 us). */
#define PARALLEL_MIN_WORK (1 << 15)

/* GCC/Clang vector extensions: one source, compiled for AVX-512VL, AVX2 and the baseline by the
 * per-ISA copies at the end of the file. A vector type lives in registers only where the compile
 * flags give it a register, else in memory (64-byte vectors kept the AVX2 copy's sums on the stack,
 * 18x slower). So: 32 bytes (ymm) when the build targets AVX or better, the default -march=native
 * build on any recent x86; 16 bytes (xmm, NEON) for a portable baseline build, whose AVX2 and
 * AVX-512 copies then run at half width. On Zen 4, ymm measured within 7% of zmm (512-bit FMAs
 * are double-pumped there). */
#if defined(__AVX__)
#define VECTOR_BYTES 32
#else
#define VECTOR_BYTES 16
#endif
typedef float vfloat __attribute__((vector_size(VECTOR_BYTES)));
typedef int32_t vint __attribute__((vector_size(VECTOR_BYTES)));
typedef float vfloat_unaligned __attribute__((vector_size(VECTOR_BYTES), aligned(4)));

/* Everything below up to the per-ISA copies is inlined into them, so it is compiled per ISA; no
 * vector crosses a real call, so GCC's note that vector arguments change the ABI without AVX
 * does not apply. */
#define TILE_INLINE static inline __attribute__((always_inline))
#pragma GCC diagnostic ignored "-Wpsabi"

/* ---- vector helpers ---------------------------------------------------------------------- */

TILE_INLINE vfloat vsplat(float x) {
    vfloat zero = {0};
    return zero + x;
}

TILE_INLINE vfloat vselect(vint mask, vfloat if_set, vfloat if_clear) {
    return (vfloat)((mask & (vint)if_set) | (~mask & (vint)if_clear));
}

TILE_INLINE vfloat vmax(vfloat a, vfloat b) { return vselect(a > b, a, b); }

TILE_INLINE vfloat vmin(vfloat a, vfloat b) { return vselect(a < b, a, b); }

/* exp(x) within ~2 ulp (Cephes' expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r,
 * times 2^n built in the exponent bits). Results below FLT_MIN, and exp(-inf), are 0. */
TILE_INLINE vfloat vexp(vfloat x) {
    const float lowest = -87.33654475f;       /* ln(FLT_MIN) */
    const float highest = 88.37626266f;       /* just below ln(FLT_MAX) */
    const float round_magic = 12582912.0f;    /* 1.5 * 2^23: adding it rounds to an integer */
    const vint normal = x >= vsplat(lowest);
    x = vmin(vmax(x, vsplat(lowest)), vsplat(highest));
    const vfloat shifted = x * 1.44269504088896341f + round_magic;
    const vfloat n = shifted - round_magic;
    const vfloat r = x - n * 0.693359375f - n * -2.12194440e-4f;
    vfloat p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const vint exponent = ((vint)shifted - (vint)vsplat(round_magic) + 127) << 23;
    return (vfloat)((vint)(p * (vfloat)exponent) & normal);
}

/* ---- tile loads ---------------------------------------------------------------------------- */

/* dst[0:n] = scale * src[0:n]. GCC turns such a loop (once it drops a multiplication by a constant
 * 1) into a memcpy call per row, which costs more than the copy of a short row: the pragma
 * "no-tree-loop-distribute-patterns" at the top of the file keeps it a loop. */
TILE_INLINE void scaled_copy(float* restrict dst, const float* restrict src, int64_t n,
                             float scale) {
    int64_t d = 0;
    for (; d + VECTOR_WIDTH <= n; d += VECTOR_WIDTH) {
        *(vfloat_unaligned*)(dst + d) = *(const vfloat_unaligned*)(src + d) * scale;
    }
    for (; d < n; d++) dst[d] = scale * src[d];
}

/* dst[r][0:hs] = scale * src row r; dst[r][hs:hsp] = 0; for r < rows. */
TILE_INLINE void load_rows(float* restrict dst, int64_t hsp,
                           const float* restrict src, int64_t src_stride,
                           int64_t rows, int64_t hs, float scale) {
    for (int64_t r = 0; r < rows; r++) {
        float* row = dst + r * hsp;
        scaled_copy(row, src + r * src_stride, hs, scale);
        for (int64_t d = hs; d < hsp; d++) row[d] = 0.0f;
    }
}

#if VECTOR_WIDTH == 8
/* dst[d * TILE + k] = scale * src[k * row_stride + d] for k, d < 8: an 8 x 8 transpose in
 * registers (unpack, shuffle, swap 128-bit halves: the classic AVX sequence). */
TILE_INLINE void transpose_8x8(float* restrict dst, const float* restrict src, int64_t row_stride,
                               float scale) {
    typedef int32_t vmask __attribute__((vector_size(32)));
    const vmask low_pairs = {0, 8, 1, 9, 4, 12, 5, 13}, high_pairs = {2, 10, 3, 11, 6, 14, 7, 15};
    const vmask low_quads = {0, 1, 8, 9, 4, 5, 12, 13}, high_quads = {2, 3, 10, 11, 6, 7, 14, 15};
    const vmask low_halves = {0, 1, 2, 3, 8, 9, 10, 11}, high_halves = {4, 5, 6, 7, 12, 13, 14, 15};
    vfloat r[8], t[8], u[8];
    for (int k = 0; k < 8; k++) r[k] = *(const vfloat_unaligned*)(src + k * row_stride) * scale;
    for (int k = 0; k < 8; k += 2) {
        t[k] = __builtin_shuffle(r[k], r[k + 1], low_pairs);
        t[k + 1] = __builtin_shuffle(r[k], r[k + 1], high_pairs);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = __builtin_shuffle(t[k], t[k + 2], low_quads);
        u[k + 1] = __builtin_shuffle(t[k], t[k + 2], high_quads);
        u[k + 2] = __builtin_shuffle(t[k + 1], t[k + 3], low_quads);
        u[k + 3] = __builtin_shuffle(t[k + 1], t[k + 3], high_quads);
    }
    for (int k = 0; k < 4; k++) {
        *(vfloat*)(dst + k * TILE) = __builtin_shuffle(u[k], u[k + 4], low_halves);
        *(vfloat*)(dst + (k + 4) * TILE) = __builtin_shuffle(u[k], u[k + 4], high_halves);
    }
}
#endif

/* dst (hs, TILE) = scale * rows 0..n-1 of src (rows row_stride apart) transposed, zero in
 * columns n..TILE-1: 8 x 8 blocks transposed in registers, the edges of other sizes element by
 * element. */
TILE_INLINE void load_transposed(float* restrict dst, const float* restrict src,
                                 int64_t row_stride, int64_t n, int64_t hs, float scale) {
    if (n < TILE) {
        for (int64_t d = 0; d < hs; d++) memset(dst + d * TILE + n, 0, (TILE - n) * sizeof(float));
    }
    int64_t rows_in_blocks = 0;
    const int64_t channels_in_blocks = hs / 8 * 8;
#if VECTOR_WIDTH == 8
    rows_in_blocks = n / 8 * 8;
    for (int64_t c = 0; c < rows_in_blocks; c += 8) {
        for (int64_t d = 0; d < channels_in_blocks; d += 8) {
            transpose_8x8(dst + d * TILE + c, src + c * row_stride + d, row_stride, scale);
        }
    }
#endif
    for (int64_t c = 0; c < n; c++) {
        for (int64_t d = c < rows_in_blocks ? channels_in_blocks : 0; d < hs; d++) {
            dst[d * TILE + c] = scale * src[c * row_stride + d];
        }
    }
}

/* dst[r][0:hs] = 0 for r < rows (rows dst_stride apart). */
TILE_INLINE void zero_rows(float* restrict dst, int64_t dst_stride, int64_t rows, int64_t hs) {
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t d = 0; d < hs; d++) dst[r * dst_stride + d] = 0.0f;
    }
}

/* dst[r][0:hs] += scale * src[r][0:hs] for r < rows (src rows hsp apart). */
TILE_INLINE void add_rows(float* restrict dst, int64_t dst_stride,
                          const float* restrict src, int64_t hsp,
                          int64_t rows, int64_t hs, float scale) {
    for (int64_t r = 0; r < rows; r++) {
        float* out = dst + r * dst_stride;
        const float* in = src + r * hsp;
        for (int64_t d = 0; d < hs; d++) out[d] += scale * in[d];
    }
}

/* Causal band of a tile: row r (a query, or a key in backward's transposed tiles) meets column or
 * inner index c only for r + band.lo <= c <= r + band.hi (both tile-local); elsewhere the scores
 * are masked and the weights P and dS are 0. Products skip what lies outside: sums are unchanged
 * (they would add exact zeros), and a tile on the diagonal loses its masked half. */
typedef struct {
    int64_t lo, hi;
} band;

#define NO_LIMIT ((int64_t)1 << 40)

/* [*begin, *end): the inner indices rows first .. first + count - 1 may have nonzero; 0 if none. */
TILE_INLINE int band_range(int64_t* begin, int64_t* end, band nonzero, int64_t first,
                           int64_t count, int64_t inner) {
    *begin = first + nonzero.lo < 0 ? 0 : first + nonzero.lo;
    *end = first + count + nonzero.hi < inner ? first + count + nonzero.hi : inner;
    return *begin < *end;
}

/* ---- tile products ------------------------------------------------------------------------- */

/* out[i][0:width] = Σ_{d < depth} a[i][d] · bt[d][0:width] for i < rows, width = vectors *
 * VECTOR_WIDTH, all rows x vectors sums in registers; out and bt rows TILE apart. */
TILE_INLINE void scores_block(float* restrict out, const float* restrict a, int64_t a_stride,
                              const float* restrict bt, int64_t depth, int rows, int vectors) {
    vfloat acc[MAX_ROW_BLOCK][MAX_BLOCK_VECTORS];
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < vectors; j++) acc[i][j] = vsplat(0.0f);
    }
    for (int64_t d = 0; d < depth; d++) {
        vfloat b[MAX_BLOCK_VECTORS];    /* in registers, reused by every row of the block */
        for (int j = 0; j < vectors; j++) b[j] = ((const vfloat*)(bt + d * TILE))[j];
        for (int i = 0; i < rows; i++) {
            const float a_id = a[i * a_stride + d];
            for (int j = 0; j < vectors; j++) acc[i][j] += a_id * b[j];
        }
    }
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < vectors; j++) ((vfloat*)(out + i * TILE))[j] = acc[i][j];
    }
}

/* out (rows, TILE) = a (rows, depth) · bt (depth, TILE): scores Q·Kᵀ, or dO·Vᵀ, in blocks of
 * row_block rows x 2 vectors; a vector wholly outside the band is written as 0 (to be masked, or
 * multiplied by P = 0) instead, so a block the diagonal crosses may take one vector (T = 64:
 * forward 156 -> 151 us, backward 281 -> 272 us). A lone row (a decoding step) takes the whole
 * tile width at once. */
TILE_INLINE void tile_scores(float* restrict out, const float* restrict a, int64_t a_stride,
                             const float* restrict bt, int64_t depth, int64_t rows, int row_block,
                             band visible) {
    int64_t i = 0, begin, end;
    for (; i + row_block <= rows; i += row_block) {
        const int any = band_range(&begin, &end, visible, i, row_block, TILE);
        for (int64_t v = 0; v < TILE; v += 2 * VECTOR_WIDTH) {
            /* which of the two vectors may hold a score in the band */
            const int first = any && begin < v + VECTOR_WIDTH && v < end;
            const int second = any && begin < v + 2 * VECTOR_WIDTH && v + VECTOR_WIDTH < end;
            if (first && second) {
                scores_block(out + i * TILE + v, a + i * a_stride, a_stride, bt + v, depth,
                             row_block, 2);
                continue;
            }
            if (first || second) {    /* on the diagonal: half the block */
                scores_block(out + i * TILE + v + (first ? 0 : VECTOR_WIDTH), a + i * a_stride,
                             a_stride, bt + v + (first ? 0 : VECTOR_WIDTH), depth, row_block, 1);
            }
            for (int r = 0; r < row_block; r++) {
                vfloat* pair = (vfloat*)(out + (i + r) * TILE + v);
                if (!first) pair[0] = vsplat(0.0f);
                if (!second) pair[1] = vsplat(0.0f);
            }
        }
    }
    for (; i < rows; i++) {
        scores_block(out + i * TILE, a + i * a_stride, a_stride, bt, depth, 1, TILE_VECTORS);
    }
}

/* acc[i][0:width] += Σ_{c < inner} w[i][c] · x[c][0:width] for i < rows, width = vectors *
 * VECTOR_WIDTH, all rows x vectors sums in registers; acc rows are acc_stride apart and x rows
 * x_stride apart (any alignment: x may be a tile or rows read in place), and
 * w[i][c] = w[i * w_row + c * w_inner]. */
TILE_INLINE void accumulate_block(float* restrict acc, int64_t acc_stride, const float* restrict w,
                                  int64_t w_row, int64_t w_inner, const float* restrict x,
                                  int64_t x_stride, int64_t inner, int rows, int vectors) {
    vfloat sum[MAX_ROW_BLOCK][MAX_BLOCK_VECTORS];
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < vectors; j++) {
            sum[i][j] = *(vfloat_unaligned*)(acc + i * acc_stride + j * VECTOR_WIDTH);
        }
    }
    for (int64_t c = 0; c < inner; c++) {
        vfloat x_c[MAX_BLOCK_VECTORS];
        for (int j = 0; j < vectors; j++) {
            x_c[j] = *(const vfloat_unaligned*)(x + c * x_stride + j * VECTOR_WIDTH);
        }
        for (int i = 0; i < rows; i++) {
            const float w_ic = w[i * w_row + c * w_inner];
            for (int j = 0; j < vectors; j++) sum[i][j] += w_ic * x_c[j];
        }
    }
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < vectors; j++) {
            *(vfloat_unaligned*)(acc + i * acc_stride + j * VECTOR_WIDTH) = sum[i][j];
        }
    }
}

/* The `rows` rows of acc from acc_stride apart += w · x over all hsp columns, `vectors` vectors at
 * a time (then one at a time for the rest). */
TILE_INLINE void accumulate_rows(float* restrict acc, int64_t acc_stride, const float* restrict w,
                                 int64_t w_row, int64_t w_inner, const float* restrict x,
                                 int64_t x_stride, int64_t inner, int64_t hsp, int rows,
                                 int vectors) {
    int64_t v = 0;
    for (; v + vectors * VECTOR_WIDTH <= hsp; v += vectors * VECTOR_WIDTH) {
        accumulate_block(acc + v, acc_stride, w, w_row, w_inner, x + v, x_stride, inner, rows,
                         vectors);
    }
    for (; v < hsp; v += VECTOR_WIDTH) {
        accumulate_block(acc + v, acc_stride, w, w_row, w_inner, x + v, x_stride, inner, rows, 1);
    }
}

/* acc (rows, hsp) += w (rows, inner) · x (inner, hsp), strided as in accumulate_block, over the
 * part of inner that w's band leaves to each block of rows: O += P·V and dV += Pᵀ·dO,
 * dK += dSᵀ·Q (w as stored), dQ += dS·K (w read transposed). Blocks of row_block rows x 2
 * vectors; a lone row (a decoding step) takes 4 vectors at a time, so that four independent sums
 * hide the latency of the multiply-adds. */
TILE_INLINE void tile_accumulate(float* restrict acc, int64_t acc_stride, const float* restrict w,
                                 int64_t w_row, int64_t w_inner,
                                 const float* restrict x, int64_t x_stride, int64_t inner,
                                 int64_t hsp, int64_t rows, int row_block, band nonzero) {
    int64_t i = 0, begin, end;
    for (; i + row_block <= rows; i += row_block) {
        if (band_range(&begin, &end, nonzero, i, row_block, inner)) {
            accumulate_rows(acc + i * acc_stride, acc_stride, w + i * w_row + begin * w_inner,
                            w_row, w_inner, x + begin * x_stride, x_stride, end - begin, hsp,
                            row_block, 2);
        }
    }
    for (; i < rows; i++) {
        if (band_range(&begin, &end, nonzero, i, 1, inner)) {
            accumulate_rows(acc + i * acc_stride, acc_stride, w + i * w_row + begin * w_inner,
                            w_row, w_inner, x + begin * x_stride, x_stride, end - begin, hsp, 1,
                            MAX_BLOCK_VECTORS);
        }
    }
}

/* a + b, or the larger of the two when `maximum` (a constant wherever this is inlined). */
TILE_INLINE vfloat combine(vfloat a, vfloat b, int maximum) { return maximum ? vmax(a, b) : a + b; }

/* Lane r of the result = the sum (or the max, when `maximum`) of the lanes of acc[r]:
 * VECTOR_WIDTH horizontal reductions at once, by combining pairs, then quads (then halves) of
 * lanes across vectors. */
TILE_INLINE vfloat reduce_lanes(const vfloat acc[VECTOR_WIDTH], int maximum) {
#if VECTOR_WIDTH == 8
    typedef int32_t vindex __attribute__((vector_size(32)));
    const vindex even = {0, 8, 2, 10, 4, 12, 6, 14}, odd = {1, 9, 3, 11, 5, 13, 7, 15};
    const vindex low_pairs = {0, 1, 8, 9, 4, 5, 12, 13}, high_pairs = {2, 3, 10, 11, 6, 7, 14, 15};
    const vindex low_half = {0, 1, 2, 3, 8, 9, 10, 11}, high_half = {4, 5, 6, 7, 12, 13, 14, 15};
    vfloat pairs[4], quads[2];
    for (int r = 0; r < 4; r++) {     /* lanes of acc[2r] (even) and acc[2r+1] (odd) summed in 2s */
        pairs[r] = combine(__builtin_shuffle(acc[2 * r], acc[2 * r + 1], even),
                           __builtin_shuffle(acc[2 * r], acc[2 * r + 1], odd), maximum);
    }
    for (int r = 0; r < 2; r++) {     /* acc[4r .. 4r+3] in lanes 0-3 and 4-7, summed in 4s */
        quads[r] = combine(__builtin_shuffle(pairs[2 * r], pairs[2 * r + 1], low_pairs),
                           __builtin_shuffle(pairs[2 * r], pairs[2 * r + 1], high_pairs), maximum);
    }
    return combine(__builtin_shuffle(quads[0], quads[1], low_half),
                   __builtin_shuffle(quads[0], quads[1], high_half), maximum);
#else
    typedef int32_t vindex __attribute__((vector_size(16)));
    const vindex even = {0, 4, 2, 6}, odd = {1, 5, 3, 7};
    const vindex low_pairs = {0, 1, 4, 5}, high_pairs = {2, 3, 6, 7};
    const vfloat pairs0 = combine(__builtin_shuffle(acc[0], acc[1], even),
                                  __builtin_shuffle(acc[0], acc[1], odd), maximum);
    const vfloat pairs1 = combine(__builtin_shuffle(acc[2], acc[3], even),
                                  __builtin_shuffle(acc[2], acc[3], odd), maximum);
    return combine(__builtin_shuffle(pairs0, pairs1, low_pairs),
                   __builtin_shuffle(pairs0, pairs1, high_pairs), maximum);
#endif
}

/* out[c] = q · k_c for c < n, out[c] for n <= c < n rounded up to a vector undefined: one query
 * row q (hs floats, hs a whole number of vectors) against key rows k_c = k + c * k_stride read
 * in place. A decoding step's scores: no key tile to copy for a single query row. VECTOR_WIDTH
 * keys at a time, each key's sum in one vector, reduced together by reduce_lanes. */
TILE_INLINE void row_scores(float* restrict out, const float* restrict q, const float* restrict k,
                            int64_t k_stride, int64_t n, int64_t hs) {
    for (int64_t c = 0; c < n; c += VECTOR_WIDTH) {
        const float* key[VECTOR_WIDTH];
        vfloat acc[VECTOR_WIDTH];
        for (int r = 0; r < VECTOR_WIDTH; r++) {      /* past n: key n - 1 again, result unused */
            key[r] = k + (c + r < n ? c + r : n - 1) * k_stride;
            acc[r] = vsplat(0.0f);
        }
        for (int64_t d = 0; d < hs; d += VECTOR_WIDTH) {
            const vfloat q_d = *(const vfloat_unaligned*)(q + d);
            for (int r = 0; r < VECTOR_WIDTH; r++) {
                acc[r] += q_d * *(const vfloat_unaligned*)(key[r] + d);
            }
        }
        *(vfloat_unaligned*)(out + c) = reduce_lanes(acc, 0);
    }
}

/* ---- masking and softmax ------------------------------------------------------------------ */

/* key_visible[c] = 1 for the real tokens among keys j0 .. j0+n-1, 0 for padding and c >= n.
 * Returns how many keys of the tile are real. */
TILE_INLINE int64_t key_tile_mask(uint8_t key_visible[TILE], const uint8_t* key_mask,
                                  int64_t j0, int64_t n) {
    int64_t real = 0;
    for (int64_t c = 0; c < TILE; c++) {
        key_visible[c] = c < n && (key_mask == NULL || key_mask[j0 + c] != 0);
        real += key_visible[c];
    }
    return real;
}

/* Sets the score of query i and key c to -inf where query i (at position p0 + i) may not see key
 * j0 + c, for i < queries, c < keys, in a tile whose rows (TILE floats, vectors) are queries
 * (scores[i * TILE + c], keys_are_rows = 0: forward) or keys (scores[c * TILE + i], backward).
 * Whole vectors at a time, by comparing lane numbers: a row of queries hides the keys past
 * p0 + i and the padding; a row of keys (all hidden if padding) the queries before j0 + c. */
TILE_INLINE void mask_scores(float* restrict scores, int keys_are_rows, int64_t queries,
                             int64_t keys, int64_t p0, int64_t j0,
                             const uint8_t key_visible[TILE], int64_t real_keys) {
    if (real_keys == TILE && j0 + TILE - 1 <= p0) return;   /* all visible to all queries */
    vint lane;
    for (int l = 0; l < VECTOR_WIDTH; l++) lane[l] = l;
    const vfloat hidden = vsplat(-INFINITY);
    if (!keys_are_rows) {
        vint visible[TILE_VECTORS];
        for (int v = 0; v < TILE_VECTORS; v++) {
            for (int l = 0; l < VECTOR_WIDTH; l++) {
                const int64_t c = v * VECTOR_WIDTH + l;
                visible[v][l] = c < keys && key_visible[c] ? -1 : 0;
            }
        }
        for (int64_t i = 0; i < queries; i++) {
            vfloat* row = (vfloat*)(scores + i * TILE);
            const vint last_key = (vint){0} + (int32_t)(p0 + i - j0);   /* last key query i sees */
            for (int v = 0; v < TILE_VECTORS; v++) {
                const vint seen = visible[v] & (lane + v * VECTOR_WIDTH <= last_key);
                row[v] = vselect(seen, row[v], hidden);
            }
        }
    } else {
        for (int64_t c = 0; c < keys; c++) {
            vfloat* row = (vfloat*)(scores + c * TILE);
            const vint first_query = (vint){0} + (int32_t)(j0 + c - p0);  /* first that sees c */
            const vint visible = (vint){0} + (key_visible[c] ? -1 : 0);
            for (int v = 0; v < TILE_VECTORS; v++) {
                const vint query = lane + v * VECTOR_WIDTH;
                const vint seen = (visible & (query >= first_query)) | (query >= (int32_t)queries);
                row[v] = vselect(seen, row[v], hidden);
            }
        }
    }
}

/* One tile of the online softmax for query rows 0 .. rows - 1 (scores rows TILE apart, keys
 * columns 0 .. keys - 1 of them): folds each row's scores into its running max and sum, rescales
 * its running output row (hsp floats, rows hsp apart) to the new max, and leaves exp(score - max)
 * in place (0 for masked keys, and for the whole row while it has seen no key). VECTOR_WIDTH rows
 * at a time: their maxima and sums reduced together (reduce_lanes), their rescaling factors one
 * vector exp. Row i sees no key past i + visible.hi: the vectors beyond are 0 without an exp. */
TILE_INLINE void online_softmax_rows(float* restrict scores, float* restrict running_max,
                                     float* restrict running_sum, float* restrict out,
                                     int64_t hsp, int64_t rows, int64_t keys, band visible) {
    for (int64_t r0 = 0; r0 < rows; r0 += VECTOR_WIDTH) {
        const int64_t count = rows - r0 < VECTOR_WIDTH ? rows - r0 : VECTOR_WIDTH;
        int64_t vectors[VECTOR_WIDTH];     /* of row r0 + r that may hold a visible key */
        vfloat row_max[VECTOR_WIDTH], row_sum[VECTOR_WIDTH];
        for (int r = 0; r < VECTOR_WIDTH; r++) {
            const int64_t i = r0 + (r < count ? r : count - 1);   /* past rows: the last, unused */
            int64_t begin, end;
            vectors[r] = band_range(&begin, &end, visible, i, 1, keys)
                             ? (end + VECTOR_WIDTH - 1) / VECTOR_WIDTH : 0;
            const vfloat* s = (const vfloat*)(scores + i * TILE);
            row_max[r] = vsplat(-INFINITY);
            for (int64_t j = 0; j < vectors[r]; j++) row_max[r] = vmax(row_max[r], s[j]);
        }
        const vfloat old_max = *(vfloat*)(running_max + r0);
        const vfloat new_max = vmax(old_max, reduce_lanes(row_max, 1));
        /* A row that has seen no key keeps max -inf: shifting it by 0 keeps its scores -inf (their
         * exp 0) where -inf - -inf would make NaN. */
        const vfloat shift = vselect(new_max > vsplat(-INFINITY), new_max, vsplat(0.0f));
        const vfloat rescale = vexp(old_max - shift);          /* 0 when the old max is -inf */
        for (int r = 0; r < VECTOR_WIDTH; r++) {
            row_sum[r] = vsplat(0.0f);
            if (r >= count) continue;
            vfloat* s = (vfloat*)(scores + (r0 + r) * TILE);
            for (int64_t j = 0; j < TILE_VECTORS; j++) {
                s[j] = j < vectors[r] ? vexp(s[j] - shift[r]) : vsplat(0.0f);
                row_sum[r] += s[j];
            }
            if (rescale[r] != 1.0f) {
                vfloat* o = (vfloat*)(out + (r0 + r) * hsp);
                for (int64_t v = 0; v < hsp / VECTOR_WIDTH; v++) o[v] *= rescale[r];
            }
        }
        *(vfloat*)(running_sum + r0) = *(vfloat*)(running_sum + r0) * rescale
                                     + reduce_lanes(row_sum, 0);
        *(vfloat*)(running_max + r0) = new_max;
    }
}

/* ---- one head ------------------------------------------------------------------------------ */

/* One head of one batch row. Query i sits at position Tk - Tq + i. Rows of hs contiguous
 * floats, strides in floats: query row i is q + i * q_stride, key row j k + j * k_stride, value
 * row j v + j * v_stride. */
typedef struct {
    const float* q;
    int64_t q_stride;
    const float* k;
    int64_t k_stride;
    const float* v;
    int64_t v_stride;
    const uint8_t* key_mask;   /* (Tk,) or NULL */
    int64_t Tq, Tk, hs;
    float scale;
} head_inputs;

typedef struct {
    float* out;                /* (Tq, hs) rows out_stride apart */
    int64_t out_stride;
    float* lse;                /* (Tq,) or NULL */
} head_outputs;

typedef struct {
    float* dq;                 /* (Tq, hs) rows dqkv_stride apart, accumulated; dk, dv (Tk, hs) */
    float* dk;
    float* dv;
    int64_t dqkv_stride;
    const float* dout;         /* (Tq, hs) rows out_stride apart, like out */
    const float* out;
    int64_t out_stride;
    const float* lse;          /* (Tq,) */
} head_gradients;

TILE_INLINE int64_t round_up_to_vector(int64_t n) {
    return (n + VECTOR_WIDTH - 1) / VECTOR_WIDTH * VECTOR_WIDTH;
}

/* A decoding step reads a head's cached keys and values once, from memory (the cache outgrows
 * L3 within a few hundred positions at GPT-2 124M), a tile of each at a time: asking for the
 * next tile's rows while this one is computed keeps the memory busy between tiles (GPT-2 124M,
 * 12 layers, cold caches, 1 thread, A/B: 512 positions 3.6-5.4 -> 3.0-3.2 ms a token, 1024
 * 7.5-11.0 -> 5.6-6.0; 2 tiles or 4 ahead gained less). */
TILE_INLINE void prefetch_next_key_tile(const head_inputs* in, int64_t j0, int64_t key_end) {
    const int64_t n = key_end - j0 < TILE ? key_end - j0 : TILE;
    for (int64_t r = 0; r < n; r++)
        for (int64_t d = 0; d < in->hs; d += 64 / (int64_t)sizeof(float)) {
            __builtin_prefetch(in->k + (j0 + r) * in->k_stride + d, 0, 2);
            __builtin_prefetch(in->v + (j0 + r) * in->v_stride + d, 0, 2);
        }
}

/* Forward for queries i0 .. i0 + TILE - 1 (or fewer at the end) of one head. */
TILE_INLINE void forward_query_tile(const head_inputs* in, const head_outputs* res, int64_t i0,
                                    int row_block) {
    const int64_t hs = in->hs, hsp = round_up_to_vector(hs);
    const int64_t rows = in->Tq - i0 < TILE ? in->Tq - i0 : TILE;
    const int64_t p0 = in->Tk - in->Tq + i0;                       /* position of query i0 */
    const int64_t key_end = p0 + rows < in->Tk ? p0 + rows : in->Tk;
    vfloat q_buf[TILE * hsp / VECTOR_WIDTH], o_buf[TILE * hsp / VECTOR_WIDTH];
    vfloat kt_buf[hs * TILE_VECTORS], v_buf[TILE * hsp / VECTOR_WIDTH];
    vfloat p_buf[TILE * TILE_VECTORS];
    vfloat running_max_buf[TILE_VECTORS], running_sum_buf[TILE_VECTORS];   /* per query row */
    float *q = (float*)q_buf, *o = (float*)o_buf, *kt = (float*)kt_buf, *v = (float*)v_buf;
    float* p = (float*)p_buf;
    float *running_max = (float*)running_max_buf, *running_sum = (float*)running_sum_buf;
    uint8_t key_visible[TILE];
    /* Whole-vector rows are read in place: key rows by a single query row (a decoding step), value
     * rows always. Other sizes are copied into zero-padded tiles. */
    const int in_place = hs == hsp;

    load_rows(q, hsp, in->q + i0 * in->q_stride, in->q_stride, rows, hs, in->scale);
    memset(o, 0, rows * hsp * sizeof(float));
    for (int64_t i = 0; i < TILE; i++) {
        running_max[i] = -INFINITY;
        running_sum[i] = 0.0f;
    }
    for (int64_t j0 = 0; j0 < key_end; j0 += TILE) {
        const int64_t n = key_end - j0 < TILE ? key_end - j0 : TILE;
        const int64_t real_keys = key_tile_mask(key_visible, in->key_mask, j0, n);
        if (real_keys == 0) continue;
        const float* k_rows = in->k + j0 * in->k_stride;
        const band causal = {-NO_LIMIT, p0 - j0};   /* query i sees keys c <= i + p0 - j0 */
        if (rows == 1 && in_place && j0 + TILE < key_end)
            prefetch_next_key_tile(in, j0 + TILE, key_end);
        if (rows == 1 && in_place) {
            row_scores(p, q, k_rows, in->k_stride, n, hs);
        } else {
            load_transposed(kt, k_rows, in->k_stride, n, hs, 1.0f);
            tile_scores(p, q, hsp, kt, hs, rows, row_block, causal);
        }
        mask_scores(p, 0, rows, TILE, p0, j0, key_visible, real_keys);
        online_softmax_rows(p, running_max, running_sum, o, hsp, rows, n, causal);
        const float* v_rows = in->v + j0 * in->v_stride;
        if (in_place) {
            tile_accumulate(o, hsp, p, TILE, 1, v_rows, in->v_stride, n, hsp, rows, row_block,
                            causal);
        } else {
            load_rows(v, hsp, v_rows, in->v_stride, n, hs, 1.0f);
            tile_accumulate(o, hsp, p, TILE, 1, v, hsp, n, hsp, rows, row_block, causal);
        }
    }
    for (int64_t i = 0; i < rows; i++) {
        float* out_row = res->out + (i0 + i) * res->out_stride;
        const int sees_a_key = running_sum[i] > 0.0f;
        const float inverse_sum = sees_a_key ? 1.0f / running_sum[i] : 0.0f;
        for (int64_t d = 0; d < hs; d++) out_row[d] = o[i * hsp + d] * inverse_sum;
        if (res->lse != NULL) {
            res->lse[i0 + i] = sees_a_key ? running_max[i] + logf(running_sum[i]) : INFINITY;
        }
    }
}

/* grad rows (n, hs), grad_stride apart, += w (n, rows) · x (rows, hsp), w rows TILE apart: in place
 * when hs is whole vectors, else through the scratch tile (n, hsp). */
TILE_INLINE void accumulate_key_gradient(float* restrict grad, int64_t grad_stride,
                                         float* restrict scratch, const float* restrict w,
                                         const float* restrict x, int64_t rows, int64_t n,
                                         int64_t hs, int row_block, band nonzero) {
    const int64_t hsp = round_up_to_vector(hs);
    if (hs == hsp) {
        tile_accumulate(grad, grad_stride, w, TILE, 1, x, hsp, rows, hsp, n, row_block, nonzero);
        return;
    }
    memset(scratch, 0, n * hsp * sizeof(float));
    tile_accumulate(scratch, hsp, w, TILE, 1, x, hsp, rows, hsp, n, row_block, nonzero);
    add_rows(grad, grad_stride, scratch, hsp, n, hs, 1.0f);
}

/* Backward of one head (Tq == Tk), writing its dq, dk and dv (zeroed first: key rows accumulate
 * over query tiles); flash-attention 2: per query tile, per visible key tile,
 * recompute P = exp(S - lse), then dS = P ∘ (dO·Vᵀ - D) with D_i = dO_i · O_i, and
 * dQ += dS·K/sqrt(hs), dK += dSᵀ·Q/sqrt(hs), dV += Pᵀ·dO. The tiles are kept transposed, (key,
 * query): Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ then read K and V rows in place, and only the query tile is
 * transposed, once for all its key tiles. */
TILE_INLINE void backward_head(const head_inputs* in, const head_gradients* g, int row_block) {
    const int64_t hs = in->hs, hsp = round_up_to_vector(hs), T = in->Tq;
    vfloat qt_buf[hs * TILE_VECTORS], dout_t_buf[hs * TILE_VECTORS];          /* (hs, TILE) */
    vfloat q_buf[TILE * hsp / VECTOR_WIDTH], dout_buf[TILE * hsp / VECTOR_WIDTH];
    vfloat dq_buf[TILE * hsp / VECTOR_WIDTH];
    vfloat k_buf[TILE * hsp / VECTOR_WIDTH], scratch_buf[TILE * hsp / VECTOR_WIDTH];
    vfloat pt_buf[TILE * TILE_VECTORS], dst_buf[TILE * TILE_VECTORS];         /* (key, query) */
    vfloat lse_buf[TILE_VECTORS], out_dot_dout_buf[TILE_VECTORS];
    float *qt = (float*)qt_buf, *dout_t = (float*)dout_t_buf;
    float *q = (float*)q_buf, *dout = (float*)dout_buf, *dq = (float*)dq_buf;
    float *k = (float*)k_buf, *pt = (float*)pt_buf, *dst = (float*)dst_buf;
    float* scratch = (float*)scratch_buf;   /* O rows for D, then accumulate_key_gradient's */
    float *lse = (float*)lse_buf, *out_dot_dout = (float*)out_dot_dout_buf;
    uint8_t key_visible[TILE];

    zero_rows(g->dk, g->dqkv_stride, T, hs);    /* key tiles accumulate over query tiles */
    zero_rows(g->dv, g->dqkv_stride, T, hs);
    for (int64_t i0 = 0; i0 < T; i0 += TILE) {
        const int64_t rows = T - i0 < TILE ? T - i0 : TILE;
        const int64_t key_end = i0 + rows;
        const float* q_rows = in->q + i0 * in->q_stride;
        const float* dout_rows = g->dout + i0 * g->out_stride;
        load_rows(q, hsp, q_rows, in->q_stride, rows, hs, in->scale);
        load_rows(dout, hsp, dout_rows, g->out_stride, rows, hs, 1.0f);
        load_transposed(qt, q_rows, in->q_stride, rows, hs, in->scale);
        load_transposed(dout_t, dout_rows, g->out_stride, rows, hs, 1.0f);
        memset(dq, 0, rows * hsp * sizeof(float));
        load_rows(scratch, hsp, g->out + i0 * g->out_stride, g->out_stride, rows, hs, 1.0f);
        for (int64_t r0 = 0; r0 < TILE; r0 += VECTOR_WIDTH) {   /* D_i = dO_i · O_i */
            vfloat dot[VECTOR_WIDTH];
            for (int r = 0; r < VECTOR_WIDTH; r++) {
                const int64_t i = r0 + r;
                dot[r] = vsplat(0.0f);
                for (int64_t v = 0; i < rows && v < hsp / VECTOR_WIDTH; v++) {
                    dot[r] += ((vfloat*)(scratch + i * hsp))[v] * ((vfloat*)(dout + i * hsp))[v];
                }
                lse[i] = i < rows ? g->lse[i0 + i] : INFINITY;   /* past the tile: P = 0 */
            }
            *(vfloat*)(out_dot_dout + r0) = reduce_lanes(dot, 0);
        }
        for (int64_t j0 = 0; j0 < key_end; j0 += TILE) {
            const int64_t n = key_end - j0 < TILE ? key_end - j0 : TILE;
            const int64_t real_keys = key_tile_mask(key_visible, in->key_mask, j0, n);
            if (real_keys == 0) continue;
            const float* k_rows = in->k + j0 * in->k_stride;
            /* Query i0 + i sees key j0 + c when, by query row, c <= i + i0 - j0, or by key row
             * (the transposed tiles), i >= c + j0 - i0. */
            const band keys_seen = {-NO_LIMIT, i0 - j0}, queries_seeing = {j0 - i0, NO_LIMIT};
            tile_scores(pt, k_rows, in->k_stride, qt, hs, n, row_block, queries_seeing); /* Sᵀ */
            mask_scores(pt, 1, rows, n, i0, j0, key_visible, real_keys);
            tile_scores(dst, in->v + j0 * in->v_stride, in->v_stride, dout_t, hs, n, row_block,
                        queries_seeing);                                             /* dPᵀ */
            for (int64_t c = 0; c < n; c++) {
                vfloat* p_row = (vfloat*)(pt + c * TILE);
                vfloat* ds_row = (vfloat*)(dst + c * TILE);
                int64_t begin, end;                 /* the queries that see key c */
                const int64_t first_vector = band_range(&begin, &end, queries_seeing, c, 1, TILE)
                                                 ? begin / VECTOR_WIDTH : TILE_VECTORS;
                for (int64_t j = 0; j < TILE_VECTORS; j++) {
                    if (j < first_vector) {        /* all masked: P = dS = 0, without the exp */
                        p_row[j] = ds_row[j] = vsplat(0.0f);
                        continue;
                    }
                    p_row[j] = vexp(p_row[j] - lse_buf[j]);    /* 0 if masked or lse = inf */
                    ds_row[j] = p_row[j] * (ds_row[j] - out_dot_dout_buf[j]);
                }
            }
            if (hs == hsp) {                                                         /* dS·K */
                tile_accumulate(dq, hsp, dst, 1, TILE, k_rows, in->k_stride, n, hsp, rows,
                                row_block, keys_seen);
            } else {
                load_rows(k, hsp, k_rows, in->k_stride, n, hs, 1.0f);
                tile_accumulate(dq, hsp, dst, 1, TILE, k, hsp, n, hsp, rows, row_block,
                                keys_seen);
            }
            accumulate_key_gradient(g->dv + j0 * g->dqkv_stride, g->dqkv_stride, scratch, pt,
                                    dout, rows, n, hs, row_block, queries_seeing);  /* Pᵀ·dO */
            accumulate_key_gradient(g->dk + j0 * g->dqkv_stride, g->dqkv_stride, scratch, dst,
                                    q, rows, n, hs, row_block, queries_seeing);  /* dSᵀ·Q */
        }
        for (int64_t i = 0; i < rows; i++) {
            scaled_copy(g->dq + (i0 + i) * g->dqkv_stride, dq + i * hsp, hs, in->scale);
        }
    }
}

/* ---- one compiled copy per instruction set, chosen at run time ---------------------------- */

#define COMPILE_PER_ISA(kernel, params, ...)                                                  \
    __attribute__((target("avx512f,avx512vl"))) static void kernel##_avx512 params {           \
        kernel(__VA_ARGS__, 8);                                                                \
    }                                                                                          \
    __attribute__((target("avx2,fma"))) static void kernel##_avx2 params {                     \
        kernel(__VA_ARGS__, 4);                                                                \
    }                                                                                          \
    static void kernel##_portable params { kernel(__VA_ARGS__, 4); }

COMPILE_PER_ISA(forward_query_tile, (const head_inputs* in, const head_outputs* res, int64_t i0),
                in, res, i0)
COMPILE_PER_ISA(backward_head, (const head_inputs* in, const head_gradients* g), in, g)

typedef void (*forward_fn)(const head_inputs*, const head_outputs*, int64_t);
typedef void (*backward_head_fn)(const head_inputs*, const head_gradients*);

static forward_fn select_forward(void) {
    switch (llm_simd_level()) {
        case LLM_SIMD_AVX512: return forward_query_tile_avx512;
        case LLM_SIMD_AVX2: return forward_query_tile_avx2;
        default: return forward_query_tile_portable;
    }
}

static backward_head_fn select_backward_head(void) {
    switch (llm_simd_level()) {
        case LLM_SIMD_AVX512: return backward_head_avx512;
        case LLM_SIMD_AVX2: return backward_head_avx2;
        default: return backward_head_portable;
    }
}

/* ---- public functions ---------------------------------------------------------------------- */

/* Asks for `rows` rows of hs floats, `stride` apart, to be brought into L2 (for writing when
 * `write`): a task prefetches the next task's head slices while it computes, as they usually
 * come from L3 (in training, the rows of one head are 128-byte pieces of 1.5 KB rows, too sparse
 * for the hardware prefetcher: cold operands made backward 45% slower). */
static void prefetch_rows(const float* rows, int64_t stride, int64_t n, int64_t hs, int write) {
    for (int64_t r = 0; r < n; r++) {
        for (int64_t d = 0; d < hs; d += 16) {
            if (write) {
                __builtin_prefetch(rows + r * stride + d, 1, 2);
            } else {
                __builtin_prefetch(rows + r * stride + d, 0, 2);
            }
        }
    }
}

/* Whether a call of `work` multiply-adds should enter an OpenMP region: enough work, and more
 * than one thread to share it (a region costs ~0.3 us even on one thread; the machine's load
 * may leave one: threads.h). */
static int worth_threads(int64_t work) {
#ifdef _OPENMP
    if (work < PARALLEL_MIN_WORK) return 0;
    llm_threads_adapt();
    return omp_get_max_threads() > 1;
#else
    (void)work;
    return 0;
#endif
}

static int valid_sizes(int64_t B, int64_t Tq, int64_t Tk, int64_t C, int64_t NH) {
    return B >= 0 && Tq >= 0 && Tk >= Tq && NH >= 1 && C >= NH && C % NH == 0
        && C / NH <= ATTENTION_MAX_HEAD_SIZE;
}

/* One forward call: the arguments of forward_heads and how its work is cut into tasks. */
typedef struct {
    float* out;
    float* stats;
    const float *q, *k, *v;
    int64_t q_strides[2], kv_strides[3];   /* q: batch, row; k and v: batch, head, row */
    const uint8_t* key_mask;
    int64_t mask_stride, Tq, Tk, C, NH;
    int64_t query_tiles;           /* per (batch row, head) */
    int64_t tasks;
    int prefetch_next;             /* each thread runs a contiguous run of tasks and prefetches */
    forward_fn kernel;
} forward_job;

/* Task `task` of job: one query tile of one head of one batch row, its first query i0. Causal
 * tiles cost more the later they sit: the last ones come first. */
static void forward_task_slices(const forward_job* job, int64_t task, head_inputs* in,
                                head_outputs* res, int64_t* i0) {
    const int64_t C = job->C, NH = job->NH, hs = C / NH, Tq = job->Tq, Tk = job->Tk;
    const int64_t tile = job->query_tiles - 1 - task % job->query_tiles;
    const int64_t b = task / job->query_tiles / NH, h = task / job->query_tiles % NH;
    *in = (head_inputs){
        .q = job->q + b * job->q_strides[0] + h * hs, .q_stride = job->q_strides[1],
        .k = job->k + b * job->kv_strides[0] + h * job->kv_strides[1],
        .k_stride = job->kv_strides[2],
        .v = job->v + b * job->kv_strides[0] + h * job->kv_strides[1],
        .v_stride = job->kv_strides[2],
        .key_mask = job->key_mask ? job->key_mask + b * job->mask_stride : NULL,
        .Tq = Tq, .Tk = Tk, .hs = hs, .scale = 1.0f / sqrtf((float)hs),
    };
    *res = (head_outputs){
        .out = job->out + (b * Tq) * C + h * hs, .out_stride = C,
        .lse = job->stats ? job->stats + (b * NH + h) * Tq : NULL,
    };
    *i0 = tile * TILE;
}

static void forward_task(const forward_job* job, int64_t task) {
    head_inputs in;
    head_outputs res;
    int64_t i0;
    if (job->prefetch_next && task + 1 < job->tasks) {   /* the rows the next task reads */
        forward_task_slices(job, task + 1, &in, &res, &i0);
        const int64_t rows = in.Tq - i0 < TILE ? in.Tq - i0 : TILE;
        const int64_t key_end = in.Tk - in.Tq + i0 + rows;
        prefetch_rows(in.q + i0 * in.q_stride, in.q_stride, rows, in.hs, 0);
        prefetch_rows(in.k, in.k_stride, key_end, in.hs, 0);
        prefetch_rows(in.v, in.v_stride, key_end, in.hs, 0);
        prefetch_rows(res.out + i0 * res.out_stride, res.out_stride, rows, in.hs, 1);
    }
    forward_task_slices(job, task, &in, &res, &i0);
    job->kernel(&in, &res, i0);
}

/* The one forward path: full self-attention (Tq == Tk, q/k/v inside qkv) and the cached forward.
 * Strides in floats: q_strides (batch, row) of q (head h at column h * hs), kv_strides (batch,
 * head, row) of k and v; key_mask rows are mask_stride apart. prefetch_next: for the full
 * forward, whose rows come from L3 in training (cold: +50% time); tasks are then split in
 * contiguous runs (their costs alternate with the tile, so runs balance), else handed out
 * dynamically (a cache's rows stream in order anyway). */
static void forward_heads(float* out, float* stats,
                          const float* q, const int64_t q_strides[2],
                          const float* k, const float* v, const int64_t kv_strides[3],
                          const uint8_t* key_mask, int64_t mask_stride,
                          int64_t B, int64_t Tq, int64_t Tk, int64_t C, int64_t NH,
                          int prefetch_next) {
    const int64_t query_tiles = (Tq + TILE - 1) / TILE;
    const forward_job job = {
        .out = out, .stats = stats, .q = q, .k = k, .v = v,
        .q_strides = {q_strides[0], q_strides[1]},
        .kv_strides = {kv_strides[0], kv_strides[1], kv_strides[2]},
        .key_mask = key_mask, .mask_stride = mask_stride, .Tq = Tq, .Tk = Tk, .C = C, .NH = NH,
        .query_tiles = query_tiles, .tasks = B * NH * query_tiles,
        .prefetch_next = prefetch_next, .kernel = select_forward(),
    };
    if (!worth_threads(B * Tq * Tk * C)) {
        for (int64_t task = 0; task < job.tasks; task++) forward_task(&job, task);
    } else if (prefetch_next) {
        #pragma omp parallel for schedule(static)
        for (int64_t task = 0; task < job.tasks; task++) forward_task(&job, task);
    } else {
        #pragma omp parallel for schedule(dynamic)
        for (int64_t task = 0; task < job.tasks; task++) forward_task(&job, task);
    }
}

llm_status attention_forward(float* out, float* stats, const float* qkv, const uint8_t* key_mask,
                             int64_t B, int64_t T, int64_t C, int64_t NH) {
    if (!valid_sizes(B, T, T, C, NH)) return LLM_ERR_ARGUMENT;
    const int64_t q_strides[2] = {T * 3 * C, 3 * C}, kv_strides[3] = {T * 3 * C, C / NH, 3 * C};
    forward_heads(out, stats, qkv, q_strides, qkv + C, qkv + 2 * C, kv_strides, key_mask, T,
                  B, T, T, C, NH, 1);
    return LLM_OK;
}

llm_status attention_forward_cached(float* out, float* k_cache, float* v_cache, const float* qkv,
                                    const uint8_t* key_mask, int64_t B, int64_t Tq, int64_t Tk,
                                    int64_t capacity, int64_t C, int64_t NH) {
    if (!valid_sizes(B, Tq, Tk, C, NH) || Tk > capacity) return LLM_ERR_ARGUMENT;
    const int64_t hs = C / NH;
    const int64_t q_strides[2] = {Tq * 3 * C, 3 * C};
    const int64_t kv_strides[3] = {NH * capacity * hs, capacity * hs, hs};
    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < NH; h++) {
            const int64_t first_row = b * kv_strides[0] + h * kv_strides[1] + (Tk - Tq) * hs;
            for (int64_t i = 0; i < Tq; i++) {
                const float* qkv_row = qkv + (b * Tq + i) * 3 * C + h * hs;
                memcpy(k_cache + first_row + i * hs, qkv_row + C, hs * sizeof(float));
                memcpy(v_cache + first_row + i * hs, qkv_row + 2 * C, hs * sizeof(float));
            }
        }
    }
    forward_heads(out, NULL, qkv, q_strides, k_cache, v_cache, kv_strides, key_mask, capacity,
                  B, Tq, Tk, C, NH, 0);
    return LLM_OK;
}

llm_status attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                              const float* stats, const uint8_t* key_mask,
                              int64_t B, int64_t T, int64_t C, int64_t NH) {
    if (!valid_sizes(B, T, T, C, NH)) return LLM_ERR_ARGUMENT;
    const int64_t hs = C / NH, C3 = 3 * C;
    const backward_head_fn kernel = select_backward_head();
    const int parallel = worth_threads(B * NH * T * T * hs);
    /* One task per (batch row, head): each thread owns the dq/dk/dv slices it writes. Tasks cost
     * the same: each thread takes a contiguous run, so its next task is task + 1, whose rows it
     * prefetches. */
    #pragma omp parallel for schedule(static) if (parallel)
    for (int64_t task = 0; task < B * NH; task++) {
        const int64_t b = task / NH, h = task % NH;
        const float* qkv_bh = qkv + b * T * C3 + h * hs;
        float* dqkv_bh = dqkv + b * T * C3 + h * hs;
        if (task + 1 < B * NH) {
            const int64_t next_b = (task + 1) / NH, next_h = (task + 1) % NH;
            const int64_t next_qkv = next_b * T * C3 + next_h * hs;
            const int64_t next_out = next_b * T * C + next_h * hs;
            for (int part = 0; part < 3; part++) {
                prefetch_rows(qkv + next_qkv + part * C, C3, T, hs, 0);
                prefetch_rows(dqkv + next_qkv + part * C, C3, T, hs, 1);
            }
            prefetch_rows(out + next_out, C, T, hs, 0);
            prefetch_rows(dout + next_out, C, T, hs, 0);
        }
        const head_inputs in = {
            .q = qkv_bh, .q_stride = C3, .k = qkv_bh + C, .k_stride = C3,
            .v = qkv_bh + 2 * C, .v_stride = C3,
            .key_mask = key_mask ? key_mask + b * T : NULL,
            .Tq = T, .Tk = T, .hs = hs, .scale = 1.0f / sqrtf((float)hs),
        };
        const head_gradients g = {
            .dq = dqkv_bh, .dk = dqkv_bh + C, .dv = dqkv_bh + 2 * C, .dqkv_stride = C3,
            .dout = dout + b * T * C + h * hs, .out = out + b * T * C + h * hs, .out_stride = C,
            .lse = stats + (b * NH + h) * T,
        };
        kernel(&in, &g);
    }
    return LLM_OK;
}
