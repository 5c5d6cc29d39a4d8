from libc.stdint cimport int64_t, uint8_t


# The C names are the Python names, so Cython sees them with a c_ prefix.
cdef extern from "adamw.h":
    void c_adamw_step "adamw_step"(
        float* params, float* m, float* v, const float* grads, const uint8_t* decay_mask,
        int64_t n, double lr, double beta1, double beta2, double eps, double weight_decay,
        int64_t step, float grad_scale) nogil
    double c_grad_norm "grad_norm"(const float* grads, int64_t n) nogil
    double c_clip_grad_norm "clip_grad_norm"(float* grads, int64_t n, double max_norm) nogil
    float c_clip_scale "clip_scale"(double norm, double max_norm) nogil
