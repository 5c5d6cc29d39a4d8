from libc.stdint cimport int64_t, uint8_t


cdef extern from "pretokenize.h":
    ctypedef enum pretokenize_mode:
        PRETOKENIZE_GPT2
        PRETOKENIZE_NAIVE

    int64_t pretokenize_piece_end(pretokenize_mode mode, const uint8_t* text, int64_t n,
                                  int64_t pos) nogil
    int64_t pretokenize_split(int64_t* bounds, pretokenize_mode mode, const uint8_t* text,
                              int64_t n) nogil
