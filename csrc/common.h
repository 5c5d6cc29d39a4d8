/* Conventions shared by every kernel in csrc/.
 *
 * - Kernels take outputs first, then inputs, then sizes; sizes are int64_t
 *   (B*T*C overflows int at real sizes).
 * - Kernels never allocate on hot paths and never call Python.
 * - Functions that can fail on bad input return an llm_status; the Cython
 *   wrapper turns a non-zero status into a ValueError naming the argument.
 */
#ifndef LLM_COMMON_H
#define LLM_COMMON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LLM_OK = 0,
    LLM_ERR_ARGUMENT = -1,   /* a size or argument is invalid */
    LLM_ERR_RANGE = -2,      /* an id or index is out of range */
    LLM_ERR_NOMEM = -3,      /* allocation failed (only outside hot paths) */
    LLM_ERR_FORMAT = -4,     /* malformed input data */
} llm_status;

/* Element type of a weight matrix: float32, or 16-bit bfloat16 / IEEE half bits held in
 * uint16_t (inference only; see half.h). */
typedef enum {
    LLM_F32 = 0,
    LLM_BF16 = 1,
    LLM_F16 = 2,
} llm_dtype;

#endif
