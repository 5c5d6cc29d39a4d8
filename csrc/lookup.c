/* Token lookup three ways; see lookup.h. The three are kept side by side so
 * the benchmark compares like with like: same key representation, same
 * batch entry point, different index. */
#include "lookup.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Bytewise order, a prefix before its extensions; <0, 0, >0 like memcmp.
 * Compared 8 bytes at a time as big-endian words (whose integer order is the
 * bytes' order), inline: memcmp would be a library call per comparison. */
static inline int compare_tokens(const uint8_t* a, int64_t a_len, const uint8_t* b, int64_t b_len) {
    int64_t common = a_len < b_len ? a_len : b_len;
    int64_t i = 0;
    for (; i + 8 <= common; i += 8) {
        uint64_t x = __builtin_bswap64(read64(a + i)), y = __builtin_bswap64(read64(b + i));
        if (x != y) return x < y ? -1 : 1;
    }
    for (; i < common; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return (a_len > b_len) - (a_len < b_len);
}

static inline const uint8_t* token_bytes(lookup_vocabulary vocabulary, int64_t i) {
    return vocabulary.bytes + vocabulary.offsets[i];
}

static inline int64_t token_length(lookup_vocabulary vocabulary, int64_t i) {
    return vocabulary.offsets[i + 1] - vocabulary.offsets[i];
}

/* ---- batches ----------------------------------------------------------- */

/* Looks up keys (n,) in an index (what it is depends on the function),
 * writing out_ids (n,). */
typedef void (*lookup_range_fn)(const void* index, int32_t* out_ids, const uint8_t* const* keys,
                                const int64_t* key_lengths, int64_t n);

/* Batches of at least this many keys are shared among the OpenMP threads. */
#define LOOKUP_PARALLEL_MIN_KEYS 8192

/* A large batch gives each OpenMP thread one contiguous range of keys; a
 * smaller one runs on the calling thread without entering an OpenMP region
 * at all: even a region whose if clause is false costs ~300 ns, the time of
 * fifty hash lookups. */
static void lookup_batch(lookup_range_fn lookup_range, const void* index, int32_t* out_ids,
                         const uint8_t* const* keys, const int64_t* key_lengths, int64_t n_keys) {
#ifdef _OPENMP
    if (n_keys >= LOOKUP_PARALLEL_MIN_KEYS) {
        #pragma omp parallel
        {
            int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
            int64_t start = n_keys * thread / threads, end = n_keys * (thread + 1) / threads;
            lookup_range(index, out_ids + start, keys + start, key_lengths + start, end - start);
        }
        return;
    }
#endif
    lookup_range(index, out_ids, keys, key_lengths, n_keys);
}

/* ---- brute force ------------------------------------------------------- */

int32_t brute_force_get(lookup_vocabulary vocabulary, const uint8_t* key, int64_t key_len) {
    for (int64_t i = 0; i < vocabulary.size; i++) {
        /* The length check rejects most tokens without touching their bytes. */
        if (token_length(vocabulary, i) == key_len
                && bytes_equal(token_bytes(vocabulary, i), key, key_len))
            return (int32_t)i;
    }
    return -1;
}

static void brute_force_range(const void* index, int32_t* out_ids, const uint8_t* const* keys,
                              const int64_t* key_lengths, int64_t n) {
    const lookup_vocabulary* vocabulary = index;
    for (int64_t i = 0; i < n; i++) out_ids[i] = brute_force_get(*vocabulary, keys[i], key_lengths[i]);
}

void brute_force_get_many(int32_t* out_ids, lookup_vocabulary vocabulary,
                          const uint8_t* const* keys, const int64_t* key_lengths, int64_t n_keys) {
    lookup_batch(brute_force_range, &vocabulary, out_ids, keys, key_lengths, n_keys);
}

/* ---- binary search ----------------------------------------------------- */

static int compare_ids(lookup_vocabulary vocabulary, int32_t a, int32_t b) {
    return compare_tokens(token_bytes(vocabulary, a), token_length(vocabulary, a),
                          token_bytes(vocabulary, b), token_length(vocabulary, b));
}

/* Merge the sorted runs left (left_n,) and right (right_n,) into out. */
static void merge_runs(int32_t* out, const int32_t* left, int64_t left_n,
                       const int32_t* right, int64_t right_n, lookup_vocabulary vocabulary) {
    int64_t i = 0, j = 0;
    while (i < left_n && j < right_n)
        *out++ = compare_ids(vocabulary, right[j], left[i]) < 0 ? right[j++] : left[i++];
    while (i < left_n) *out++ = left[i++];
    while (j < right_n) *out++ = right[j++];
}

/* Bottom-up merge sort of ids (n,) by their tokens; scratch (n,). */
static void sort_ids_by_token(int32_t* ids, int32_t* scratch, int64_t n, lookup_vocabulary vocabulary) {
    int32_t* from = ids;
    int32_t* to = scratch;
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n;
            int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            merge_runs(to + lo, from + lo, mid - lo, from + mid, hi - mid, vocabulary);
        }
        int32_t* swap = from;
        from = to;
        to = swap;
    }
    if (from != ids) memcpy(ids, from, (size_t)n * sizeof *ids);
}

