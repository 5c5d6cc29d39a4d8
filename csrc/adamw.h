/* AdamW over one flat parameter buffer, and global-norm gradient clipping. */
#ifndef LLM_ADAMW_H
#define LLM_ADAMW_H

#include "common.h"

/* One step of PyTorch's AdamW (torch.optim.AdamW, amsgrad=False), elementwise, on the gradient
 * g = grad_scale * grads (a clip_scale: clipping without a pass of its own; 1 for none):
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
                int64_t step, float grad_scale);

/* The L2 norm of grads, accumulated in double over fixed chunks summed in order: the same
 * value for every thread count. */
double grad_norm(const float* grads,   // (n,)
                 int64_t n);

/* The factor torch.nn.utils.clip_grad_norm_ scales gradients of global norm `norm` by:
 * max_norm / (norm + 1e-6) when the norm is finite and above max_norm, else 1. */
float clip_scale(double norm, double max_norm);

/* Returns grad_norm(grads) and scales grads by clip_scale(norm, max_norm) in place. A
 * non-finite norm leaves grads as they are (the caller decides to skip the step). */
double clip_grad_norm(float* grads,   // (n,)
                      int64_t n, double max_norm);

#endif
