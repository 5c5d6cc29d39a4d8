/* Pointwise activations: GELU (tanh approximation, as GPT-2) and ReLU. Arrays of any shape are
 * processed as n contiguous floats; forward's out may be x itself, and backward's dx may be
 * dout itself (in place). Backward writes dx (no accumulation: a model passes its activation's
 * output gradient through in place, with no zeroing pass). Results do not depend on the thread
 * count. */
#ifndef LLM_ACTIVATION_H
#define LLM_ACTIVATION_H

#include "common.h"

/* out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
void gelu_forward(float* out,       // (n,)
                  const float* x,   // (n,)
                  int64_t n);

/* dx = dout * gelu'(x), given the forward's input x and output out = gelu(x) (the sigmoid in
 * gelu' is read back from them rather than recomputed). */
void gelu_backward(float* dx,          // (n,)
                   const float* dout,  // (n,)
                   const float* x,     // (n,) the forward's input
                   const float* out,   // (n,) the forward's output
                   int64_t n);

/* out = max(x, 0); NaN stays NaN. */
void relu_forward(float* out, const float* x, int64_t n);

/* dx = dout where x > 0, else 0. out (the forward's output) is not read: it is there so that
 * both backward functions take the same arguments. */
void relu_backward(float* dx, const float* dout, const float* x, const float* out, int64_t n);

#endif
