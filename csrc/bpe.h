/* What the BPE trainer (bpe_train.c) and encoder (bpe_encode.c) share: the pair table and the
 * base symbols of a piece of text.
 *
 * Ids. Base symbols come first: in byte mode the 256 bytes (id = byte value); in naive mode the
 * alphabet of characters (id = position in the alphabet). Merge k creates token n_base + k, so a
 * merge's rank and the id it creates are the same number (GPT-2's convention).
 *
 * Header-only (static inline): the encoder's inner loop probes the pair table once per
 * neighbour, and a call into another translation unit there would cost more than the probe.
 */
#ifndef LLM_BPE_H
#define LLM_BPE_H

#include <stdlib.h>

#include "common.h"
#include "lookup.h"

/* ---- pair table: (left, right) id pair -> int32 value -------------------------------- */

/* Open addressing with linear probing over 64-bit keys (left << 32 | right); at most half
 * full. The empty key is all ones, which no pair of non-negative ids produces. A key and its value
 * share an entry: a probe that finds its key reads one cache line, not two (the encoder's merges
 * wait on these probes one after another, and the table outgrows the L2 cache). */
typedef struct {
    uint64_t key;
    int32_t value;
    int32_t unused;
} pair_entry;

typedef struct {
    pair_entry* entries; // (capacity,)
    int64_t capacity;    // a power of two
    int64_t size;
} pair_table;

#define PAIR_TABLE_EMPTY UINT64_MAX

static inline uint64_t pair_key(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

/* Fibonacci hashing: the key times 2^64 / golden ratio, top bits. */
static inline uint64_t pair_slot(uint64_t key, int64_t capacity) {
    return ((key * 0x9E3779B97F4A7C15ull) >> 32) & (uint64_t)(capacity - 1);
}

static inline llm_status pair_table_init(pair_table* table, int64_t expected_size) {
    int64_t capacity = 16;
    while (capacity < 2 * expected_size) capacity *= 2;
    table->entries = malloc((size_t)capacity * sizeof *table->entries);
    table->capacity = capacity;
    table->size = 0;
    if (!table->entries) return LLM_ERR_NOMEM;
    for (int64_t i = 0; i < capacity; i++) table->entries[i].key = PAIR_TABLE_EMPTY;
    return LLM_OK;
}

static inline void pair_table_free(pair_table* table) {
    free(table->entries);
    table->entries = NULL;
}

/* The entry of the key, or the empty entry where it would go. */
static inline pair_entry* pair_table_find(const pair_table* table, uint64_t key) {
    const uint64_t mask = (uint64_t)(table->capacity - 1);
    for (uint64_t i = pair_slot(key, table->capacity);; i = (i + 1) & mask) {
        pair_entry* entry = &table->entries[i];
        if (entry->key == key || entry->key == PAIR_TABLE_EMPTY) return entry;
    }
}

/* The value stored for (left, right), or -1. */
static inline int32_t pair_table_get(const pair_table* table, int32_t left, int32_t right) {
    const pair_entry* entry = pair_table_find(table, pair_key(left, right));
    return entry->key == PAIR_TABLE_EMPTY ? -1 : entry->value;
}

/* Set the value of (left, right), inserting the pair if it is new; doubles the table first
 * when it would become more than half full. */
static inline llm_status pair_table_put(pair_table* table, int32_t left, int32_t right, int32_t value) {
    if (2 * (table->size + 1) > table->capacity) {
        pair_table grown;
        llm_status status = pair_table_init(&grown, table->capacity);
        if (status != LLM_OK) return status;
        for (int64_t i = 0; i < table->capacity; i++)
            if (table->entries[i].key != PAIR_TABLE_EMPTY)
                *pair_table_find(&grown, table->entries[i].key) = table->entries[i];
        grown.size = table->size;
        pair_table_free(table);
        *table = grown;
    }
    pair_entry* entry = pair_table_find(table, pair_key(left, right));
    if (entry->key == PAIR_TABLE_EMPTY) {
        entry->key = pair_key(left, right);
        table->size += 1;
    }
    entry->value = value;
    return LLM_OK;
}

/* ---- base symbols ---------------------------------------------------------------------- */

/* A hash table of the tokens of vocabulary, token i -> i; a token that occurs twice keeps its
 * first id. NULL when out of memory. */
static inline hash_lookup* bpe_token_table(lookup_vocabulary vocabulary) {
    hash_lookup* table = hash_lookup_new(vocabulary.size);
    for (int64_t i = 0; table && i < vocabulary.size; i++) {
        const int64_t start = vocabulary.offsets[i];
        const llm_status status = hash_lookup_insert(table, vocabulary.bytes + start,
                                                     vocabulary.offsets[i + 1] - start, (int32_t)i);
        if (status != LLM_OK && status != LLM_ERR_ARGUMENT) {   /* ARGUMENT: a repeat */
            hash_lookup_free(table);
            table = NULL;
        }
    }
    return table;
}

/* Length of the UTF-8 character whose first byte is lead, from the lead byte alone, at most
 * remaining. Bytes that cannot start a character count as one byte; such "characters" are
 * never in a trained alphabet, so they become unknown rather than being misread. */
static inline int64_t utf8_char_length(uint8_t lead, int64_t remaining) {
    const int64_t length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF8 ? 4 : 1;
    return length < remaining ? length : remaining;
}

/* The base symbols of piece[0:n]: bytes in byte mode (alphabet == NULL); in naive mode, the
 * alphabet id of each character, or -1 for a character outside the alphabet. Returns the
 * number of symbols written (at most n). */
static inline int64_t bpe_base_symbols(int32_t* symbols,             // (n,) out
                                       const hash_lookup* alphabet,  // character -> id, or NULL
                                       const uint8_t* piece,         // (n,)
                                       int64_t n) {
    if (!alphabet) {
        for (int64_t i = 0; i < n; i++) symbols[i] = piece[i];
        return n;
    }
    int64_t count = 0;
    for (int64_t i = 0; i < n;) {
        const int64_t length = utf8_char_length(piece[i], n - i);
        symbols[count++] = hash_lookup_get(alphabet, piece + i, length);
        i += length;
    }
    return count;
}

#endif
