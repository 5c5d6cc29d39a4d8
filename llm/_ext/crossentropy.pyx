"""Cross-entropy over logits with integer targets, fused with the softmax backward
(wraps csrc/crossentropy.c).

Differences from torch.nn.functional.cross_entropy (otherwise the same loss and gradient,
including label smoothing and ignore_index with a mean over the counted positions): when every
position is ignored the loss is 0 and the gradient 0, not NaN; dlogits is returned through an
array the caller owns, which may be the logits themselves.
"""
cimport numpy as cnp
import numpy as np

from llm._ext.checks cimport check_array, check_disjoint
from llm._ext.runtime cimport share_process_state

cnp.import_array()
share_process_state(__name__)


def _check_per_position(name, array, dtype, logits, N, writeable=False):
    check_array(name, array, dtype, None, writeable)
    if array.shape not in ((N,), logits.shape[:-1]):
        raise ValueError(f"{name} has shape {array.shape}; expected {logits.shape[:-1]} "
                         f"(one per row of logits) or ({N},)")


def crossentropy_forward_backward(dlogits, logits, targets, int ignore_index=-1,
                                  float label_smoothing=0.0, losses=None,
                                  mean_count=None) -> float:
    """Mean cross-entropy of softmax(logits) against targets over the positions whose target is
    not ignore_index; writes its gradient into dlogits unless dlogits is None.

    logits: (..., V) float32; targets: logits.shape[:-1] or (N,) int32 class ids in [0, V) or
    ignore_index (an id out of range is a ValueError naming its position, raised before
    anything is written). dlogits: None (evaluation) or (..., V) float32, written (not
    accumulated) with d(mean loss)/d(logits); it may be logits itself, which saves N x V floats.
    label_smoothing in [0, 1]: the target distribution is (1 - s) onehot + s / V, as PyTorch.
    losses: None or a float32 array shaped like targets, receiving each position's loss
    (0 where ignored). mean_count: None, or the number of positions (>= 1) the mean divides by
    instead of those counted here: a data-parallel rank passes its global batch's count, so that
    the ranks' losses and gradients sum to the global batch's mean (its own may count none).
    Returns the mean loss (0.0 when every position is ignored and mean_count is None).
    """
    check_array("logits", logits, np.float32)
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits has shape {logits.shape}; expected (..., V) with V >= 1 classes")
    cdef int64_t V = logits.shape[-1]
    cdef int64_t N = logits.size // V
    _check_per_position("targets", targets, np.int32, logits, N)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing={label_smoothing}: must be in [0, 1]")
    if mean_count is not None and (isinstance(mean_count, bool)
                                   or not isinstance(mean_count, (int, np.integer))
                                   or mean_count < 1):
        raise ValueError(f"mean_count={mean_count!r}: must be None or an integer >= 1")
    cdef int64_t divisor = 0 if mean_count is None else mean_count
    if losses is None:
        losses = np.empty(N, np.float32)
    else:
        _check_per_position("losses", losses, np.float32, logits, N, writeable=True)
    if dlogits is not None:
        check_array("dlogits", dlogits, np.float32, logits.shape, writeable=True)
    check_disjoint((("dlogits", dlogits), ("losses", losses)),
                   (("logits", logits), ("targets", targets)),
                   same_allowed=(("dlogits", "logits"),))
    cdef float* dlogits_ptr = NULL if dlogits is None else <float*>cnp.PyArray_DATA(dlogits)
    cdef float* losses_ptr = <float*>cnp.PyArray_DATA(losses)
    cdef const float* logits_ptr = <const float*>cnp.PyArray_DATA(logits)
    cdef const int32_t* targets_ptr = <const int32_t*>cnp.PyArray_DATA(targets)
    cdef double mean_loss = 0.0
    cdef int64_t bad_position = 0
    cdef llm_status status
    with nogil:
        status = c_crossentropy_forward_backward(dlogits_ptr, losses_ptr, &mean_loss,
                                                 &bad_position, logits_ptr, targets_ptr, N, V,
                                                 ignore_index, label_smoothing, divisor)
    if status == LLM_ERR_RANGE:
        where = np.unravel_index(bad_position, targets.shape)
        index = ", ".join(str(int(i)) for i in where)
        raise ValueError(f"targets[{index}] = {targets.reshape(-1)[bad_position]} is out of "
                         f"range [0, {V}) and is not ignore_index={ignore_index}")
    return mean_loss
