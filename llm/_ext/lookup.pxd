from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef extern from "common.h":
    ctypedef enum llm_status:
        LLM_OK
        LLM_ERR_ARGUMENT
        LLM_ERR_NOMEM


cdef extern from "lookup.h":
    ctypedef struct lookup_vocabulary:
        const uint8_t* bytes
        const int64_t* offsets
        int64_t size

    int32_t brute_force_get(lookup_vocabulary vocabulary, const uint8_t* key,
                            int64_t key_len) nogil
    void brute_force_get_many(int32_t* out_ids, lookup_vocabulary vocabulary,
                              const uint8_t* const* keys, const int64_t* key_lengths,
                              int64_t n_keys) nogil

    llm_status binary_search_build(uint8_t* sorted_bytes, int64_t* sorted_offsets,
                                   int32_t* sorted_ids, int32_t* scratch,
                                   lookup_vocabulary vocabulary) nogil
    int32_t binary_search_get(lookup_vocabulary sorted, const int32_t* sorted_ids,
                              const uint8_t* key, int64_t key_len) nogil
    void binary_search_get_many(int32_t* out_ids, lookup_vocabulary sorted,
                                const int32_t* sorted_ids, const uint8_t* const* keys,
                                const int64_t* key_lengths, int64_t n_keys) nogil

    ctypedef struct hash_lookup:
        pass
    hash_lookup* hash_lookup_new(int64_t capacity_hint)
    void hash_lookup_free(hash_lookup* table)
    llm_status hash_lookup_insert(hash_lookup* table, const uint8_t* key, int64_t key_len,
                                  int32_t value)
    int32_t hash_lookup_get(const hash_lookup* table, const uint8_t* key, int64_t key_len) nogil
    void hash_lookup_get_many(int32_t* out_ids, const hash_lookup* table,
                              const uint8_t* const* keys, const int64_t* key_lengths,
                              int64_t n_keys) nogil
    int64_t hash_lookup_size(const hash_lookup* table)
    int64_t hash_lookup_capacity(const hash_lookup* table)
    uint64_t lookup_hash(const uint8_t* key, int64_t key_len) nogil


# Tokens as one buffer: token i is data[offsets[i]:offsets[i + 1]] and has id i. Declared here
# so that other extensions can `from llm._ext.lookup cimport Vocabulary` and hand `view` to C.
cdef class Vocabulary:
    cdef readonly bytes data
    cdef readonly object offsets          # (size + 1,) int64
    cdef const int64_t[::1] offsets_view
    cdef lookup_vocabulary view
