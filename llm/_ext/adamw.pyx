"""AdamW over one flat parameter buffer, and global-norm gradient clipping (wraps csrc/adamw.c).

All parameters live in one contiguous float32 buffer (a view per tensor), and so do their
gradients and Adam's m and v: one call updates the whole model.
"""
cimport numpy as cnp
import math

import numpy as np

from llm._ext.checks cimport check_array, check_disjoint

cnp.import_array()


def decay_mask_from_ranges(n: int, ranges) -> np.ndarray:
    """A (n,) uint8 decay mask: 1 inside each [start, stop) of ranges (the parameters to decay,
    e.g. the matrices), 0 elsewhere (biases, LayerNorm gains, ...)."""
    mask = np.zeros(n, np.uint8)
    for start, stop in ranges:
        if not 0 <= start <= stop <= n:
            raise ValueError(f"range [{start}, {stop}) is not within [0, {n}); "
                             f"ranges are (start, stop) offsets into the parameter buffer")
        mask[start:stop] = 1
    return mask


def _check_nonnegative(name, double value, bint zero_allowed=True):
    if not (math.isfinite(value) and (value >= 0 if zero_allowed else value > 0)):
        raise ValueError(f"{name}={value}: must be a finite number "
                         f"{'>= 0' if zero_allowed else '> 0'}")


def adamw_step(params, grads, m, v, double lr, double beta1, double beta2, double eps,
               double weight_decay, long step, decay_mask=None, double grad_scale=1.0):
    """One AdamW step in place, exactly torch.optim.AdamW's (decoupled weight decay
    p -= lr * weight_decay * p, then the bias-corrected Adam update).

    params, m, v: (n,) float32, updated in place; grads: (n,) float32, used times grad_scale
    (a finite number > 0; clip_scale(norm, max_norm) clips without a pass of its own, leaving
    grads as they are). step: the step number, counting from 1 (bias correction). decay_mask:
    None (decay every parameter) or (n,) uint8, 1 where weight decay applies (see
    decay_mask_from_ranges). Betas lie in [0, 1), eps > 0.
    """
    check_array("params", params, np.float32, (None,), writeable=True)
    n = params.shape[0]
    check_array("grads", grads, np.float32, (n,))
    check_array("m", m, np.float32, (n,), writeable=True)
    check_array("v", v, np.float32, (n,), writeable=True)
    if decay_mask is not None:
        check_array("decay_mask", decay_mask, np.uint8, (n,))
    _check_nonnegative("lr", lr)
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{name}={beta}: must be in [0, 1)")
    _check_nonnegative("eps", eps, zero_allowed=False)
    _check_nonnegative("weight_decay", weight_decay)
    if step < 1:
        raise ValueError(f"step={step}: steps count from 1 (the first update is step 1)")
    _check_nonnegative("grad_scale", grad_scale, zero_allowed=False)
    check_disjoint((("params", params), ("m", m), ("v", v)),
                   (("grads", grads), ("decay_mask", decay_mask)))
    cdef float* params_ptr = <float*>cnp.PyArray_DATA(params)
    cdef float* m_ptr = <float*>cnp.PyArray_DATA(m)
    cdef float* v_ptr = <float*>cnp.PyArray_DATA(v)
    cdef const float* grads_ptr = <const float*>cnp.PyArray_DATA(grads)
    cdef const uint8_t* mask_ptr = NULL
    if decay_mask is not None:
        mask_ptr = <const uint8_t*>cnp.PyArray_DATA(decay_mask)
    cdef int64_t size = n, step_number = step
    with nogil:
        c_adamw_step(params_ptr, m_ptr, v_ptr, grads_ptr, mask_ptr, size, lr, beta1, beta2, eps,
                     weight_decay, step_number, <float>grad_scale)


def grad_norm(grads) -> float:
    """The global L2 norm of grads ((n,) float32), accumulated in double in a fixed order
    (the same for every thread count)."""
    check_array("grads", grads, np.float32, (None,))
    cdef const float* grads_ptr = <const float*>cnp.PyArray_DATA(grads)
    cdef int64_t n = grads.shape[0]
    cdef double norm
    with nogil:
        norm = c_grad_norm(grads_ptr, n)
    return norm


def clip_scale(double norm, double max_norm) -> float:
    """The factor clip_grad_norm would scale gradients of global norm `norm` by (as
    torch.nn.utils.clip_grad_norm_): max_norm / (norm + 1e-6) when the norm is finite and above
    max_norm, else 1.0; rounded to float32. For adamw_step(..., grad_scale=...)."""
    if not max_norm > 0:
        raise ValueError(f"max_norm={max_norm}: must be positive")
    return c_clip_scale(norm, max_norm)


def clip_grad_norm(grads, double max_norm) -> float:
    """Scale grads ((n,) float32) in place by max_norm / (norm + 1e-6) when their global norm
    exceeds max_norm (as torch.nn.utils.clip_grad_norm_); returns the norm before clipping.
    A non-finite norm (inf or NaN gradients) is returned with grads left untouched."""
    check_array("grads", grads, np.float32, (None,), writeable=True)
    if not max_norm > 0:
        raise ValueError(f"max_norm={max_norm}: must be positive")
    cdef float* grads_ptr = <float*>cnp.PyArray_DATA(grads)
    cdef int64_t n = grads.shape[0]
    cdef double norm
    with nogil:
        norm = c_clip_grad_norm(grads_ptr, n, max_norm)
    return norm
