"""Pre-tokenization of UTF-8 bytes into pieces (wraps csrc/pretokenize.c).

Modes: "gpt2" (GPT-2's regex, reproduced exactly) and "naive" (words of letters, numbers and
marks; every other character alone). The rules are in csrc/pretokenize.h.
"""
# The C declarations come from pretokenize.pxd, which Cython includes automatically.
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize

import numpy as np

from llm._ext.runtime cimport share_process_state

share_process_state(__name__)

MODES = ("gpt2", "naive")


cdef pretokenize_mode mode_from_name(object mode) except *:
    if mode == "gpt2":
        return PRETOKENIZE_GPT2
    if mode == "naive":
        return PRETOKENIZE_NAIVE
    raise ValueError(f"mode={mode!r}: the pre-tokenizer mode must be one of {MODES}")


cdef const uint8_t[::1] byte_view(object data):
    try:
        return data
    except (TypeError, ValueError, BufferError):
        pass
    raise ValueError(f"data: expected bytes (or a C-contiguous uint8 buffer), got "
                     f"{type(data).__name__}; encode text with .encode('utf-8') first")


@cython.boundscheck(False)  # [0] indexes are guarded by n > 0
cdef split_view(const uint8_t[::1] text, pretokenize_mode mode):
    cdef int64_t n = text.shape[0]
    bounds_array = np.zeros(n + 1, dtype=np.int64)
    cdef int64_t[::1] bounds = bounds_array
    cdef int64_t count = 0
    if n > 0:
        with nogil:
            count = pretokenize_split(&bounds[0], mode, &text[0], n)
    return bounds_array[:count + 1]


def split(data, mode="gpt2"):
    """Piece boundaries of data: (count + 1,) int64, piece i = data[bounds[i]:bounds[i + 1]].

    data: bytes (any bytes; invalid UTF-8 bytes are single "other" characters).
    mode: "gpt2" or "naive".
    """
    cdef pretokenize_mode c_mode = mode_from_name(mode)
    return split_view(byte_view(data), c_mode)


@cython.boundscheck(False)  # the bounds lie within data by construction
@cython.wraparound(False)
def pieces(data, mode="gpt2"):
    """The pieces of data as a list of bytes objects; b"".join(pieces(data)) == data."""
    cdef pretokenize_mode c_mode = mode_from_name(mode)
    cdef const uint8_t[::1] text = byte_view(data)
    cdef int64_t[::1] bounds = split_view(text, c_mode)
    cdef const char* start = <const char*>&text[0] if text.shape[0] > 0 else NULL
    return [PyBytes_FromStringAndSize(start + bounds[i], bounds[i + 1] - bounds[i])
            for i in range(bounds.shape[0] - 1)]


def piece_end(data, int64_t pos, mode="gpt2"):
    """End (exclusive byte offset) of the piece of data that starts at byte pos."""
    cdef pretokenize_mode c_mode = mode_from_name(mode)
    cdef const uint8_t[::1] text = byte_view(data)
    if not 0 <= pos < text.shape[0]:
        raise ValueError(f"pos={pos}: must be in [0, {text.shape[0]}), the length of data")
    return pretokenize_piece_end(c_mode, &text[0], text.shape[0], pos)
