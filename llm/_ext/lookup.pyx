"""Token lookup three ways (wraps csrc/lookup.c): BruteForceIndex, BinarySearchIndex, HashIndex.

Each index is built from a Vocabulary (token i has id i) and answers `get(token)`, the id or -1,
and `get_many(tokens)`, (n,) int32 ids found by one C call (see get_many for the GIL). Keys are
bytes objects, any bytes (NUL included). The indexes reject a repeated token with a plain
ValueError; llm.tokenizer.lookup checks first and names both ids.
"""
# The C declarations come from lookup.pxd, which Cython includes automatically.
cimport numpy as cnp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.sequence cimport PySequence_Fast, PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS
from libc.stdint cimport INT32_MAX

import numpy as np

from llm._ext.checks cimport check_array

cnp.import_array()


# The bytes macros on a borrowed PyObject*, which Cython's object-typed declarations would
# increment and decrement the reference count of.
cdef extern from "Python.h":
    bint bytes_check "PyBytes_Check"(PyObject* o)
    char* bytes_data "PyBytes_AS_STRING"(PyObject* o)
    Py_ssize_t bytes_size "PyBytes_GET_SIZE"(PyObject* o)


cdef str not_bytes_message(str name, object value):
    return (f"{name} is {type(value).__name__}, not bytes; tokens are byte strings "
            f"(encode text first, e.g. with .encode('utf-8'))")


cdef class Vocabulary:
    """Tokens as one buffer: token i is data[offsets[i]:offsets[i + 1]] and has id i.

    data: bytes; offsets: (size + 1,) int64, rising from 0 to len(data).
    """

    def __cinit__(self, bytes data not None, offsets):
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if (offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != len(data)
                or np.any(np.diff(offsets) < 0)):
            raise ValueError(f"offsets must be (size + 1,) int64 rising from 0 to len(data) = "
                             f"{len(data)}; build a Vocabulary with Vocabulary.of(tokens)")
        if offsets.size - 1 > INT32_MAX:
            raise ValueError(f"{offsets.size - 1} tokens: ids are int32, so at most {INT32_MAX}")
        self.data = data
        self.offsets = offsets
        self.offsets_view = offsets
        self.view.bytes = <const uint8_t*>PyBytes_AS_STRING(data)
        self.view.offsets = &self.offsets_view[0]
        self.view.size = offsets.size - 1

    @staticmethod
    def of(tokens):
        """The Vocabulary of a sequence of bytes objects."""
        tokens = tuple(tokens)
        for i, token in enumerate(tokens):
            if not PyBytes_Check(token):
                raise TypeError(not_bytes_message(f"tokens[{i}]", token))
        offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens)),
                  out=offsets[1:])
        return Vocabulary(b"".join(tokens), offsets)

    def __len__(self):
        return self.view.size

    def __getitem__(self, int64_t i) -> bytes:
        """Token i."""
        if not 0 <= i < self.view.size:
            raise IndexError(f"token id {i} is out of range [0, {self.view.size})")
        return self.data[self.offsets_view[i]:self.offsets_view[i + 1]]


cdef class KeyBatch:
    """Pointers to n keys and their lengths for one C call, read from the object that owns the
    keys: a Vocabulary, or a list or tuple of bytes."""
    cdef object owner
    cdef const uint8_t** pointers
    cdef int64_t* lengths
    cdef int64_t n

    def __cinit__(self, object owner, int64_t n):
        self.owner = owner
        self.n = n
        self.pointers = <const uint8_t**>PyMem_Malloc(max(n, 1) * sizeof(uint8_t*))
        self.lengths = <int64_t*>PyMem_Malloc(max(n, 1) * sizeof(int64_t))
        if self.pointers is NULL or self.lengths is NULL:
            raise MemoryError(f"no memory for a batch of {n} keys")

    def __dealloc__(self):
        PyMem_Free(self.pointers)
        PyMem_Free(self.lengths)

    cdef int fill(self) except -1:
        """Read the pointers and lengths (no allocation unless it raises)."""
        cdef Vocabulary vocabulary
        cdef PyObject** items
        cdef PyObject* token
        cdef int64_t i
        if isinstance(self.owner, Vocabulary):
            vocabulary = self.owner
            for i in range(self.n):
                self.pointers[i] = vocabulary.view.bytes + vocabulary.view.offsets[i]
                self.lengths[i] = vocabulary.view.offsets[i + 1] - vocabulary.view.offsets[i]
            return 0
        if PySequence_Fast_GET_SIZE(self.owner) != self.n:
            raise RuntimeError("tokens changed size while get_many read them")
        items = PySequence_Fast_ITEMS(self.owner)
        for i in range(self.n):
            token = items[i]   # borrowed: no reference counting per key
            if not bytes_check(token):
                raise TypeError(not_bytes_message(f"tokens[{i}]", <object>token))
            self.pointers[i] = <const uint8_t*>bytes_data(token)
            self.lengths[i] = bytes_size(token)
        return 0


