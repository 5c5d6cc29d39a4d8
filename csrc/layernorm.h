/* LayerNorm over the last dimension: forward saves each row's mean and 1/std for backward. */
#ifndef LLM_LAYERNORM_H
#define LLM_LAYERNORM_H

#include "common.h"

/* out = (x - mean) * rstd * weight + bias per row, rstd = 1 / sqrt(var + eps) with the biased
 * variance (as PyTorch), computed in two passes (mean, then squares about it). out may be x
 * itself. With a residual, x += residual first, in place (x is read only when residual is NULL):
 * a residual connection's sum, stored and normalized in one pass instead of two. */
void layernorm_forward(float* out,           // (N, C)
                       float* mean,          // (N,)
                       float* rstd,          // (N,)
                       float* x,             // (N, C)
                       const float* residual,  // (N, C) or NULL
                       const float* weight,  // (C,)
                       const float* bias,    // (C,)
                       int64_t N, int64_t C, float eps);

/* Accumulates (+=) dx, dweight and dbias in one pass over the rows. dweight and dbias are
 * summed per block of rows into scratch, then over the blocks in order, so the result is the
 * same for every thread count. scratch holds layernorm_backward_scratch_size(N, C) floats.
 * With accumulate_weights = 0, dweight and dbias are written (=) instead, their old values never
 * read; dx is always added to. */
void layernorm_backward(float* dx,            // (N, C)
                        float* dweight,       // (C,)
                        float* dbias,         // (C,)
                        float* scratch,       // (layernorm_backward_scratch_size(N, C),)
                        const float* dout,    // (N, C)
                        const float* x,       // (N, C)
                        const float* weight,  // (C,)
                        const float* mean,    // (N,)
                        const float* rstd,    // (N,)
                        int64_t N, int64_t C, int accumulate_weights);

/* Floats of scratch that layernorm_backward needs for N rows of C channels. */
int64_t layernorm_backward_scratch_size(int64_t N, int64_t C);

#endif
