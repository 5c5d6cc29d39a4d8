#include "layernorm.h"

#include <math.h>

/* Channels per task in the weight/bias gradient: small enough that a task's double
 * accumulators sit in registers/L1, large enough to read whole cache lines of each row. */
#define CHANNEL_TILE 64

void layernorm_forward(float* out, float* mean, float* rstd, const float* x,
                       const float* weight, const float* bias, int64_t N, int64_t C, float eps) {
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < N; r++) {
        const float* x_row = x + r * C;
        float* out_row = out + r * C;
        double sum = 0.0;
        #pragma omp simd reduction(+:sum)
        for (int64_t i = 0; i < C; i++) sum += x_row[i];
        double row_mean = sum / (double)C;
        double squares = 0.0;
        #pragma omp simd reduction(+:squares)
        for (int64_t i = 0; i < C; i++) {
            double centred = x_row[i] - row_mean;
            squares += centred * centred;
        }
        float m = (float)row_mean;
        float s = (float)(1.0 / sqrt(squares / (double)C + eps));
        for (int64_t i = 0; i < C; i++) out_row[i] = (x_row[i] - m) * s * weight[i] + bias[i];
        mean[r] = m;
        rstd[r] = s;
    }
}

void layernorm_backward(float* dx, float* dweight, float* dbias, const float* dout,
                        const float* x, const float* weight, const float* mean,
                        const float* rstd, int64_t N, int64_t C) {
    int64_t n_tiles = (C + CHANNEL_TILE - 1) / CHANNEL_TILE;
    #pragma omp parallel
    {
        /* dx, row by row: dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)). */
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < N; r++) {
            const float* x_row = x + r * C;
            const float* dout_row = dout + r * C;
            float* dx_row = dx + r * C;
            float m = mean[r], s = rstd[r];
            double dnorm_sum = 0.0, dnorm_norm_sum = 0.0;
            #pragma omp simd reduction(+:dnorm_sum, dnorm_norm_sum)
            for (int64_t i = 0; i < C; i++) {
                float dnorm = dout_row[i] * weight[i];
                dnorm_sum += dnorm;
                dnorm_norm_sum += dnorm * ((x_row[i] - m) * s);
            }
            float dnorm_mean = (float)(dnorm_sum / (double)C);
            float dnorm_norm_mean = (float)(dnorm_norm_sum / (double)C);
            for (int64_t i = 0; i < C; i++) {
                float norm = (x_row[i] - m) * s;
                float dnorm = dout_row[i] * weight[i];
                dx_row[i] += s * (dnorm - dnorm_mean - norm * dnorm_norm_mean);
            }
        }
        /* dweight and dbias, tile of channels by tile: each sum runs over rows in order. */
        #pragma omp for schedule(static)
        for (int64_t tile = 0; tile < n_tiles; tile++) {
            int64_t c0 = tile * CHANNEL_TILE;
            int64_t width = C - c0 < CHANNEL_TILE ? C - c0 : CHANNEL_TILE;
            double weight_sum[CHANNEL_TILE] = {0}, bias_sum[CHANNEL_TILE] = {0};
            for (int64_t r = 0; r < N; r++) {
                const float* x_row = x + r * C + c0;
                const float* dout_row = dout + r * C + c0;
                float m = mean[r], s = rstd[r];
                #pragma omp simd
                for (int64_t i = 0; i < width; i++) {
                    weight_sum[i] += dout_row[i] * ((x_row[i] - m) * s);
                    bias_sum[i] += dout_row[i];
                }
            }
            for (int64_t i = 0; i < width; i++) {
                dweight[c0 + i] += (float)weight_sum[i];
                dbias[c0 + i] += (float)bias_sum[i];
            }
        }
    }
}
