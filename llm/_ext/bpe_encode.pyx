"""BPE encoding and decoding with trained merges (wraps csrc/bpe_encode.c).

Encoder holds the merges and the token bytes (an llm._ext.lookup.Vocabulary) and is read-only:
one Encoder serves any number of threads. A Workspace holds one thread's piece cache and scratch.
Methods: "bpe" (standard merge-rank BPE) and "greedy" (longest match); the rules are in
csrc/bpe_encode.h.
"""
# The C declarations come from bpe_encode.pxd, which Cython includes automatically.
cimport cython
cimport numpy as cnp
from cpython.list cimport PyList_New
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE

import numpy as np

from llm._ext.checks cimport check_array
from llm._ext.runtime cimport share_process_state

cnp.import_array()
share_process_state(__name__)


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL
    void list_set_item "PyList_SET_ITEM"(object items, Py_ssize_t i, PyObject* item)
    void incref "Py_INCREF"(PyObject* item)

METHODS = {"bpe": BPE_MERGE_RANK, "greedy": BPE_GREEDY}
BLOCK_IDS = 1 << 22   # output ids per C call on long inputs
PRETOKENIZER_MODES = {"gpt2": PRETOKENIZE_GPT2, "naive": PRETOKENIZE_NAIVE}


cdef class Workspace:
    """One thread's piece cache and scratch, for one Encoder and one method."""
    cdef bpe_workspace* workspace

    def __cinit__(self):
        self.workspace = bpe_workspace_new()
        if self.workspace is NULL:
            raise MemoryError("Workspace: out of memory")

    def __dealloc__(self):
        bpe_workspace_free(self.workspace)


cdef class Encoder:
    """mode: pre-tokenizer, "gpt2" or "naive". merges: (n_merges, 2) int32 (left, right) ids,
    merge k creating id n_base + k. tokens: Vocabulary of every token, special tokens included
    after the n_base + n_merges merged ones (decode reads them all). alphabet: None (the 256
    bytes are the base) or the Vocabulary of the base characters (naive mode). unknown_id: id
    for a character outside the alphabet."""
    cdef bpe_encoder* encoder
    cdef readonly Vocabulary tokens
    cdef readonly Vocabulary alphabet
    cdef readonly object merges

    def __cinit__(self, str mode, merges, Vocabulary tokens, Vocabulary alphabet=None,
                  int unknown_id=-1):
        if mode not in PRETOKENIZER_MODES:
            raise ValueError(f"mode={mode!r}: must be one of {tuple(PRETOKENIZER_MODES)}")
        merges = np.ascontiguousarray(merges, dtype=np.int32).reshape(-1, 2)
        n_base = 256 if alphabet is None else len(alphabet)
        n_mergeable = n_base + merges.shape[0]
        if len(tokens) < n_mergeable:
            raise ValueError(f"tokens: {len(tokens)} tokens, fewer than the {n_base} base "
                             f"symbols and {merges.shape[0]} merges")
        self.tokens, self.alphabet, self.merges = tokens, alphabet, merges
        cdef const int32_t[:, ::1] merges_view = merges
        cdef int32_t no_merge = 0
        cdef lookup_vocabulary mergeable = tokens.view
        mergeable.size = n_mergeable
        cdef llm_status status = LLM_OK
        self.encoder = bpe_encoder_new(
            &status, PRETOKENIZER_MODES[mode], NULL if alphabet is None else &alphabet.view,
            &merges_view[0, 0] if merges.shape[0] else &no_merge, merges.shape[0], mergeable,
            unknown_id)
        if self.encoder is NULL:
            if status == LLM_ERR_NOMEM:
                raise MemoryError("Encoder: out of memory")
            raise ValueError("merges: a merge refers to a token that does not exist before it, "
                             "or merges the same pair twice")

    def __dealloc__(self):
        bpe_encoder_free(self.encoder)

    def encode(self, data, Workspace workspace, str method="bpe", bint trim=True):
        """Token ids of data: (count,) int32. data: bytes-like, or a str, whose UTF-8 is read
        where CPython keeps it, without a copy (an ASCII str is its own UTF-8; for any other str
        CPython makes the UTF-8 once and keeps it with the str, as PyUnicode_AsUTF8AndSize
        does). A str with a lone surrogate raises UnicodeEncodeError. Long inputs are encoded
        in blocks of BLOCK_IDS ids, so the scratch output stays small whatever the input size.
        trim=False may return a view into a larger buffer (up to one id per byte) instead of a
        copy of the ids: for a caller that reads them at once and lets them go."""
        if method not in METHODS:
            raise ValueError(f"method={method!r}: must be one of {tuple(METHODS)}")
        cdef bpe_method c_method = METHODS[method]
        cdef const uint8_t* text
        cdef const uint8_t[::1] text_view
        cdef Py_ssize_t utf8_size = 0
        if isinstance(data, str):   # data holds its UTF-8 for as long as this call runs
            text = <const uint8_t*>PyUnicode_AsUTF8AndSize(data, &utf8_size)
        else:
            text_view = data
            utf8_size = text_view.shape[0]
            text = &text_view[0] if utf8_size > 0 else NULL
        cdef int64_t n = utf8_size, pos = 0, consumed = 0, count = 0
        cdef int64_t capacity = min(n, BLOCK_IDS)
        cdef int32_t[::1] ids_view
        blocks = []
        while pos < n:
            ids = np.empty(capacity, dtype=np.int32)
            ids_view = ids
            with nogil:
                count = bpe_encode(&ids_view[0], &consumed, self.encoder, workspace.workspace,
                                   c_method, text + pos, n - pos, capacity)
            if count == LLM_ERR_NOMEM:
                raise MemoryError("encode: out of memory")
            if count < 0:
                raise ValueError(f"encode: a single piece of more than {2**29} bytes is too long")
            if consumed == 0:   # the next piece alone is longer than capacity
                capacity *= 2
                continue
            blocks.append(ids[:count] if count == capacity or not trim else ids[:count].copy())
            pos += consumed
        if len(blocks) == 1:
            return blocks[0]
        return np.concatenate(blocks) if blocks else np.empty(0, dtype=np.int32)

    def decode(self, ids, Vocabulary tokens=None) -> bytes:
        """The bytes of token ids, back to back. ids: a sequence or array of integers; an id
        outside [0, number of tokens) is a ValueError naming it and its position. tokens: the
        Vocabulary the ids index (default: the encoder's own, in merge order; a tokenizer whose
        ids are in another order passes its tokens in id order)."""
        if tokens is None:
            tokens = self.tokens
        array = as_id_array(ids)
        cdef const int64_t[::1] ids_view = array
        cdef int64_t n = array.shape[0], length = 0, bad = -1
        cdef llm_status status
        cdef lookup_vocabulary view = tokens.view
        if n == 0:
            return b""
        with nogil:
            status = bpe_decoded_length(&length, &bad, view, &ids_view[0], n)
        if status != LLM_OK:
            raise ValueError(f"ids[{bad}] = {array[bad]} is not a token id; ids must be in "
                             f"[0, {len(tokens)}) for this vocabulary of {len(tokens)} tokens")
        out = np.empty(length, dtype=np.uint8)
        cdef uint8_t[::1] out_view = out
        if length > 0:
            with nogil:
                bpe_decode(&out_view[0], view, &ids_view[0], n)
        return out.tobytes()


