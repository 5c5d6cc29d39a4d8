#include "runtime.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef LLM_BUILD_FLAGS
#define LLM_BUILD_FLAGS "unknown"
#endif

int runtime_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char* runtime_compiler(void) {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}

const char* runtime_build_flags(void) { return LLM_BUILD_FLAGS; }
