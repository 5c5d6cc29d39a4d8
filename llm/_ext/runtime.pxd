cdef extern from "runtime.h":
    int runtime_simd_level()
    int runtime_max_threads()
    void runtime_set_num_threads(int n)
    const char* runtime_compiler()
    const char* runtime_build_flags()
