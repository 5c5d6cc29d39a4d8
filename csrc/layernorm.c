#include "layernorm.h"

#include <math.h>
#include <string.h>

#include "vecmath.h"

/* Below this many elements one thread is faster than waking the others. */
#define PARALLEL_MIN 32768
/* Row sums run in float within blocks of this many channels and in double across blocks. */
#define SUM_BLOCK 256
/* Backward hands a block of ROW_BLOCK rows to each task: the task computes dx for its rows and
 * the block's sums of dweight and dbias (in float) in one pass, into its own slot of scratch;
 * the blocks' sums are then added in block order (in double). One pass over the data, no races,
 * and the same result for any thread count. */
#define ROW_BLOCK 64
/* Channels per task when the blocks' sums are added. */
#define CHANNEL_TILE 64

/* sum of (x - mean)^2 over a row */
static double centred_squares(const float* x, int64_t C, float mean) {
    double total = 0.0;
    for (int64_t start = 0; start < C; start += SUM_BLOCK) {
        int64_t end = start + SUM_BLOCK < C ? start + SUM_BLOCK : C;
        float block = 0.0f;
        #pragma omp simd reduction(+:block)
        for (int64_t i = start; i < end; i++) block += (x[i] - mean) * (x[i] - mean);
        total += block;
    }
    return total;
}

/* sum of dnorm and of dnorm * norm over a row, dnorm = dout * weight, norm = (x - mean) rstd */
static void dnorm_sums(double* dnorm_sum, double* dnorm_norm_sum, const float* dout,
                       const float* x, const float* weight, float mean, float rstd, int64_t C) {
    *dnorm_sum = 0.0;
    *dnorm_norm_sum = 0.0;
    for (int64_t start = 0; start < C; start += SUM_BLOCK) {
        int64_t end = start + SUM_BLOCK < C ? start + SUM_BLOCK : C;
        float block = 0.0f, block_norm = 0.0f;
        #pragma omp simd reduction(+:block, block_norm)
        for (int64_t i = start; i < end; i++) {
            float dnorm = dout[i] * weight[i];
            block += dnorm;
            block_norm += dnorm * ((x[i] - mean) * rstd);
        }
        *dnorm_sum += block;
        *dnorm_norm_sum += block_norm;
    }
}

/* Rows first .. end - 1 of layernorm_forward, ROW_GROUP rows at a time: a row is a chain of
 * dependent steps (sum, mean, squares about it, square root), short for a small C, so each step
 * is taken for the whole group before the next and the rows' chains overlap in the core. */
#define ROW_GROUP 8
static void normalize_rows(float* out, float* mean, float* rstd, float* x, const float* residual,
                           const float* weight, const float* bias, int64_t first, int64_t end,
                           int64_t C, float eps) {
    for (int64_t r0 = first; r0 < end; r0 += ROW_GROUP) {
        int64_t rows = end - r0 < ROW_GROUP ? end - r0 : ROW_GROUP;
        float m[ROW_GROUP], s[ROW_GROUP];
        if (residual != NULL) {
            for (int64_t g = 0; g < rows; g++) {
                float* x_row = x + (r0 + g) * C;
                const float* residual_row = residual + (r0 + g) * C;
                #pragma omp simd
                for (int64_t i = 0; i < C; i++) x_row[i] += residual_row[i];
            }
        }
        for (int64_t g = 0; g < rows; g++) m[g] = (float)(vec_sum(x + (r0 + g) * C, C) / (double)C);
        for (int64_t g = 0; g < rows; g++) {
            double squares = centred_squares(x + (r0 + g) * C, C, m[g]);
            s[g] = (float)(1.0 / sqrt(squares / (double)C + eps));
        }
        for (int64_t g = 0; g < rows; g++) {
            const float* x_row = x + (r0 + g) * C;
            float* out_row = out + (r0 + g) * C;
            for (int64_t i = 0; i < C; i++)
                out_row[i] = (x_row[i] - m[g]) * s[g] * weight[i] + bias[i];
            mean[r0 + g] = m[g];
            rstd[r0 + g] = s[g];
        }
    }
}

/* Channels dx_lanes takes at once: one AVX-512 vector. */
#define LANES 16

/* Backward for `width` <= LANES channels of `rows` rows (C apart): dx += rstd * (dnorm -
 * mean(dnorm) - norm * mean(dnorm * norm)), and the rows' dweight and dbias terms added to
 * block_dweight and block_dbias in row order, held in registers across the rows. Inlined with
 * width = LANES, every loop over lanes is one vector operation. */
static inline __attribute__((always_inline)) void dx_lanes(
        float* restrict dx, float* restrict block_dweight, float* restrict block_dbias,
        const float* restrict dout, const float* restrict x, const float* restrict weight,
        const float* m, const float* s, const float* dnorm_mean, const float* dnorm_norm_mean,
        int64_t rows, int64_t C, int64_t width) {
    float dweight_sum[LANES], dbias_sum[LANES];
    for (int64_t i = 0; i < width; i++) {
        dweight_sum[i] = block_dweight[i];
        dbias_sum[i] = block_dbias[i];
    }
    for (int64_t g = 0; g < rows; g++) {
        #pragma omp simd
        for (int64_t i = 0; i < width; i++) {
            float norm = (x[g * C + i] - m[g]) * s[g];
            float dnorm = dout[g * C + i] * weight[i];
            dx[g * C + i] += s[g] * (dnorm - dnorm_mean[g] - norm * dnorm_norm_mean[g]);
            dweight_sum[i] += dout[g * C + i] * norm;
            dbias_sum[i] += dout[g * C + i];
        }
    }
    for (int64_t i = 0; i < width; i++) {
        block_dweight[i] = dweight_sum[i];
        block_dbias[i] = dbias_sum[i];
    }
}

