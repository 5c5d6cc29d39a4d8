from libc.stdint cimport int64_t


# The C names are the Python names, so Cython sees them with a c_ prefix.
cdef extern from "softmax.h":
    void c_softmax_forward "softmax_forward"(float* out, const float* x,
                                             int64_t N, int64_t C) nogil
    void c_softmax_backward "softmax_backward"(float* dx, const float* dout, const float* out,
                                               int64_t N, int64_t C) nogil
