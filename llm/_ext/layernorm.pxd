from libc.stdint cimport int64_t


# The C names are the Python names, so Cython sees them with a c_ prefix.
cdef extern from "layernorm.h":
    void c_layernorm_forward "layernorm_forward"(
        float* out, float* mean, float* rstd, float* x, const float* residual,
        const float* weight, const float* bias, int64_t N, int64_t C, float eps) nogil
    void c_layernorm_backward "layernorm_backward"(
        float* dx, float* dweight, float* dbias, float* scratch, const float* dout,
        const float* x, const float* weight, const float* mean, const float* rstd,
        int64_t N, int64_t C, int accumulate_weights) nogil
    int64_t layernorm_backward_scratch_size(int64_t N, int64_t C)
