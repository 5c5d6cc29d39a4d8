from libc.stdint cimport int64_t


# The C names are the Python names, so Cython sees them with a c_ prefix.
cdef extern from "activation.h":
    void c_gelu_forward "gelu_forward"(float* out, const float* x, int64_t n) nogil
    void c_gelu_backward "gelu_backward"(float* dx, const float* dout, const float* x,
                                         const float* out, int64_t n) nogil
    void c_relu_forward "relu_forward"(float* out, const float* x, int64_t n) nogil
    void c_relu_backward "relu_backward"(float* dx, const float* dout, const float* x,
                                         const float* out, int64_t n) nogil