void layernorm_forward(float* out, float* mean, float* rstd, float* x, const float* residual,
                       const float* weight, const float* bias, int64_t N, int64_t C, float eps) {
    /* A small call (a decoding step's one row) stays out of OpenMP: entering a parallel region
     * costs ~0.3 us even when its if clause keeps it on one thread, twice the row's work. */
    if (N * C < PARALLEL_MIN) {
        normalize_rows(out, mean, rstd, x, residual, weight, bias, 0, N, C, eps);
        return;
    }
    int64_t n_groups = (N + ROW_GROUP - 1) / ROW_GROUP;
    #pragma omp parallel for schedule(static)
    for (int64_t group = 0; group < n_groups; group++) {
        int64_t first = group * ROW_GROUP;
        normalize_rows(out, mean, rstd, x, residual, weight, bias, first,
                       first + ROW_GROUP < N ? first + ROW_GROUP : N, C, eps);
    }
}

int64_t layernorm_backward_scratch_size(int64_t N, int64_t C) {
    return (N + ROW_BLOCK - 1) / ROW_BLOCK * 2 * C;
}

void layernorm_backward(float* dx, float* dweight, float* dbias, float* scratch,
                        const float* dout, const float* x, const float* weight,
                        const float* mean, const float* rstd, int64_t N, int64_t C,
                        int accumulate_weights) {
    int64_t n_blocks = (N + ROW_BLOCK - 1) / ROW_BLOCK;
    int64_t n_tiles = (C + CHANNEL_TILE - 1) / CHANNEL_TILE;
    #pragma omp parallel if (N * C >= PARALLEL_MIN)
    {
        /* A block of rows per task: dx, and the block's own dweight and dbias sums. */
        #pragma omp for schedule(static)
        for (int64_t block = 0; block < n_blocks; block++) {
            float* block_dweight = scratch + block * 2 * C;
            float* block_dbias = block_dweight + C;
            memset(block_dweight, 0, (size_t)(2 * C) * sizeof(float));
            int64_t end = (block + 1) * ROW_BLOCK < N ? (block + 1) * ROW_BLOCK : N;
            for (int64_t r0 = block * ROW_BLOCK; r0 < end; r0 += ROW_GROUP) {
                int64_t rows = end - r0 < ROW_GROUP ? end - r0 : ROW_GROUP;
                float dnorm_mean[ROW_GROUP], dnorm_norm_mean[ROW_GROUP];
                for (int64_t g = 0; g < rows; g++) {   /* as in normalize_rows: chains overlap */
                    int64_t r = r0 + g;
                    double dnorm_sum, dnorm_norm_sum;
                    dnorm_sums(&dnorm_sum, &dnorm_norm_sum, dout + r * C, x + r * C, weight,
                               mean[r], rstd[r], C);
                    dnorm_mean[g] = (float)(dnorm_sum / (double)C);
                    dnorm_norm_mean[g] = (float)(dnorm_norm_sum / (double)C);
                }
                /* dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), channel by
                 * channel over the group's rows, so the block's dweight and dbias sums stay in
                 * registers across them (same order of additions as row by row). The arrays are
                 * disjoint (the wrapper checks), which the vectoriser cannot prove alone. */
                const float* x_rows = x + r0 * C;
                const float* dout_rows = dout + r0 * C;
                float* dx_rows = dx + r0 * C;
                for (int64_t i0 = 0; i0 < C; i0 += LANES) {
                    if (C - i0 >= LANES)
                        dx_lanes(dx_rows + i0, block_dweight + i0, block_dbias + i0,
                                 dout_rows + i0, x_rows + i0, weight + i0, mean + r0, rstd + r0,
                                 dnorm_mean, dnorm_norm_mean, rows, C, LANES);
                    else
                        dx_lanes(dx_rows + i0, block_dweight + i0, block_dbias + i0,
                                 dout_rows + i0, x_rows + i0, weight + i0, mean + r0, rstd + r0,
                                 dnorm_mean, dnorm_norm_mean, rows, C, C - i0);
                }
            }
        }
        /* The blocks' sums, added in block order per channel (a tile of channels per task). */
        #pragma omp for schedule(static)
        for (int64_t tile = 0; tile < n_tiles; tile++) {
            int64_t c0 = tile * CHANNEL_TILE;
            int64_t width = C - c0 < CHANNEL_TILE ? C - c0 : CHANNEL_TILE;
            double weight_total[CHANNEL_TILE] = {0}, bias_total[CHANNEL_TILE] = {0};
            for (int64_t block = 0; block < n_blocks; block++) {
                const float* block_dweight = scratch + block * 2 * C + c0;
                const float* block_dbias = block_dweight + C;
                for (int64_t i = 0; i < width; i++) {
                    weight_total[i] += block_dweight[i];
                    bias_total[i] += block_dbias[i];
                }
            }
            for (int64_t i = 0; i < width; i++) {
                float dweight_i = (float)weight_total[i], dbias_i = (float)bias_total[i];
                dweight[c0 + i] = accumulate_weights ? dweight[c0 + i] + dweight_i : dweight_i;
                dbias[c0 + i] = accumulate_weights ? dbias[c0 + i] + dbias_i : dbias_i;
            }
        }
    }
}
