/* Pointwise activations: GELU (tanh approximation, as GPT-2) and ReLU. Arrays of any shape are
 * processed as n contiguous floats; forward's out may be x itself (in place). Backward
 * accumulates (+=) into dx. Results do not depend on the thread count. */
#ifndef LLM_ACTIVATION_H
#define LLM_ACTIVATION_H

#include "common.h"

/* out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void gelu_forward(float* out,       // (n,)
                  const float* x,   // (n,)
                  int64_t n);

void gelu_backward(float* dx,          // (n,)
                   const float* dout,  // (n,)
                   const float* x,     // (n,) the forward's input
                   int64_t n);

/* out = max(x, 0); NaN stays NaN. */
void relu_forward(float* out, const float* x, int64_t n);

/* dx += dout where x > 0. */
void relu_backward(float* dx, const float* dout, const float* x, int64_t n);

#endif
