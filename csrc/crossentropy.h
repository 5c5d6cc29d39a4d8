/* Cross-entropy over logits with integer targets, fused with the softmax backward. */
#ifndef LLM_CROSSENTROPY_H
#define LLM_CROSSENTROPY_H

#include "common.h"

/* For each position r whose target is not ignore_index, with p = softmax(logits[r]) and the
 * smoothed target distribution q = (1 - s) onehot(target) + s / V (s = label_smoothing):
 *   losses[r] = -sum_i q_i log p_i    (0 where ignored)
 *   mean_loss = the mean of losses over the counted positions (0 if every one is ignored)
 *   dlogits[r] = (p - q) / count      (0 where ignored): the gradient of mean_loss.
 * dlogits is written, not accumulated; it may be logits itself (in place) or NULL (loss only).
 * mean_count > 0 replaces count as the divisor of both (0: the positions counted here): a
 * data-parallel rank passes its global batch's count, so that the ranks' losses and gradients
 * sum to the global batch's mean.
 * Stable for any finite logits (max subtraction, log-sum-exp in double). The mean is summed in
 * row order, so it does not depend on the thread count.
 * Returns LLM_ERR_RANGE, writing nothing but *bad_position, when a target other than
 * ignore_index is outside [0, V). */
llm_status crossentropy_forward_backward(
    float* dlogits,           // (N, V) or NULL
    float* losses,            // (N,)
    double* mean_loss,        // (1,)
    int64_t* bad_position,    // (1,) set on LLM_ERR_RANGE
    const float* logits,      // (N, V)
    const int32_t* targets,   // (N,)
    int64_t N, int64_t V, int32_t ignore_index, float label_smoothing, int64_t mean_count);

#endif
