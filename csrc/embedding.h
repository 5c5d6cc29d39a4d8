/* Embedding lookup: rows of a table gathered by id, and the gradient scattered back. */
#ifndef LLM_EMBEDDING_H
#define LLM_EMBEDDING_H

#include "common.h"

/* out[i, :] = table[ids[i], :]. Returns LLM_ERR_RANGE, writing nothing but *bad_position (the
 * first i whose id is outside [0, V)), when an id is out of range. */
llm_status embedding_forward(float* out,              // (N, C)
                             int64_t* bad_position,   // (1,) set on LLM_ERR_RANGE
                             const int32_t* ids,      // (N,)
                             const float* table,      // (V, C)
                             int64_t N, int64_t V, int64_t C);

/* embedding_forward from a 16-bit table (inference): table_type LLM_BF16 or LLM_F16 (half.h;
 * another type is LLM_ERR_ARGUMENT); the rows gathered are widened to float32. */
llm_status embedding_forward_half(float* out,               // (N, C)
                                  int64_t* bad_position,    // (1,) set on LLM_ERR_RANGE
                                  const int32_t* ids,       // (N,)
                                  const uint16_t* table,    // (V, C)
                                  llm_dtype table_type,
                                  int64_t N, int64_t V, int64_t C);

/* dtable[ids[i], :] += dout[i, :] for i in order. Threads own disjoint ranges of channels, so
 * there are no races and every sum runs in the same order for any thread count. Ids are
 * checked as in embedding_forward before anything is written. */
llm_status embedding_backward(float* dtable,           // (V, C)
                              int64_t* bad_position,   // (1,) set on LLM_ERR_RANGE
                              const float* dout,       // (N, C)
                              const int32_t* ids,      // (N,)
                              int64_t N, int64_t V, int64_t C);

#endif