@cython.boundscheck(False)   # i < n, the length of ids
@cython.wraparound(False)
def id_list(ids, tuple id_objects not None):
    """ids ((n,) int32 array) as a list of Python ints, id_objects[id] for each id: a tuple
    with the int object of every id (tuple(range(vocab_size))) is shared by every list, instead
    of a new int object per token as ndarray.tolist() makes (which took a third of encoding
    time). An id outside [0, len(id_objects)) is a ValueError."""
    cdef const int32_t[::1] view = check_array("ids", ids, np.int32, (None,))
    cdef Py_ssize_t n = view.shape[0], i, size = PyTuple_GET_SIZE(id_objects)
    cdef int32_t token_id
    cdef PyObject* item
    cdef list items = PyList_New(n)
    for i in range(n):
        token_id = view[i]
        if token_id < 0 or token_id >= size:
            for i in range(i, n):   # the list must hold an object everywhere before it is freed
                incref(<PyObject*>None)
                list_set_item(items, i, <PyObject*>None)
            raise ValueError(f"ids: {token_id} is not an id in [0, {size})")
        item = PyTuple_GET_ITEM(id_objects, token_id)
        incref(item)
        list_set_item(items, i, item)
    return items


cdef object as_id_array(ids):
    """ids as a C-contiguous int64 array, or a ValueError saying why not."""
    try:
        array = np.asarray(ids)
    except (OverflowError, ValueError):
        array = None
    if array is None or array.dtype == object:
        raise ValueError("ids: expected a sequence of integer token ids within int64 range")
    if array.ndim != 1:
        raise ValueError(f"ids: expected a flat sequence of token ids, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"ids: expected integer token ids, got dtype {array.dtype}")
    if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
        raise ValueError(f"ids: {array.max()} is not a token id")
    return np.ascontiguousarray(array, dtype=np.int64)
