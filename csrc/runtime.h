/* Process-wide facts for build_info() (the SIMD level: simd.h; the thread policy: threads.h). */
#ifndef LLM_RUNTIME_H
#define LLM_RUNTIME_H

#include "common.h"

int runtime_max_threads(void);          /* OpenMP threads a parallel region will use */
const char* runtime_compiler(void);
const char* runtime_build_flags(void);

#endif
