# Argument checks shared by the Cython wrappers: a wrong array is a ValueError naming it.
#
# Kernels read raw pointers, so every array reaching C must have the dtype, C-contiguous layout
# and shape the kernel assumes, and an output must not overlap what the kernel reads. The
# messages say how to fix the call.
#
# Used with `from llm._ext.checks cimport check_array, check_disjoint`: the functions are inline
# C compiled into each wrapper (this file has no module of its own). They read the NumPy C
# structures directly, so a passing check costs tens of nanoseconds instead of the microseconds
# of attribute lookups (`array.dtype`, `array.flags`, `np.may_share_memory`), which dominated a
# decoding step's small kernel calls. Only a failing check builds its message in Python.
cimport numpy as cnp

# The most arrays one check_disjoint call compares (a wrapper's outputs and inputs).
cdef enum:
    MAX_CHECKED_ARRAYS = 16


cdef inline cnp.ndarray check_array(str name, object array, object dtype, tuple shape=None,
                                    bint writeable=False):
    """array after checking it is a C-contiguous numpy array of dtype (a NumPy scalar type such
    as np.float32) and shape (an entry None in shape matches any size); writeable for outputs."""
    if not cnp.PyArray_Check(array):
        raise ValueError(f"{name} must be a numpy.ndarray, got {type(array).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>array
    cdef cnp.dtype descr = <cnp.dtype>cnp.PyArray_DESCR(a)
    if not (<void*>descr.typeobj == <void*>dtype and cnp.PyArray_ISNOTSWAPPED(a)) \
            and array.dtype != dtype:    # the first test is the common case, fast
        dtype_name = cnp.dtype(dtype).name
        raise ValueError(f"{name} must be {dtype_name}, got {array.dtype}; "
                         f"convert with {name}.astype(numpy.{dtype_name})")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{name} must be C-contiguous (a transposed or sliced view is not); "
                         f"pass numpy.ascontiguousarray({name})")
    if shape is not None and not has_shape(a, shape):
        expected = "(" + ", ".join(["*" if s is None else str(s) for s in shape]) + \
                   ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} has shape {array.shape}; expected {expected}")
    if writeable and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"{name} is read-only; pass a writeable output array")
    return a


cdef inline bint has_shape(cnp.ndarray a, tuple shape) except -1:
    """Whether a's shape matches shape, whose entries are sizes or None (any size)."""
    cdef Py_ssize_t axis, ndim = len(shape)
    if cnp.PyArray_NDIM(a) != ndim:
        return False
    for axis in range(ndim):
        want = shape[axis]
        if want is not None and cnp.PyArray_DIM(a, axis) != <Py_ssize_t>want:
            return False
    return True


cdef inline check_disjoint(tuple outputs, tuple inputs, tuple same_allowed=()):
    """Raise if an output array overlaps another output or an input in memory (the kernel would
    read values it has already overwritten). outputs, inputs: tuples of (name, array or None);
    same_allowed: (output name, input name) pairs that may be exactly the same array (in
    place). Overlap means intersecting byte extents, as np.may_share_memory's default."""
    cdef Py_ssize_t n_outputs = len(outputs), n = n_outputs + len(inputs), i, j
    cdef char* low[MAX_CHECKED_ARRAYS]
    cdef char* high[MAX_CHECKED_ARRAYS]
    if n > MAX_CHECKED_ARRAYS:
        raise ValueError(f"check_disjoint: {n} arrays; at most {MAX_CHECKED_ARRAYS}")
    for i in range(n):
        array = (outputs[i] if i < n_outputs else inputs[i - n_outputs])[1]
        if cnp.PyArray_Check(array):
            low[i], high[i] = byte_extent(<cnp.ndarray>array)
        else:   # None, or a wrong argument its own check reports
            low[i] = high[i] = NULL
    for i in range(n_outputs):
        for j in range(i + 1, n):
            if low[i] < high[j] and low[j] < high[i]:  # as overlaps()
                raise_overlap(outputs[i], outputs[j] if j < n_outputs else inputs[j - n_outputs],
                              same_allowed)


cdef inline bint overlaps(object x, object y):
    """Whether x and y (checked arrays, or None) share bytes, as check_disjoint tests them:
    without its argument tuples, a cheap pretest for a hot call that then names the overlap
    through check_disjoint."""
    if x is None or y is None:
        return False
    cdef char* x_low
    cdef char* x_high
    cdef char* y_low
    cdef char* y_high
    x_low, x_high = byte_extent(<cnp.ndarray>x)
    y_low, y_high = byte_extent(<cnp.ndarray>y)
    return x_low < y_high and y_low < x_high


cdef inline raise_overlap(tuple output, tuple other, tuple same_allowed):
    """The error for an output overlapping other, both (name, array); none when the pair is in
    same_allowed and the two are the very same array."""
    name, array = output
    other_name, other_array = other
    if (name, other_name) in same_allowed:
        if (cnp.PyArray_DATA(<cnp.ndarray>array) == cnp.PyArray_DATA(<cnp.ndarray>other_array)
                and array.shape == other_array.shape):
            return
        raise ValueError(f"{name} overlaps {other_name} in memory; it may be the very "
                         f"same array (in place) but not a shifted view of it")
    raise ValueError(f"{name} overlaps {other_name} in memory; pass a separate array")


cdef inline (char*, char*) byte_extent(cnp.ndarray a) noexcept:
    """[low, high): the bytes an array's elements span (empty for an array of no element)."""
    cdef char* low = <char*>cnp.PyArray_DATA(a)
    cdef char* high = low + cnp.PyArray_ITEMSIZE(a)
    cdef cnp.npy_intp extent
    cdef int axis
    for axis in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_DIM(a, axis) == 0:
            return low, low
        extent = (cnp.PyArray_DIM(a, axis) - 1) * cnp.PyArray_STRIDE(a, axis)
        if extent < 0:
            low += extent
        else:
            high += extent
    return low, high



cdef inline int check_weight_kind(str name, str kind) except -1:
    """The llm_dtype value (common.h) of a weight's kind: 0 for "f32" (float32), else as
    check_half_kind; ValueError naming the argument otherwise."""
    if kind == "f32":
        return 0
    if kind not in ("bf16", "f16"):
        raise ValueError(f"{name}={kind!r}: expected 'f32', 'bf16' or 'f16'")
    return check_half_kind(name, kind)


cdef inline int check_half_kind(str name, str kind) except -1:
    """The llm_dtype value (common.h) of a 16-bit kind: 1 for "bf16", 2 for "f16"; ValueError
    naming the argument otherwise."""
    if kind == "bf16":
        return 1
    if kind == "f16":
        return 2
    raise ValueError(f"{name}={kind!r}: expected 'bf16' or 'f16'")
