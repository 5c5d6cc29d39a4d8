#include "crossentropy.h"

#include <math.h>
#include <string.h>

#include "vecmath.h"

/* Below this many logits one thread is faster than waking the others. */
#define PARALLEL_MIN 32768

llm_status crossentropy_forward_backward(float* dlogits, float* losses, double* mean_loss,
                                         int64_t* bad_position, const float* logits,
                                         const int32_t* targets, int64_t N, int64_t V,
                                         int32_t ignore_index, float label_smoothing,
                                         int64_t mean_count) {
    int64_t count = 0;
    for (int64_t r = 0; r < N; r++) {
        if (targets[r] == ignore_index) continue;
        if (targets[r] < 0 || targets[r] >= V) {
            *bad_position = r;
            return LLM_ERR_RANGE;
        }
        count++;
    }
    double target_weight = 1.0 - label_smoothing;      /* q at the target, less s / V */
    double uniform_weight = (double)label_smoothing / (double)V;   /* q everywhere else */
    if (mean_count > 0) count = mean_count;
    float inv_count = count ? (float)(1.0 / (double)count) : 0.0f;

    #pragma omp parallel for schedule(static) if (N * V >= PARALLEL_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float* row = logits + r * V;
        float* drow = dlogits ? dlogits + r * V : NULL;
        int32_t target = targets[r];
        if (target == ignore_index) {
            losses[r] = 0.0f;
            if (drow) memset(drow, 0, (size_t)V * sizeof(float));
            continue;
        }
        /* Everything read from the row before vec_exp_sum overwrites it (when in place). */
        float max = -INFINITY;
        #pragma omp simd reduction(max:max)
        for (int64_t i = 0; i < V; i++) max = row[i] > max ? row[i] : max;
        double row_sum = label_smoothing != 0.0f ? vec_sum(row, V) : 0.0;
        double target_logit = row[target];
        double exp_sum = vec_exp_sum(drow, row, V, max);    /* drow = exp(row - max) */
        double log_sum_exp = max + log(exp_sum);
        losses[r] = (float)(log_sum_exp - target_weight * target_logit - uniform_weight * row_sum);
        if (drow) {
            /* dlogits = (p - q) / count, p = exp(row - max) / exp_sum */
            float p_scale = (float)(1.0 / exp_sum) * inv_count;
            float uniform = (float)uniform_weight * inv_count;
            for (int64_t i = 0; i < V; i++) drow[i] = drow[i] * p_scale - uniform;
            drow[target] -= (float)target_weight * inv_count;
        }
    }

    double total = 0.0;
    for (int64_t r = 0; r < N; r++) total += losses[r];
    *mean_loss = count ? total / (double)count : 0.0;
    return LLM_OK;
}
