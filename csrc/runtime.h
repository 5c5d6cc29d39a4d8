/* Process-wide facts for build_info() and thread control (the SIMD level: simd.h). */
#ifndef LLM_RUNTIME_H
#define LLM_RUNTIME_H

#include "common.h"

int runtime_max_threads(void);          /* OpenMP threads a parallel region will use */
void runtime_set_num_threads(int n);    /* for the calling thread's later regions */
const char* runtime_compiler(void);
const char* runtime_build_flags(void);

#endif
