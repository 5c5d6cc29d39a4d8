/* AdamW over one flat parameter buffer, and global-norm gradient clipping. */
#ifndef LLM_ADAMW_H
#define LLM_ADAMW_H

#include "common.h"

/* One step of PyTorch's AdamW (torch.optim.AdamW, amsgrad=False), elementwise:
 *   p -= lr * weight_decay * p              (only where decay_mask is 1, or everywhere if NULL)
 *   m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
 *   p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 * step counts from 1. Elementwise, so results do not depend on the thread count. */
void adamw_step(float* params,               // (n,)
                float* m,                    // (n,) first moment
                float* v,                    // (n,) second moment
                const float* grads,          // (n,)
                const uint8_t* decay_mask,   // (n,) 1 = decay, 0 = no decay; or NULL
                int64_t n, double lr, double beta1, double beta2, double eps, double weight_decay,
                int64_t step);

/* The L2 norm of grads, accumulated in double over fixed chunks summed in order: the same
 * value for every thread count. */
double grad_norm(const float* grads,   // (n,)
                 int64_t n);

/* Returns grad_norm(grads) and, when it is finite and above max_norm, scales grads by
 * max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_. A non-finite norm leaves grads
 * as they are (the caller decides to skip the step). */
double clip_grad_norm(float* grads,   // (n,)
                      int64_t n, double max_norm);

#endif