llm_status binary_search_build(uint8_t* sorted_bytes, int64_t* sorted_offsets, int32_t* sorted_ids,
                               int32_t* scratch, lookup_vocabulary vocabulary) {
    int64_t n = vocabulary.size;
    if (n < 0 || n > INT32_MAX) return LLM_ERR_ARGUMENT;
    for (int64_t i = 0; i < n; i++) sorted_ids[i] = (int32_t)i;
    sort_ids_by_token(sorted_ids, scratch, n, vocabulary);
    sorted_offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = sorted_ids[i];
        if (i > 0 && compare_ids(vocabulary, sorted_ids[i - 1], id) == 0) return LLM_ERR_ARGUMENT;
        int64_t len = token_length(vocabulary, id);
        if (len > 0) memcpy(sorted_bytes + sorted_offsets[i], token_bytes(vocabulary, id), (size_t)len);
        sorted_offsets[i + 1] = sorted_offsets[i] + len;
    }
    return LLM_OK;
}

int32_t binary_search_get(lookup_vocabulary sorted, const int32_t* sorted_ids,
                          const uint8_t* key, int64_t key_len) {
    int64_t lo = 0, hi = sorted.size;   /* if present, the key is in [lo, hi) */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int order = compare_tokens(key, key_len, token_bytes(sorted, mid), token_length(sorted, mid));
        if (order == 0) return sorted_ids[mid];
        if (order < 0) hi = mid;
        else lo = mid + 1;
    }
    return -1;
}

typedef struct {
    lookup_vocabulary sorted;
    const int32_t* sorted_ids;   // (sorted.size,)
} sorted_index;

static void binary_search_range(const void* index, int32_t* out_ids, const uint8_t* const* keys,
                                const int64_t* key_lengths, int64_t n) {
    const sorted_index* sorted = index;
    for (int64_t i = 0; i < n; i++)
        out_ids[i] = binary_search_get(sorted->sorted, sorted->sorted_ids, keys[i], key_lengths[i]);
}

void binary_search_get_many(int32_t* out_ids, lookup_vocabulary sorted, const int32_t* sorted_ids,
                            const uint8_t* const* keys, const int64_t* key_lengths, int64_t n_keys) {
    sorted_index index = {sorted, sorted_ids};
    lookup_batch(binary_search_range, &index, out_ids, keys, key_lengths, n_keys);
}

/* ---- the hash (hash.h) ------------------------------------------------- */

/* The exported name; inside this file the inline hash_bytes is called (a
 * global function in a shared library is not inlined: it could be interposed). */
uint64_t lookup_hash(const uint8_t* key, int64_t key_len) { return hash_bytes(key, key_len); }

/* ---- hash table -------------------------------------------------------- */

/* A slot holds the value and where the key is; the high 32 bits of the key's
 * hash are kept as a tag so a probe compares key bytes only on a likely match. */
typedef struct {
    uint32_t tag;
    int32_t value;        /* -1: empty */
    int64_t key_offset;   /* the key's record in key_records */
} hash_slot;

