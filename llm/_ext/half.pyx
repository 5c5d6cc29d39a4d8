"""16-bit floating-point arrays: bfloat16 and IEEE half (f16) bits held in uint16 (wraps
csrc/half.c). Rounding to nearest, ties to even; NaN stays NaN; f16 overflows to infinity from
65520 up and has subnormals below 2^-14 (see csrc/half.h).

    to_half(out, x, "bf16")     out (uint16) = x (float32) rounded to bfloat16
    to_float(out, h, "f16")     out (float32) = the values of h (uint16 f16 bits), exactly
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array, check_disjoint, check_half_kind

cnp.import_array()

KINDS = ("bf16", "f16")


def to_half(out, x, str kind):
    """out (uint16, x's shape) = x (float32, C-contiguous) rounded to kind; returns out."""
    cdef llm_dtype code = <llm_dtype>check_half_kind("kind", kind)
    check_array("x", x, np.float32)
    check_array("out", out, np.uint16, x.shape, writeable=True)
    check_disjoint((("out", out),), (("x", x),))
    cdef uint16_t* out_data = <uint16_t*>cnp.PyArray_DATA(out)
    cdef const float* x_data = <const float*>cnp.PyArray_DATA(x)
    cdef int64_t n = x.size
    with nogil:
        half_from_float(out_data, x_data, n, code)
    return out


def to_float(out, h, str kind):
    """out (float32, h's shape) = the values of h (uint16 bits of kind); returns out."""
    cdef llm_dtype code = <llm_dtype>check_half_kind("kind", kind)
    check_array("h", h, np.uint16)
    check_array("out", out, np.float32, h.shape, writeable=True)
    check_disjoint((("out", out),), (("h", h),))
    cdef float* out_data = <float*>cnp.PyArray_DATA(out)
    cdef const uint16_t* h_data = <const uint16_t*>cnp.PyArray_DATA(h)
    cdef int64_t n = h.size
    with nogil:
        half_to_float(out_data, h_data, n, code)
    return out
