"""Pointwise activations GELU (tanh approximation, as GPT-2) and ReLU (wraps csrc/activation.c).

Arrays are float32, C-contiguous, of any one shape. Forward's out may be x itself (in place);
backward takes the forward's input x and output out, and writes dx, which may be dout itself
(in place) but must not otherwise overlap dout, x or out.
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array, check_disjoint
from llm._ext.runtime cimport share_process_state

cnp.import_array()
share_process_state(__name__)

ctypedef void (*pointwise_forward)(float*, const float*, int64_t) noexcept nogil
ctypedef void (*pointwise_backward)(float*, const float*, const float*, const float*,
                                    int64_t) noexcept nogil


cdef run_forward(pointwise_forward kernel, out, x):
    check_array("x", x, np.float32)
    check_array("out", out, np.float32, x.shape, writeable=True)
    check_disjoint((("out", out),), (("x", x),), same_allowed=(("out", "x"),))
    cdef float* out_ptr = <float*>cnp.PyArray_DATA(out)
    cdef const float* x_ptr = <const float*>cnp.PyArray_DATA(x)
    cdef int64_t n = x.size
    with nogil:
        kernel(out_ptr, x_ptr, n)


cdef run_backward(pointwise_backward kernel, dx, dout, x, out):
    check_array("x", x, np.float32)
    check_array("out", out, np.float32, x.shape)
    check_array("dout", dout, np.float32, x.shape)
    check_array("dx", dx, np.float32, x.shape, writeable=True)
    check_disjoint((("dx", dx),), (("dout", dout), ("x", x), ("out", out)),
                   same_allowed=(("dx", "dout"),))
    cdef float* dx_ptr = <float*>cnp.PyArray_DATA(dx)
    cdef const float* dout_ptr = <const float*>cnp.PyArray_DATA(dout)
    cdef const float* x_ptr = <const float*>cnp.PyArray_DATA(x)
    cdef const float* out_ptr = <const float*>cnp.PyArray_DATA(out)
    cdef int64_t n = x.size
    with nogil:
        kernel(dx_ptr, dout_ptr, x_ptr, out_ptr, n)


def gelu_forward(out, x):
    """out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), elementwise; out may be x."""
    run_forward(c_gelu_forward, out, x)


def gelu_backward(dx, dout, x, out):
    """dx = dout * gelu'(x), with x the forward's input and out its output, gelu(x) (the
    sigmoid in gelu' is read back as out / x rather than recomputed); dx may be dout."""
    run_backward(c_gelu_backward, dx, dout, x, out)


def relu_forward(out, x):
    """out = max(x, 0), elementwise (NaN stays NaN); out may be x."""
    run_forward(c_relu_forward, out, x)


def relu_backward(dx, dout, x, out):
    """dx = dout where x > 0, else 0, with x the forward's input (out, its output, is checked
    but not read: both backward functions take the same arguments); dx may be dout."""
    run_backward(c_relu_backward, dx, dout, x, out)
