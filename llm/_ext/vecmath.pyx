"""Vectorised exp (wraps csrc/vecmath.c), the primitive under softmax, cross-entropy and GELU.

Exposed for its tests and for anyone who needs a fast, accurate exp over a float32 array.
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array

cnp.import_array()

SIMD_LEVELS = {"scalar": LLM_SIMD_SCALAR, "avx2": LLM_SIMD_AVX2, "avx512": LLM_SIMD_AVX512}


def exp_sum(out, x, float shift=0.0, simd=None) -> float:
    """out[i] = exp(x[i] - shift) for every element; returns their sum (accumulated in double).

    x: float32 C-contiguous array of any shape; out: None (only sum) or a float32 array of x's
    shape, which may be x itself. simd: None for the best level this CPU has, or "scalar",
    "avx2", "avx512" to force one (for tests; a level the CPU lacks is a ValueError).
    """
    check_array("x", x, np.float32)
    cdef float* out_ptr = NULL
    if out is not None:
        check_array("out", out, np.float32, x.shape, writeable=True)
        out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef llm_simd level = llm_simd_detect()
    if simd is not None:
        if simd not in SIMD_LEVELS:
            raise ValueError(f"simd={simd!r}: expected None or one of {sorted(SIMD_LEVELS)}")
        if SIMD_LEVELS[simd] > level:
            raise ValueError(f"simd={simd!r} is not supported by this CPU")
        level = SIMD_LEVELS[simd]
    cdef const float* x_ptr = <const float*>cnp.PyArray_DATA(x)
    cdef int64_t n = x.size
    cdef double total
    with nogil:
        total = vec_exp_sum_simd(out_ptr, x_ptr, n, shift, level)
    return total