/* Key records are 8-byte aligned: the key's length (int64_t), then its bytes. */
#define KEY_RECORD_ALIGN 8

struct hash_lookup {
    hash_slot* slots;          // (capacity,)
    int64_t capacity;          // a power of two
    int64_t size;              // occupied slots, at most 0.7 * capacity
    uint8_t* key_records;      // (key_records_capacity,) of which key_records_used are written
    int64_t key_records_used;
    int64_t key_records_capacity;
};

#define MIN_CAPACITY 8

static inline int fits_load_factor(int64_t size, int64_t capacity) {
    return size * 10 <= capacity * 7;   /* size / capacity <= 0.7 */
}

static inline uint32_t hash_tag(uint64_t hash) { return (uint32_t)(hash >> 32); }

static inline int key_matches(const hash_lookup* table, int64_t key_offset,
                              const uint8_t* key, int64_t key_len) {
    const uint8_t* record = table->key_records + key_offset;
    int64_t stored_len;
    memcpy(&stored_len, record, sizeof stored_len);
    return stored_len == key_len && bytes_equal(record + sizeof stored_len, key, key_len);
}

/* The slot holding the key, or the empty slot where it would go. */
static int64_t find_slot(const hash_lookup* table, uint64_t hash, const uint8_t* key, int64_t key_len) {
    uint64_t mask = (uint64_t)table->capacity - 1;
    uint32_t tag = hash_tag(hash);
    for (uint64_t i = hash & mask;; i = (i + 1) & mask) {
        const hash_slot* slot = &table->slots[i];
        if (slot->value < 0) return (int64_t)i;
        if (slot->tag == tag && key_matches(table, slot->key_offset, key, key_len)) return (int64_t)i;
    }
}

static hash_slot* new_empty_slots(int64_t capacity) {
    hash_slot* slots = malloc((size_t)capacity * sizeof *slots);
    if (slots)
        for (int64_t i = 0; i < capacity; i++) slots[i] = (hash_slot){.tag = 0, .value = -1, .key_offset = 0};
    return slots;
}

hash_lookup* hash_lookup_new(int64_t capacity_hint) {
    if (capacity_hint < 0 || capacity_hint > INT32_MAX) return NULL;
    int64_t capacity = MIN_CAPACITY;
    while (!fits_load_factor(capacity_hint, capacity)) capacity *= 2;
    hash_lookup* table = calloc(1, sizeof *table);
    if (!table) return NULL;
    table->slots = new_empty_slots(capacity);
    if (!table->slots) {
        free(table);
        return NULL;
    }
    table->capacity = capacity;
    return table;
}

void hash_lookup_free(hash_lookup* table) {
    if (!table) return;
    free(table->slots);
    free(table->key_records);
    free(table);
}

/* Double the slots and re-place every key (its hash is recomputed from its record). */
static llm_status grow_slots(hash_lookup* table) {
    int64_t capacity = table->capacity * 2;
    hash_slot* slots = new_empty_slots(capacity);
    if (!slots) return LLM_ERR_NOMEM;
    uint64_t mask = (uint64_t)capacity - 1;
    for (int64_t i = 0; i < table->capacity; i++) {
        hash_slot slot = table->slots[i];
        if (slot.value < 0) continue;
        int64_t key_len;
        memcpy(&key_len, table->key_records + slot.key_offset, sizeof key_len);
        uint64_t hash = hash_bytes(table->key_records + slot.key_offset + sizeof key_len, key_len);
        uint64_t j = hash & mask;
        while (slots[j].value >= 0) j = (j + 1) & mask;
        slots[j] = slot;
    }
    free(table->slots);
    table->slots = slots;
    table->capacity = capacity;
    return LLM_OK;
}

/* Make room for a record of record_size bytes at the end of key_records. */
static llm_status reserve_key_record(hash_lookup* table, int64_t record_size) {
    int64_t needed = table->key_records_used + record_size;
    if (needed <= table->key_records_capacity) return LLM_OK;
    int64_t capacity = table->key_records_capacity > 0 ? table->key_records_capacity : 4096;
    while (capacity < needed) capacity *= 2;
    uint8_t* records = realloc(table->key_records, (size_t)capacity);
    if (!records) return LLM_ERR_NOMEM;
    table->key_records = records;
    table->key_records_capacity = capacity;
    return LLM_OK;
}

