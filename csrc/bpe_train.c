/* BPE training: piece counting and the incremental merge loop (see bpe_train.h). */
#include "bpe_train.h"

#include <string.h>

#include "bpe.h"

/* Make room for `needed` elements in *array (of *capacity elements of element_size bytes),
 * doubling; the contents are kept. */
static llm_status reserve(void** array, int64_t* capacity, int64_t needed, size_t element_size) {
    if (needed <= *capacity) return LLM_OK;
    int64_t grown = *capacity > 0 ? *capacity : 16;
    while (grown < needed) grown *= 2;
    void* bigger = realloc(*array, (size_t)grown * element_size);
    if (!bigger) return LLM_ERR_NOMEM;
    *array = bigger;
    *capacity = grown;
    return LLM_OK;
}

/* ---- counting ------------------------------------------------------------------------- */

struct bpe_word_counter {
    hash_lookup* index;       // word bytes -> word number
    uint8_t* bytes;           // (bytes_capacity,) the words back to back, first seen first
    int64_t bytes_capacity;
    int64_t* offsets;         // (offsets_capacity,) word i is bytes[offsets[i] : offsets[i + 1]]
    int64_t offsets_capacity;
    int64_t* counts;          // (counts_capacity,)
    int64_t counts_capacity;
    int64_t size;             // distinct words
    int64_t total;            // words counted
    int64_t text_bytes;       // their bytes
};

bpe_word_counter* bpe_word_counter_new(void) {
    bpe_word_counter* counter = calloc(1, sizeof *counter);
    if (!counter) return NULL;
    counter->index = hash_lookup_new(1024);
    if (!counter->index || reserve((void**)&counter->offsets, &counter->offsets_capacity, 1,
                                   sizeof *counter->offsets) != LLM_OK) {
        bpe_word_counter_free(counter);
        return NULL;
    }
    counter->offsets[0] = 0;
    return counter;
}

void bpe_word_counter_free(bpe_word_counter* counter) {
    if (!counter) return;
    hash_lookup_free(counter->index);
    free(counter->bytes);
    free(counter->offsets);
    free(counter->counts);
    free(counter);
}

/* Add count occurrences of word[0:n]. */
static llm_status count_word(bpe_word_counter* counter, const uint8_t* word, int64_t n, int64_t count) {
    int32_t id = hash_lookup_get(counter->index, word, n);
    if (id < 0) {
        if (counter->size >= INT32_MAX) return LLM_ERR_NOMEM;
        const int64_t size = counter->size;
        const int64_t end = counter->offsets[size] + n;
        llm_status status;
        if ((status = reserve((void**)&counter->bytes, &counter->bytes_capacity, end, 1)) != LLM_OK ||
            (status = reserve((void**)&counter->offsets, &counter->offsets_capacity, size + 2,
                              sizeof *counter->offsets)) != LLM_OK ||
            (status = reserve((void**)&counter->counts, &counter->counts_capacity, size + 1,
                              sizeof *counter->counts)) != LLM_OK ||
            (status = hash_lookup_insert(counter->index, word, n, (int32_t)size)) != LLM_OK)
            return status;
        memcpy(counter->bytes + counter->offsets[size], word, (size_t)n);
        counter->offsets[size + 1] = end;
        counter->counts[size] = 0;
        counter->size = size + 1;
        id = (int32_t)size;
    }
    counter->counts[id] += count;
    counter->total += count;
    counter->text_bytes += n * count;
    return LLM_OK;
}

llm_status bpe_word_counter_add(int64_t* consumed,
                                bpe_word_counter* counter,
                                pretokenize_mode mode,
                                const uint8_t* text,   // (n,)
                                int64_t n,
                                int final) {
    const int64_t limit = final ? n : n - BPE_CHUNK_MARGIN;
    int64_t pos = 0;
    llm_status status = LLM_OK;
    while (pos < n) {
        const int64_t end = pretokenize_piece_end(mode, text, n, pos);
        if (end > limit) break;
        if ((status = count_word(counter, text + pos, end - pos, 1)) != LLM_OK) break;
        pos = end;
    }
    *consumed = pos;
    return status;
}

