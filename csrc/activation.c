#include "activation.h"

#include <math.h>

#include "vecmath.h"

#define GELU_SCALE 0.7978845608028654f   /* sqrt(2 / pi) */
#define GELU_CUBIC 0.044715f
/* gelu_backward takes the sigmoid's series below this |x|. */
#define SERIES_BELOW 1e-3f

/* Elements per task: the exp of a chunk goes through a stack buffer that stays in L1. */
#define CHUNK 256
/* Below this many elements one thread is faster than waking the others. */
#define PARALLEL_MIN 32768

/* GELU through the sigmoid: 0.5 x (1 + tanh(u)) = x * sigmoid(2u) = x / (1 + exp(-2u)),
 * u = GELU_SCALE (x + GELU_CUBIC x^3). This form never cancels (1 + tanh(u) does for u << 0)
 * and needs one exp, which vec_exp_sum evaluates 16 lanes at a time. */
static void exp_minus_2u(float* e, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        e[i] = -2.0f * GELU_SCALE * (x[i] + GELU_CUBIC * x[i] * x[i] * x[i]);
    }
    vec_exp_sum(e, e, n, 0.0f);
}

/* out[start:end] = gelu(x[start:end]), end - start <= CHUNK. */
static void gelu_chunk(float* out, const float* x, int64_t start, int64_t end) {
    float e[CHUNK];
    exp_minus_2u(e, x + start, end - start);
    for (int64_t i = start; i < end; i++) out[i] = x[i] / (1.0f + e[i - start]);
}

void gelu_forward(float* out, const float* x, int64_t n) {
    int64_t n_chunks = (n + CHUNK - 1) / CHUNK;
    /* A small call (a decoding step's one row) stays out of OpenMP: entering a parallel region
     * costs ~0.3 us even when its if clause keeps it on one thread. */
    if (n < PARALLEL_MIN) {
        for (int64_t start = 0; start < n; start += CHUNK) {
            gelu_chunk(out, x, start, n - start < CHUNK ? n : start + CHUNK);
        }
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int64_t chunk = 0; chunk < n_chunks; chunk++) {
        int64_t start = chunk * CHUNK;
        gelu_chunk(out, x, start, n - start < CHUNK ? n : start + CHUNK);
    }
}

void gelu_backward(float* dx, const float* dout, const float* x, const float* out, int64_t n) {
    #pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        /* d/dx [x s(2u)] = s + x s (1 - s) 2 du/dx, s = sigmoid(2u). s is read back from the
         * forward's output, s = out / x, instead of recomputed through exp (the forward's whole
         * cost). Near 0, where out / x has no digits left, s = 1/2 + u/2 (the sigmoid's series:
         * error ~1e-10 for |x| < SERIES_BELOW). */
        float xi = x[i];
        float s = fabsf(xi) < SERIES_BELOW ? 0.5f + 0.5f * GELU_SCALE * xi : out[i] / xi;
        float du_dx = GELU_SCALE * (1.0f + 3.0f * GELU_CUBIC * xi * xi);
        dx[i] = dout[i] * (s + 2.0f * xi * s * (1.0f - s) * du_dx);
    }
}

void relu_forward(float* out, const float* x, int64_t n) {
    #pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void relu_backward(float* dx, const float* dout, const float* x, const float* out, int64_t n) {
    (void)out;
    #pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dout[i] : 0.0f;
}