cdef class TokenIndex:
    """What the three indexes share: get, get_many, len. Each overrides lookup_one and
    lookup_many with its C functions."""
    cdef readonly int64_t size
    cdef readonly int64_t hold_gil_below   # see get_many; 0: always release the GIL

    cdef int32_t lookup_one(self, const uint8_t* key, int64_t key_len) noexcept nogil:
        return -1

    cdef void lookup_many(self, int32_t* out_ids, const uint8_t* const* keys,
                          const int64_t* key_lengths, int64_t n_keys) noexcept nogil:
        pass

    def get(self, token) -> int:
        """The id of token (bytes), or -1 when it is not in the vocabulary."""
        if not PyBytes_Check(token):
            raise TypeError(not_bytes_message("token", token))
        return self.lookup_one(<const uint8_t*>PyBytes_AS_STRING(token), PyBytes_GET_SIZE(token))

    def get_many(self, tokens, out=None):
        """(n,) int32 ids of tokens (-1 where absent), in one C call.

        tokens: a sequence of n bytes objects, or a Vocabulary (keys packed in one buffer).
        out: optional (n,) int32 C-contiguous array to write the ids into.
        The call releases the GIL, except for batches shorter than hold_gil_below keys (a hash
        table answers those in under 0.1 ms): they need no copy of a key list, which would
        cost a fifth of the call, since nothing can change the list while the GIL is held.
        """
        cdef object keys = tokens
        if not isinstance(tokens, Vocabulary):
            keys = PySequence_Fast(tokens, "tokens: expected a sequence of bytes or a Vocabulary")
        cdef int64_t n = len(keys)
        cdef bint release_gil = n >= self.hold_gil_below
        if release_gil and not isinstance(keys, Vocabulary):
            keys = tuple(keys)   # holds every key while C runs without the GIL
        cdef cnp.npy_intp length = n
        if out is None:
            out = cnp.PyArray_EMPTY(1, &length, cnp.NPY_INT32, 0)   # np.empty's call costs ~150 ns
        else:
            check_array("out", out, np.int32, (n,), writeable=True)
        cdef int32_t* out_ids = <int32_t*>cnp.PyArray_DATA(out)
        cdef KeyBatch batch = KeyBatch(keys, n)
        # Nothing allocates from here to the C call, so no Python code (a finalizer run by the
        # garbage collector) can change the keys' list in between.
        batch.fill()
        if release_gil:
            with nogil:
                self.lookup_many(out_ids, batch.pointers, batch.lengths, n)
        else:
            self.lookup_many(out_ids, batch.pointers, batch.lengths, n)
        return out

    def __len__(self):
        return self.size


cdef class BruteForceIndex(TokenIndex):
    """Compares the key with every token in id order: O(n) per key."""
    cdef Vocabulary vocabulary

    def __cinit__(self, Vocabulary vocabulary not None):
        self.vocabulary = vocabulary
        self.size = vocabulary.view.size

    cdef int32_t lookup_one(self, const uint8_t* key, int64_t key_len) noexcept nogil:
        return brute_force_get(self.vocabulary.view, key, key_len)

    cdef void lookup_many(self, int32_t* out_ids, const uint8_t* const* keys,
                          const int64_t* key_lengths, int64_t n_keys) noexcept nogil:
        brute_force_get_many(out_ids, self.vocabulary.view, keys, key_lengths, n_keys)


