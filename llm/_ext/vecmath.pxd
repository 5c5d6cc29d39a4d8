from libc.stdint cimport int64_t


cdef extern from "vecmath.h":
    double vec_exp_sum(float* out, const float* x, int64_t n, float shift) nogil
