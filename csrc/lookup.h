/* Token lookup three ways: find a byte string's id in a vocabulary.
 *
 *   brute force    scan every token in id order                O(n) per key
 *   binary search  a sorted copy of the tokens + ids            O(log n) per key
 *   hash table     open addressing, wyhash-style 64-bit hash    O(1) per key
 *
 * Tokens are arbitrary bytes (NUL included) with explicit lengths. A lookup
 * returns the token's id, or -1 when the key is absent. The *_get_many
 * functions look up n_keys keys in one call (OpenMP across keys for large
 * batches) and never allocate.
 */
#ifndef LLM_LOOKUP_H
#define LLM_LOOKUP_H

#include "common.h"

/* A vocabulary as one concatenated buffer: token i is
 * bytes[offsets[i] : offsets[i + 1]] and its id is i. */
typedef struct {
    const uint8_t* bytes;     // (offsets[size],)
    const int64_t* offsets;   // (size + 1,) non-decreasing, offsets[0] == 0
    int64_t size;             // number of tokens, at most INT32_MAX
} lookup_vocabulary;

/* ---- brute force ------------------------------------------------------- */

int32_t brute_force_get(lookup_vocabulary vocabulary, const uint8_t* key, int64_t key_len);

void brute_force_get_many(int32_t* out_ids,                // (n_keys,)
                          lookup_vocabulary vocabulary,
                          const uint8_t* const* keys,      // (n_keys,) pointers to key bytes
                          const int64_t* key_lengths,      // (n_keys,)
                          int64_t n_keys);

/* ---- binary search ----------------------------------------------------- */

/* Sort the vocabulary's tokens (bytewise, a prefix before its extensions).
 * Writes the sorted tokens as a vocabulary (sorted_bytes, sorted_offsets) and
 * sorted_ids[i], the id of sorted token i. scratch is working space.
 * LLM_ERR_ARGUMENT if a token occurs twice (the sort finds duplicates side by
 * side) or the vocabulary has more than INT32_MAX tokens. */
llm_status binary_search_build(uint8_t* sorted_bytes,      // (vocabulary.offsets[size],)
                               int64_t* sorted_offsets,    // (size + 1,)
                               int32_t* sorted_ids,        // (size,)
                               int32_t* scratch,           // (size,)
                               lookup_vocabulary vocabulary);

/* sorted: the vocabulary binary_search_build wrote; sorted_ids: (sorted.size,) */
int32_t binary_search_get(lookup_vocabulary sorted, const int32_t* sorted_ids,
                          const uint8_t* key, int64_t key_len);

void binary_search_get_many(int32_t* out_ids,              // (n_keys,)
                            lookup_vocabulary sorted,
                            const int32_t* sorted_ids,     // (sorted.size,)
                            const uint8_t* const* keys,    // (n_keys,)
                            const int64_t* key_lengths,    // (n_keys,)
                            int64_t n_keys);

/* ---- hash table -------------------------------------------------------- */

/* Open addressing with linear probing; the load factor stays at most 0.7 (the
 * table doubles before an insert would exceed it). Keys are copied into the
 * table's own storage. Reads (get, get_many, size) may run concurrently;
 * inserts need exclusive access. */
typedef struct hash_lookup hash_lookup;   /* opaque */

/* A table that holds capacity_hint keys without growing; NULL on allocation
 * failure or a negative hint. */
hash_lookup* hash_lookup_new(int64_t capacity_hint);
void hash_lookup_free(hash_lookup* table);   /* NULL is fine */

/* value must be >= 0 (-1 means absent). LLM_ERR_ARGUMENT if the key is already
 * present, value < 0 or key_len < 0; LLM_ERR_NOMEM if growing fails (the table
 * is unchanged). */
llm_status hash_lookup_insert(hash_lookup* table, const uint8_t* key, int64_t key_len,
                              int32_t value);

int32_t hash_lookup_get(const hash_lookup* table, const uint8_t* key, int64_t key_len);

void hash_lookup_get_many(int32_t* out_ids,                // (n_keys,)
                          const hash_lookup* table,
                          const uint8_t* const* keys,      // (n_keys,)
                          const int64_t* key_lengths,      // (n_keys,)
                          int64_t n_keys);

int64_t hash_lookup_size(const hash_lookup* table);        /* keys inserted */
int64_t hash_lookup_capacity(const hash_lookup* table);    /* slots; a power of two */

/* The 64-bit hash the table uses (exposed for tests and other C callers). */
uint64_t lookup_hash(const uint8_t* key, int64_t key_len);

#endif
