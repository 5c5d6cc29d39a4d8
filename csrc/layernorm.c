#include "layernorm.h"

#include <math.h>

#include "vecmath.h"

/* Below this many elements one thread is faster than waking the others. */
#define PARALLEL_MIN 32768
/* Row sums run in float within blocks of this many channels and in double across blocks. */
#define SUM_BLOCK 256
/* Backward works through rows in blocks of ROW_BLOCK: dx of the block's rows, then their
 * contribution to dweight and dbias while they are still in cache (summed in float over the
 * block, then added to the gradients block by block, in row order). */
#define ROW_BLOCK 64
/* Channels per task in the weight/bias gradient: few enough that a task's accumulators sit in
 * registers, enough to read whole cache lines of each row. */
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

/* weight_sum[i] += sum over rows r0..r1 of dout * norm, bias_sum[i] += sum of dout, for the
 * width channels that dout and x point at (rows C apart). */
static inline void tile_sums(float* weight_sum, float* bias_sum, const float* dout,
                             const float* x, const float* mean, const float* rstd,
                             int64_t r0, int64_t r1, int64_t C, int64_t width) {
    for (int64_t r = r0; r < r1; r++) {
        const float* x_row = x + r * C;
        const float* dout_row = dout + r * C;
        float m = mean[r], s = rstd[r];
        #pragma omp simd
        for (int64_t i = 0; i < width; i++) {
            weight_sum[i] += dout_row[i] * ((x_row[i] - m) * s);
            bias_sum[i] += dout_row[i];
        }
    }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* x,
                       const float* weight, const float* bias, int64_t N, int64_t C, float eps) {
    #pragma omp parallel for schedule(static) if (N * C >= PARALLEL_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float* x_row = x + r * C;
        float* out_row = out + r * C;
        float m = (float)(vec_sum(x_row, C) / (double)C);
        float s = (float)(1.0 / sqrt(centred_squares(x_row, C, m) / (double)C + eps));
        for (int64_t i = 0; i < C; i++) out_row[i] = (x_row[i] - m) * s * weight[i] + bias[i];
        mean[r] = m;
        rstd[r] = s;
    }
}

void layernorm_backward(float* dx, float* dweight, float* dbias, const float* dout,
                        const float* x, const float* weight, const float* mean,
                        const float* rstd, int64_t N, int64_t C) {
    int64_t n_tiles = (C + CHANNEL_TILE - 1) / CHANNEL_TILE;
    #pragma omp parallel if (N * C >= PARALLEL_MIN)
    for (int64_t r0 = 0; r0 < N; r0 += ROW_BLOCK) {
        int64_t r1 = r0 + ROW_BLOCK < N ? r0 + ROW_BLOCK : N;
        /* dx, row by row: dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)). */
        #pragma omp for schedule(static)
        for (int64_t r = r0; r < r1; r++) {
            const float* x_row = x + r * C;
            const float* dout_row = dout + r * C;
            float* dx_row = dx + r * C;
            float m = mean[r], s = rstd[r];
            double dnorm_sum, dnorm_norm_sum;
            dnorm_sums(&dnorm_sum, &dnorm_norm_sum, dout_row, x_row, weight, m, s, C);
            float dnorm_mean = (float)(dnorm_sum / (double)C);
            float dnorm_norm_mean = (float)(dnorm_norm_sum / (double)C);
            for (int64_t i = 0; i < C; i++) {
                float norm = (x_row[i] - m) * s;
                float dnorm = dout_row[i] * weight[i];
                dx_row[i] += s * (dnorm - dnorm_mean - norm * dnorm_norm_mean);
            }
        }
        /* dweight and dbias over the same rows while they are in cache, a tile of channels
         * per task; each channel's sum runs over rows in order. */
        #pragma omp for schedule(static)
        for (int64_t tile = 0; tile < n_tiles; tile++) {
            int64_t c0 = tile * CHANNEL_TILE;
            int64_t width = C - c0 < CHANNEL_TILE ? C - c0 : CHANNEL_TILE;
            float weight_sum[CHANNEL_TILE] = {0}, bias_sum[CHANNEL_TILE] = {0};
            if (width == CHANNEL_TILE) {   /* constant width: the sums stay in registers */
                tile_sums(weight_sum, bias_sum, dout + c0, x + c0, mean, rstd, r0, r1, C,
                          CHANNEL_TILE);
            } else {
                tile_sums(weight_sum, bias_sum, dout + c0, x + c0, mean, rstd, r0, r1, C, width);
            }
            for (int64_t i = 0; i < width; i++) {
                dweight[c0 + i] += weight_sum[i];
                dbias[c0 + i] += bias_sum[i];
            }
        }
    }
}
