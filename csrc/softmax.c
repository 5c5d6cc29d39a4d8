#include "softmax.h"

#include <math.h>

#include "vecmath.h"

/* Below this many elements one thread is faster than waking the others. */
#define PARALLEL_MIN 32768

void softmax_forward(float* out, const float* x, int64_t N, int64_t C) {
    #pragma omp parallel for schedule(static) if (N * C >= PARALLEL_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float* x_row = x + r * C;
        float* out_row = out + r * C;
        float max = -INFINITY;
        #pragma omp simd reduction(max:max)
        for (int64_t i = 0; i < C; i++) max = x_row[i] > max ? x_row[i] : max;
        float inv_sum = (float)(1.0 / vec_exp_sum(out_row, x_row, C, max));
        for (int64_t i = 0; i < C; i++) out_row[i] *= inv_sum;
    }
}

void softmax_backward(float* dx, const float* dout, const float* out, int64_t N, int64_t C) {
    #pragma omp parallel for schedule(static) if (N * C >= PARALLEL_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float* dout_row = dout + r * C;
        const float* out_row = out + r * C;
        float* dx_row = dx + r * C;
        float dot = (float)vec_dot(dout_row, out_row, C);
        for (int64_t i = 0; i < C; i++) dx_row[i] += out_row[i] * (dout_row[i] - dot);
    }
}
