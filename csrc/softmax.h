/* Row-wise softmax over the last dimension and its backward. */
#ifndef LLM_SOFTMAX_H
#define LLM_SOFTMAX_H

#include "common.h"

/* out[r, :] = exp(x[r, :] - max) / sum, numerically stable for any finite row; a row of -inf
 * with one finite entry gives a one-hot row (masking). out may be x itself. */
void softmax_forward(float* out,       // (N, C)
                     const float* x,   // (N, C)
                     int64_t N, int64_t C);

/* dx[r, i] += out[r, i] * (dout[r, i] - sum_j dout[r, j] * out[r, j]). Accumulates. */
void softmax_backward(float* dx,          // (N, C)
                      const float* dout,  // (N, C)
                      const float* out,   // (N, C) the forward's output
                      int64_t N, int64_t C);

#endif
