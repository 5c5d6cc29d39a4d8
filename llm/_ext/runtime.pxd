cdef extern from "simd.h":
    ctypedef enum llm_simd:
        LLM_SIMD_SCALAR
        LLM_SIMD_AVX2
        LLM_SIMD_AVX512
    ctypedef struct llm_simd_state:
        pass
    llm_simd llm_simd_level() nogil
    llm_simd llm_simd_set_level(int level) nogil
    llm_simd_state* llm_simd_state_here() nogil
    void llm_simd_share(llm_simd_state* state) nogil

cdef extern from "runtime.h":
    int runtime_max_threads()
    void runtime_set_num_threads(int n)
    const char* runtime_compiler()
    const char* runtime_build_flags()


# This module's SIMD state, the process's: handed to `module`, which will read it.
cdef llm_simd_state* process_simd_state(str module) except NULL


cdef inline int share_simd_level(str module) except -1:
    """Point this extension's copy of csrc/simd.c at the process's SIMD level (runtime's copy),
    so that runtime.set_simd_level reaches its kernels: called once, at import, by every module
    that compiles csrc/simd.c (each extension has its own copy of C globals)."""
    llm_simd_share(process_simd_state(module))
    return 0