llm_status bpe_word_counter_add_characters(bpe_word_counter* characters,
                                           const bpe_word_counter* words) {
    for (int64_t i = 0; i < words->size; i++) {
        const uint8_t* word = words->bytes + words->offsets[i];
        const int64_t n = words->offsets[i + 1] - words->offsets[i];
        for (int64_t pos = 0; pos < n;) {
            const int64_t length = utf8_char_length(word[pos], n - pos);
            llm_status status = count_word(characters, word + pos, length, words->counts[i]);
            if (status != LLM_OK) return status;
            pos += length;
        }
    }
    return LLM_OK;
}

int64_t bpe_word_counter_size(const bpe_word_counter* counter) { return counter->size; }
int64_t bpe_word_counter_bytes(const bpe_word_counter* counter) { return counter->offsets[counter->size]; }
int64_t bpe_word_counter_total(const bpe_word_counter* counter) { return counter->total; }
int64_t bpe_word_counter_text_bytes(const bpe_word_counter* counter) { return counter->text_bytes; }

void bpe_word_counter_export(uint8_t* bytes,       // (bpe_word_counter_bytes,)
                             int64_t* offsets,     // (size + 1,)
                             int64_t* counts,      // (size,)
                             const bpe_word_counter* counter) {
    if (counter->offsets[counter->size] > 0)
        memcpy(bytes, counter->bytes, (size_t)counter->offsets[counter->size]);
    memcpy(offsets, counter->offsets, (size_t)(counter->size + 1) * sizeof *offsets);
    if (counter->size > 0) memcpy(counts, counter->counts, (size_t)counter->size * sizeof *counts);
}

/* ---- training -------------------------------------------------------------------------- */

/* The words a pair was seen in: appended whenever the pair appears in a word (consecutive
 * repeats skipped), never pruned, so it may hold words that no longer contain the pair. */
typedef struct {
    int32_t* items;
    int64_t size;
    int64_t capacity;
} word_list;

typedef struct {
    int32_t left, right;
    int64_t count;        // occurrences in the corpus now
    word_list words;
} pair_info;

typedef struct {
    int64_t start;        // the word is symbols[start : start + length]
    int64_t length;
    int64_t count;        // occurrences in the corpus
    int32_t last_merge;   // the last merge that rewrote the word, -1 for none
} word_info;

typedef struct {
    int64_t count;        // the pair's count when pushed: at least its true count
    int32_t left, right;
    int32_t pair;
} heap_entry;

struct bpe_trainer {
    int32_t n_base;
    int32_t n_merges;        // merges made; the next token is n_base + n_merges
    int32_t* symbols;        // (symbols_capacity,) the words' symbols back to back
    int64_t symbols_capacity;
    word_info* words;        // (words_capacity,)
    int64_t n_words;
    int64_t words_capacity;
    pair_table pair_ids;     // (left, right) -> index in pairs
    pair_info* pairs;        // (pairs_capacity,)
    int64_t n_pairs;
    int64_t pairs_capacity;
    heap_entry* heap;        // (heap_capacity,) a max-heap in heap_before order
    int64_t heap_size;
    int64_t heap_capacity;
};

/* Merge order: higher count first, then the smaller (left, right). */
static inline int heap_before(heap_entry a, heap_entry b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.left != b.left) return a.left < b.left;
    return a.right < b.right;
}

static inline heap_entry heap_entry_of(const bpe_trainer* trainer, int32_t pair) {
    const pair_info* info = &trainer->pairs[pair];
    return (heap_entry){info->count, info->left, info->right, pair};
}