cdef class BinarySearchIndex(TokenIndex):
    """Bisects a sorted copy of the tokens, then maps back to the id: O(log n) per key."""
    cdef readonly Vocabulary sorted_tokens
    cdef readonly object sorted_ids          # (size,) int32: the id of sorted token i
    cdef const int32_t* sorted_ids_data

    def __cinit__(self, Vocabulary vocabulary not None):
        cdef int64_t n = vocabulary.view.size
        sorted_data = np.empty(len(vocabulary.data), dtype=np.uint8)
        sorted_offsets = np.empty(n + 1, dtype=np.int64)
        sorted_ids = np.empty(n, dtype=np.int32)
        scratch = np.empty(n, dtype=np.int32)
        cdef uint8_t* data_out = <uint8_t*>cnp.PyArray_DATA(sorted_data)
        cdef int64_t* offsets_out = <int64_t*>cnp.PyArray_DATA(sorted_offsets)
        cdef int32_t* ids_out = <int32_t*>cnp.PyArray_DATA(sorted_ids)
        cdef int32_t* scratch_data = <int32_t*>cnp.PyArray_DATA(scratch)
        cdef llm_status status
        with nogil:
            status = binary_search_build(data_out, offsets_out, ids_out, scratch_data,
                                         vocabulary.view)
        if status != LLM_OK:
            raise ValueError("the vocabulary repeats a token; each token must occur once")
        self.sorted_tokens = Vocabulary(sorted_data.tobytes(), sorted_offsets)
        self.sorted_ids = sorted_ids
        self.sorted_ids_data = ids_out
        self.size = n

    cdef int32_t lookup_one(self, const uint8_t* key, int64_t key_len) noexcept nogil:
        return binary_search_get(self.sorted_tokens.view, self.sorted_ids_data, key, key_len)

    cdef void lookup_many(self, int32_t* out_ids, const uint8_t* const* keys,
                          const int64_t* key_lengths, int64_t n_keys) noexcept nogil:
        binary_search_get_many(out_ids, self.sorted_tokens.view, self.sorted_ids_data,
                               keys, key_lengths, n_keys)


cdef class HashIndex(TokenIndex):
    """Open addressing with linear probing, load factor at most 0.7: O(1) per key.

    capacity_hint: keys to make room for at once; default the vocabulary size (a smaller hint
    makes the table grow while it is filled, as it does for C callers that insert as they go).
    """
    cdef hash_lookup* table

    def __cinit__(self, Vocabulary vocabulary not None, capacity_hint=None):
        cdef lookup_vocabulary view = vocabulary.view
        hint = view.size if capacity_hint is None else capacity_hint
        if not 0 <= hint <= INT32_MAX:
            raise ValueError(f"capacity_hint={hint}: must be in [0, {INT32_MAX}]")
        self.table = hash_lookup_new(hint)
        if self.table is NULL:
            raise MemoryError(f"no memory for a hash table of {view.size} tokens")
        cdef int64_t i
        cdef llm_status status
        for i in range(view.size):
            status = hash_lookup_insert(self.table, view.bytes + view.offsets[i],
                                        view.offsets[i + 1] - view.offsets[i], <int32_t>i)
            if status == LLM_ERR_NOMEM:
                raise MemoryError(f"no memory for a hash table of {view.size} tokens")
            if status != LLM_OK:
                raise ValueError(f"token {i} ({vocabulary[i]!r}) repeats token "
                                 f"{self.get(vocabulary[i])}; each token must occur once")
        self.size = view.size
        self.hold_gil_below = 8192   # ~0.1 ms of lookups

    def __dealloc__(self):
        hash_lookup_free(self.table)

    @property
    def capacity(self) -> int:
        """Slots in the table (a power of two); len(self) / capacity <= 0.7."""
        return hash_lookup_capacity(self.table)

    cdef int32_t lookup_one(self, const uint8_t* key, int64_t key_len) noexcept nogil:
        return hash_lookup_get(self.table, key, key_len)

    cdef void lookup_many(self, int32_t* out_ids, const uint8_t* const* keys,
                          const int64_t* key_lengths, int64_t n_keys) noexcept nogil:
        hash_lookup_get_many(out_ids, self.table, keys, key_lengths, n_keys)


def hash_bytes(bytes key not None) -> int:
    """The 64-bit hash HashIndex uses for key."""
    return lookup_hash(<const uint8_t*>PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
