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

cdef extern from "threads.h":
    ctypedef struct llm_threads_state:
        pass
    void llm_threads_adapt() nogil
    int llm_threads_for_cores(double cores, int max_threads) nogil
    int llm_threads_automatic() nogil
    void llm_threads_fix(int n) nogil
    void llm_threads_automate() nogil
    double llm_threads_free_cores() nogil
    llm_threads_state* llm_threads_state_here() nogil
    void llm_threads_share(llm_threads_state* state) nogil

cdef extern from "runtime.h":
    int runtime_max_threads()
    const char* runtime_compiler()
    const char* runtime_build_flags()


# This module's SIMD state and thread policy, the process's: handed to `module`, which will
# read them.
cdef llm_simd_state* process_simd_state(str module) except NULL
cdef llm_threads_state* process_threads_state() noexcept


cdef inline int share_process_state(str module) except -1:
    """Point this extension's copies of csrc/simd.c and csrc/threads.c at the process's SIMD level
    and thread policy (runtime's copies), so that runtime.set_simd_level and set_num_threads reach
    its kernels: called once, at import, by every module that compiles them (each extension has
    its own copy of C globals)."""
    llm_simd_share(process_simd_state(module))
    llm_threads_share(process_threads_state())
    return 0
