from libc.stdint cimport int32_t, int64_t


cdef extern from "common.h":
    ctypedef enum llm_status:
        LLM_OK
        LLM_ERR_RANGE


# The C name is the Python name, so Cython sees it with a c_ prefix.
cdef extern from "crossentropy.h":
    llm_status c_crossentropy_forward_backward "crossentropy_forward_backward"(
        float* dlogits, float* losses, double* mean_loss, int64_t* bad_position,
        const float* logits, const int32_t* targets, int64_t N, int64_t V,
        int32_t ignore_index, float label_smoothing, int64_t mean_count) nogil