static void heap_sift_down(heap_entry* heap, int64_t size, int64_t i) {
    const heap_entry moving = heap[i];
    for (;;) {
        int64_t child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size && heap_before(heap[child + 1], heap[child])) child += 1;
        if (!heap_before(heap[child], moving)) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = moving;
}

static llm_status heap_push(bpe_trainer* trainer, int32_t pair) {
    llm_status status = reserve((void**)&trainer->heap, &trainer->heap_capacity,
                                trainer->heap_size + 1, sizeof *trainer->heap);
    if (status != LLM_OK) return status;
    const heap_entry entry = heap_entry_of(trainer, pair);
    int64_t i = trainer->heap_size++;
    while (i > 0 && heap_before(entry, trainer->heap[(i - 1) / 2])) {
        trainer->heap[i] = trainer->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    trainer->heap[i] = entry;
    return LLM_OK;
}

static heap_entry heap_pop(bpe_trainer* trainer) {
    const heap_entry top = trainer->heap[0];
    trainer->heap[0] = trainer->heap[--trainer->heap_size];
    if (trainer->heap_size > 0) heap_sift_down(trainer->heap, trainer->heap_size, 0);
    return top;
}

/* The index of pair (left, right), created with count 0 if new; -1 when out of memory. */
static int32_t pair_index(bpe_trainer* trainer, int32_t left, int32_t right) {
    const int32_t found = pair_table_get(&trainer->pair_ids, left, right);
    if (found >= 0) return found;
    const int64_t n = trainer->n_pairs;
    if (n >= INT32_MAX
        || reserve((void**)&trainer->pairs, &trainer->pairs_capacity, n + 1, sizeof *trainer->pairs) != LLM_OK
        || pair_table_put(&trainer->pair_ids, left, right, (int32_t)n) != LLM_OK)
        return -1;
    trainer->pairs[n] = (pair_info){left, right, 0, {NULL, 0, 0}};
    trainer->n_pairs = n + 1;
    return (int32_t)n;
}

/* Add delta to the count of (left, right); a pair gaining occurrences records word. */
static llm_status pair_add(bpe_trainer* trainer, int32_t left, int32_t right, int64_t delta, int32_t word) {
    const int32_t index = pair_index(trainer, left, right);
    if (index < 0) return LLM_ERR_NOMEM;
    pair_info* pair = &trainer->pairs[index];
    pair->count += delta;
    if (delta > 0 && !(pair->words.size > 0 && pair->words.items[pair->words.size - 1] == word)) {
        llm_status status = reserve((void**)&pair->words.items, &pair->words.capacity,
                                    pair->words.size + 1, sizeof *pair->words.items);
        if (status != LLM_OK) return status;
        pair->words.items[pair->words.size++] = word;
    }
    return LLM_OK;
}

/* Append symbols[0:n] as a new word occurring count times, and count its pairs. */
static llm_status add_word(bpe_trainer* trainer, const int32_t* symbols, int64_t n, int64_t count) {
    const int64_t w = trainer->n_words;
    const int64_t start = w > 0 ? trainer->words[w - 1].start + trainer->words[w - 1].length : 0;
    llm_status status;
    if (w >= INT32_MAX) return LLM_ERR_NOMEM;
    if ((status = reserve((void**)&trainer->symbols, &trainer->symbols_capacity, start + n,
                          sizeof *trainer->symbols)) != LLM_OK ||
        (status = reserve((void**)&trainer->words, &trainer->words_capacity, w + 1,
                          sizeof *trainer->words)) != LLM_OK)
        return status;
    memcpy(trainer->symbols + start, symbols, (size_t)n * sizeof *symbols);
    trainer->words[w] = (word_info){start, n, count, -1};
    trainer->n_words = w + 1;
    for (int64_t i = 0; i + 1 < n; i++)
        if ((status = pair_add(trainer, symbols[i], symbols[i + 1], count, (int32_t)w)) != LLM_OK)
            return status;
    return LLM_OK;
}

/* The words of counter as symbol arrays: each run of known symbols of length >= 2. */
static llm_status add_counted_words(bpe_trainer* trainer, const bpe_word_counter* counter,
                                    const hash_lookup* alphabet) {
    int64_t longest = 1;
    for (int64_t i = 0; i < counter->size; i++)
        if (counter->offsets[i + 1] - counter->offsets[i] > longest)
            longest = counter->offsets[i + 1] - counter->offsets[i];
    int32_t* symbols = malloc((size_t)longest * sizeof *symbols);
    if (!symbols) return LLM_ERR_NOMEM;
    llm_status status = LLM_OK;
    for (int64_t i = 0; i < counter->size && status == LLM_OK; i++) {
        const int64_t n = bpe_base_symbols(symbols, alphabet, counter->bytes + counter->offsets[i],
                                           counter->offsets[i + 1] - counter->offsets[i]);
        for (int64_t start = 0; start < n && status == LLM_OK;) {
            int64_t end = start;
            while (end < n && symbols[end] >= 0) end++;
            if (end - start >= 2)
                status = add_word(trainer, symbols + start, end - start, counter->counts[i]);
            start = end + 1;   /* past the unknown character */
        }
    }
    free(symbols);
    return status;
}

bpe_trainer* bpe_trainer_new(llm_status* status,
                             const bpe_word_counter* counter,
                             const lookup_vocabulary* alphabet) {   // or NULL for bytes
    if (alphabet && (alphabet->size < 1 || alphabet->size > INT32_MAX / 2)) {
        *status = LLM_ERR_ARGUMENT;
        return NULL;
    }
    bpe_trainer* trainer = calloc(1, sizeof *trainer);
    hash_lookup* characters = alphabet ? bpe_token_table(*alphabet) : NULL;
    *status = LLM_OK;
    if (!trainer || (alphabet && !characters)) *status = LLM_ERR_NOMEM;
    if (*status == LLM_OK) {
        trainer->n_base = alphabet ? (int32_t)alphabet->size : 256;
        *status = pair_table_init(&trainer->pair_ids, 4 * counter->size);
    }
    if (*status == LLM_OK) *status = add_counted_words(trainer, counter, characters);
    if (*status == LLM_OK)
        *status = reserve((void**)&trainer->heap, &trainer->heap_capacity, trainer->n_pairs,
                          sizeof *trainer->heap);
    hash_lookup_free(characters);
    if (*status != LLM_OK) {
        bpe_trainer_free(trainer);
        return NULL;
    }
    for (int64_t p = 0; p < trainer->n_pairs; p++) trainer->heap[p] = heap_entry_of(trainer, (int32_t)p);
    trainer->heap_size = trainer->n_pairs;
    for (int64_t i = trainer->heap_size / 2 - 1; i >= 0; i--)
        heap_sift_down(trainer->heap, trainer->heap_size, i);
    return trainer;
}

void bpe_trainer_free(bpe_trainer* trainer) {
    if (!trainer) return;
    free(trainer->symbols);
    free(trainer->words);
    pair_table_free(&trainer->pair_ids);
    for (int64_t p = 0; p < trainer->n_pairs; p++) free(trainer->pairs[p].words.items);
    free(trainer->pairs);
    free(trainer->heap);
    free(trainer);
}

/* Rewrite word w with every (left, right) replaced by merged, left to right, and move the
 * counts of the neighbouring pairs: X left right Y -> X merged Y takes the word's count from
 * (X, left) and (right, Y) and gives it to (X, merged) and (merged, Y). When occurrences touch
 * ("A B A B"), the left neighbour of the second is the merged token written just before, and
 * the adjustments of the two occurrences compose to (B, A) -> (Z, Z). */
static llm_status merge_word(bpe_trainer* trainer, int32_t w, int32_t left, int32_t right, int32_t merged) {
    word_info* word = &trainer->words[w];
    int32_t* symbols = trainer->symbols + word->start;
    const int64_t n = word->length, count = word->count;
    llm_status status = LLM_OK;
    int64_t out = 0;
    for (int64_t in = 0; in < n && status == LLM_OK;) {
        if (in + 1 < n && symbols[in] == left && symbols[in + 1] == right) {
            if (out > 0) {
                status = pair_add(trainer, symbols[out - 1], left, -count, w);
                if (status == LLM_OK) status = pair_add(trainer, symbols[out - 1], merged, count, w);
            }
            if (in + 2 < n && status == LLM_OK) {
                status = pair_add(trainer, right, symbols[in + 2], -count, w);
                if (status == LLM_OK) status = pair_add(trainer, merged, symbols[in + 2], count, w);
            }
            symbols[out++] = merged;
            in += 2;
        } else {
            symbols[out++] = symbols[in++];
        }
    }
    word->length = out;
    return status;
}

/* Merge a pair into the next token: rewrite every word listed for it, then push the pairs the
 * merge created (all contain the new token, so their indexes start at first_new_pair). */
static llm_status merge_pair(bpe_trainer* trainer, int32_t pair) {
    const int32_t merged = trainer->n_base + trainer->n_merges;
    const int32_t left = trainer->pairs[pair].left, right = trainer->pairs[pair].right;
    const int64_t first_new_pair = trainer->n_pairs;
    const word_list words = trainer->pairs[pair].words;   /* pairs may move as pairs are added */
    llm_status status = LLM_OK;
    for (int64_t k = 0; k < words.size && status == LLM_OK; k++) {
        const int32_t w = words.items[k];
        if (trainer->words[w].last_merge == trainer->n_merges) continue;   /* listed twice */
        trainer->words[w].last_merge = trainer->n_merges;
        status = merge_word(trainer, w, left, right, merged);
    }
    free(words.items);
    /* No adjacent (left, right) is left, and none can reappear: later merges only create pairs
     * that contain their new token. */
    trainer->pairs[pair].words = (word_list){NULL, 0, 0};
    trainer->pairs[pair].count = 0;
    for (int64_t p = first_new_pair; p < trainer->n_pairs && status == LLM_OK; p++)
        if (trainer->pairs[p].count > 0) status = heap_push(trainer, (int32_t)p);
    trainer->n_merges += 1;
    return status;
}

int64_t bpe_trainer_merge(int32_t* merges,       // (max_merges, 2)
                          int64_t* counts,       // (max_merges,)
                          bpe_trainer* trainer,
                          int64_t max_merges,
                          int64_t min_frequency) {
    int64_t done = 0;
    if (min_frequency < 1) min_frequency = 1;
    while (done < max_merges && trainer->heap_size > 0
           && (int64_t)trainer->n_base + trainer->n_merges < INT32_MAX) {
        const heap_entry top = heap_pop(trainer);
        const int64_t count = trainer->pairs[top.pair].count;
        if (count != top.count) {   /* stale: the pair lost occurrences since it was pushed */
            if (count > 0 && heap_push(trainer, top.pair) != LLM_OK) return LLM_ERR_NOMEM;
            continue;
        }
        if (count < min_frequency) {   /* keep it: a later call may lower min_frequency */
            if (heap_push(trainer, top.pair) != LLM_OK) return LLM_ERR_NOMEM;
            break;
        }
        merges[2 * done] = top.left;
        merges[2 * done + 1] = top.right;
        counts[done] = count;
        if (merge_pair(trainer, top.pair) != LLM_OK) return LLM_ERR_NOMEM;
        done += 1;
    }
    return done;
}

int64_t bpe_trainer_words(const bpe_trainer* trainer) { return trainer->n_words; }
int64_t bpe_trainer_pairs(const bpe_trainer* trainer) { return trainer->n_pairs; }