llm_status hash_lookup_insert(hash_lookup* table, const uint8_t* key, int64_t key_len, int32_t value) {
    if (value < 0 || key_len < 0 || key_len > INT64_MAX / 4 || (key_len > 0 && !key))
        return LLM_ERR_ARGUMENT;
    uint64_t hash = hash_bytes(key, key_len);
    int64_t slot = find_slot(table, hash, key, key_len);
    if (table->slots[slot].value >= 0) return LLM_ERR_ARGUMENT;   /* already present */

    int64_t record_size = (int64_t)sizeof(int64_t)
        + (key_len + KEY_RECORD_ALIGN - 1) / KEY_RECORD_ALIGN * KEY_RECORD_ALIGN;
    llm_status status = reserve_key_record(table, record_size);
    if (status != LLM_OK) return status;
    if (!fits_load_factor(table->size + 1, table->capacity)) {
        status = grow_slots(table);
        if (status != LLM_OK) return status;
        slot = find_slot(table, hash, key, key_len);
    }

    uint8_t* record = table->key_records + table->key_records_used;
    memcpy(record, &key_len, sizeof key_len);
    if (key_len > 0) memcpy(record + sizeof key_len, key, (size_t)key_len);
    table->slots[slot] = (hash_slot){.tag = hash_tag(hash), .value = value,
                                     .key_offset = table->key_records_used};
    table->key_records_used += record_size;
    table->size += 1;
    return LLM_OK;
}

int32_t hash_lookup_get(const hash_lookup* table, const uint8_t* key, int64_t key_len) {
    return table->slots[find_slot(table, hash_bytes(key, key_len), key, key_len)].value;
}

/* A batch is looked up in groups of HASH_GROUP keys, in three passes: hash
 * each key and prefetch its slot; read the slots and prefetch the key records
 * whose tags match; then probe. The cache misses of a group overlap instead
 * of following one another, which is what makes a batch faster than a loop
 * of hash_lookup_get once the table outgrows the L2 cache. */
#define HASH_GROUP 16

static void hash_lookup_get_group(int32_t* out_ids,              // (n,)
                                  const hash_lookup* table,
                                  const uint8_t* const* keys,    // (n,)
                                  const int64_t* key_lengths,    // (n,)
                                  int64_t n) {                   // at most HASH_GROUP
    uint64_t hashes[HASH_GROUP];
    uint64_t mask = (uint64_t)table->capacity - 1;
    for (int64_t i = 0; i < n; i++) {
        hashes[i] = hash_bytes(keys[i], key_lengths[i]);
        __builtin_prefetch(&table->slots[hashes[i] & mask]);
    }
    for (int64_t i = 0; i < n; i++) {
        const hash_slot* slot = &table->slots[hashes[i] & mask];
        if (slot->value >= 0 && slot->tag == hash_tag(hashes[i]))
            __builtin_prefetch(table->key_records + slot->key_offset);
    }
    for (int64_t i = 0; i < n; i++)
        out_ids[i] = table->slots[find_slot(table, hashes[i], keys[i], key_lengths[i])].value;
}

static void hash_lookup_range(const void* index, int32_t* out_ids, const uint8_t* const* keys,
                              const int64_t* key_lengths, int64_t n) {
    for (int64_t start = 0; start < n; start += HASH_GROUP) {
        int64_t group = n - start < HASH_GROUP ? n - start : HASH_GROUP;
        hash_lookup_get_group(out_ids + start, index, keys + start, key_lengths + start, group);
    }
}

void hash_lookup_get_many(int32_t* out_ids, const hash_lookup* table,
                          const uint8_t* const* keys, const int64_t* key_lengths, int64_t n_keys) {
    lookup_batch(hash_lookup_range, table, out_ids, keys, key_lengths, n_keys);
}

int64_t hash_lookup_size(const hash_lookup* table) { return table->size; }

int64_t hash_lookup_capacity(const hash_lookup* table) { return table->capacity; }
