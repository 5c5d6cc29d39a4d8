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

/* Rows first .. end - 1 of layernorm_forward. */
static void normalize_rows(float* out, float* mean, float* rstd, const float* x,
                           const float* weight, const float* bias, int64_t first, int64_t end,
                           int64_t C, float eps) {
    for (int64_t r = first; r < end; r++) {
        const float* x_row = x + r * C;
        float* out_row = out + r * C;
        float m = (float)(vec_sum(x_row, C) / (double)C);
        float s = (float)(1.0 / sqrt(centred_squares(x_row, C, m) / (double)C + eps));
        for (int64_t i = 0; i < C; i++) out_row[i] = (x_row[i] - m) * s * weight[i] + bias[i];
        mean[r] = m;
        rstd[r] = s;
    }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* x,
                       const float* weight, const float* bias, int64_t N, int64_t C, float eps) {
    /* A small call (a decoding step's one row) stays out of OpenMP: entering a parallel region
     * costs ~0.3 us even when its if clause keeps it on one thread, twice the row's work. */
    if (N * C < PARALLEL_MIN) {
        normalize_rows(out, mean, rstd, x, weight, bias, 0, N, C, eps);
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < N; r++) {
        normalize_rows(out, mean, rstd, x, weight, bias, r, r + 1, C, eps);
    }
}

int64_t layernorm_backward_scratch_size(int64_t N, int64_t C) {
    return (N + ROW_BLOCK - 1) / ROW_BLOCK * 2 * C;
}

void layernorm_backward(float* dx, float* dweight, float* dbias, float* scratch,
                        const float* dout, const float* x, const float* weight,
                        const float* mean, const float* rstd, int64_t N, int64_t C) {
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
            for (int64_t r = block * ROW_BLOCK; r < end; r++) {
                const float* x_row = x + r * C;
                const float* dout_row = dout + r * C;
                float* dx_row = dx + r * C;
                float m = mean[r], s = rstd[r];
                double dnorm_sum, dnorm_norm_sum;
                dnorm_sums(&dnorm_sum, &dnorm_norm_sum, dout_row, x_row, weight, m, s, C);
                float dnorm_mean = (float)(dnorm_sum / (double)C);
                float dnorm_norm_mean = (float)(dnorm_norm_sum / (double)C);
                /* dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)); the arrays are
                 * disjoint (the wrapper checks), which the vectoriser cannot prove alone. */
                #pragma omp simd
                for (int64_t i = 0; i < C; i++) {
                    float norm = (x_row[i] - m) * s;
                    float dnorm = dout_row[i] * weight[i];
                    dx_row[i] += s * (dnorm - dnorm_mean - norm * dnorm_norm_mean);
                    block_dweight[i] += dout_row[i] * norm;
                    block_dbias[i] += dout_row[i];
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
                dweight[c0 + i] += (float)weight_total[i];
                dbias[c0 + i] += (float)bias_total[i];
            }
        }
    }
}
