/* BPE encoding (merge rank and greedy longest match) and decoding; see bpe_encode.h. */
#include "bpe_encode.h"

#include <string.h>

#include "bpe.h"
#include "hash.h"

struct bpe_encoder {
    pretokenize_mode mode;
    hash_lookup* alphabet;    // naive mode: character -> id; NULL in byte mode
    int32_t unknown_id;
    pair_table ranks;         // (left, right) -> the merged token's id, which is also its rank
    int32_t* byte_pair_ranks; // (256 * 256,) byte mode: the rank of bytes a, b at [a << 8 | b],
                              // or INT32_MAX (no merge); the first pairs of every piece, so a
                              // piece's first merges cost a load each instead of a probe
    hash_lookup* tokens;      // token bytes -> id, for the greedy method
    int64_t longest_token;    // bytes
};

/* A piece as the cache knows it. Up to SHORT_KEY bytes (nearly all pieces: words are short), its
 * bytes as two little-endian words, zero past its end, which with the length are the piece, so
 * comparing two pieces is comparing two words; a longer piece is known by its hash and compared
 * byte by byte. */
#define SHORT_KEY 16

typedef struct {
    uint64_t words[2];    // a short piece's bytes; a long one's (hash, offset in cached_bytes)
    uint64_t hash;        // short_piece_hash of a short piece, hash_bytes of a long one
} piece_key;

/* One piece in the piece cache: 32 bytes, two to a cache line, so that a hit on a short piece
 * reads one line and nothing else. */
typedef struct {
    uint64_t words[2];    // piece_key.words
    int32_t ids;          // count == 1: the id itself; else the offset of the ids in cached_ids
    uint8_t length;       // the piece's bytes, 1 .. BPE_CACHE_MAX_PIECE; 0: an empty entry
    uint8_t count;        // its ids, 1 .. length
    uint8_t unused[10];
} piece_entry;

_Static_assert(sizeof(piece_entry) == 32, "a piece_entry is half a cache line");
_Static_assert(BPE_CACHE_MAX_PIECE <= UINT8_MAX, "a piece's length and id count fit a uint8_t");

#define PIECE_CACHE_MIN_CAPACITY 4096

struct bpe_workspace {
    /* the piece cache: open addressing with linear probing, at most half full */
    piece_entry* entries;        // (cache_capacity,)
    int64_t cache_capacity;      // a power of two
    int64_t cache_size;
    int32_t* cached_ids;         // (cached_ids_capacity,) the ids of pieces of several ids
    int64_t cached_ids_used;
    int64_t cached_ids_capacity;
    uint8_t* cached_bytes;       // (cached_bytes_capacity,) the bytes of long pieces
    int64_t cached_bytes_used;
    int64_t cached_bytes_capacity;
    /* scratch for one piece of up to scratch_capacity bytes */
    int32_t* symbols;            // (scratch_capacity,)
    int32_t* prev;               // (scratch_capacity,) linked list of the symbols left
    int32_t* next;               // (scratch_capacity,)
    int32_t* rank_at;            // (scratch_capacity,) rank of the pair (pos, next[pos]), or -1
    uint64_t* heap;              // (3 * scratch_capacity,) candidate merges rank << 32 | pos
    int64_t scratch_capacity;
};

/* ---- encoder ----------------------------------------------------------------------------- */

bpe_encoder* bpe_encoder_new(llm_status* status,
                             pretokenize_mode mode,
                             const lookup_vocabulary* alphabet,   // or NULL for bytes
                             const int32_t* merges,               // (n_merges, 2)
                             int64_t n_merges,
                             lookup_vocabulary tokens,            // (n_base + n_merges) tokens
                             int32_t unknown_id) {
    const int64_t n_base = alphabet ? alphabet->size : 256;
    *status = LLM_ERR_ARGUMENT;
    if (n_base < 1 || n_merges < 0 || n_base + n_merges > INT32_MAX || tokens.size != n_base + n_merges)
        return NULL;
    for (int64_t k = 0; k < n_merges; k++)
        for (int side = 0; side < 2; side++)
            if (merges[2 * k + side] < 0 || merges[2 * k + side] >= n_base + k) return NULL;

    bpe_encoder* encoder = calloc(1, sizeof *encoder);
    *status = LLM_ERR_NOMEM;
    if (!encoder) return NULL;
    encoder->mode = mode;
    encoder->unknown_id = unknown_id;
    *status = pair_table_init(&encoder->ranks, n_merges);
    for (int64_t k = 0; k < n_merges && *status == LLM_OK; k++) {
        if (pair_table_get(&encoder->ranks, merges[2 * k], merges[2 * k + 1]) >= 0)
            *status = LLM_ERR_ARGUMENT;   /* the same pair merged twice */
        else
            *status = pair_table_put(&encoder->ranks, merges[2 * k], merges[2 * k + 1],
                                     (int32_t)(n_base + k));
    }
    if (*status == LLM_OK) {
        encoder->tokens = bpe_token_table(tokens);
        encoder->alphabet = alphabet ? bpe_token_table(*alphabet) : NULL;
        if (!encoder->tokens || (alphabet && !encoder->alphabet)) *status = LLM_ERR_NOMEM;
    }
    if (*status != LLM_OK) {
        bpe_encoder_free(encoder);
        return NULL;
    }
    if (!alphabet) {
        encoder->byte_pair_ranks = malloc(256 * 256 * sizeof *encoder->byte_pair_ranks);
        if (!encoder->byte_pair_ranks) {
            *status = LLM_ERR_NOMEM;
            bpe_encoder_free(encoder);
            return NULL;
        }
        for (int64_t i = 0; i < 256 * 256; i++) encoder->byte_pair_ranks[i] = INT32_MAX;
        for (int64_t k = 0; k < n_merges; k++)
            if (merges[2 * k] < 256 && merges[2 * k + 1] < 256)
                encoder->byte_pair_ranks[merges[2 * k] << 8 | merges[2 * k + 1]] = (int32_t)(n_base + k);
    }
    for (int64_t i = 0; i < tokens.size; i++)
        if (tokens.offsets[i + 1] - tokens.offsets[i] > encoder->longest_token)
            encoder->longest_token = tokens.offsets[i + 1] - tokens.offsets[i];
    return encoder;
}

void bpe_encoder_free(bpe_encoder* encoder) {
    if (!encoder) return;
    hash_lookup_free(encoder->alphabet);
    pair_table_free(&encoder->ranks);
    free(encoder->byte_pair_ranks);
    hash_lookup_free(encoder->tokens);
    free(encoder);
}

/* ---- workspace ----------------------------------------------------------------------------- */

bpe_workspace* bpe_workspace_new(void) {
    bpe_workspace* workspace = calloc(1, sizeof *workspace);
    if (!workspace) return NULL;
    workspace->entries = calloc(PIECE_CACHE_MIN_CAPACITY, sizeof *workspace->entries);
    if (!workspace->entries) {
        free(workspace);
        return NULL;
    }
    workspace->cache_capacity = PIECE_CACHE_MIN_CAPACITY;
    return workspace;
}

void bpe_workspace_free(bpe_workspace* workspace) {
    if (!workspace) return;
    free(workspace->entries);
    free(workspace->cached_ids);
    free(workspace->cached_bytes);
    free(workspace->symbols);
    free(workspace->prev);
    free(workspace->next);
    free(workspace->rank_at);
    free(workspace->heap);
    free(workspace);
}

static llm_status reserve_scratch(bpe_workspace* workspace, int64_t n) {
    if (n <= workspace->scratch_capacity) return LLM_OK;
    int64_t capacity = workspace->scratch_capacity > 0 ? workspace->scratch_capacity : 256;
    while (capacity < n) capacity *= 2;
    int32_t* symbols = realloc(workspace->symbols, (size_t)capacity * sizeof *symbols);
    if (symbols) workspace->symbols = symbols;
    int32_t* prev = realloc(workspace->prev, (size_t)capacity * sizeof *prev);
    if (prev) workspace->prev = prev;
    int32_t* next = realloc(workspace->next, (size_t)capacity * sizeof *next);
    if (next) workspace->next = next;
    int32_t* rank_at = realloc(workspace->rank_at, (size_t)capacity * sizeof *rank_at);
    if (rank_at) workspace->rank_at = rank_at;
    uint64_t* heap = realloc(workspace->heap, (size_t)(3 * capacity) * sizeof *heap);
    if (heap) workspace->heap = heap;
    if (!symbols || !prev || !next || !rank_at || !heap) return LLM_ERR_NOMEM;
    workspace->scratch_capacity = capacity;
    return LLM_OK;
}

/* The hash of a short piece from its words: one multiply (wyhash's mix), where hash_words
 * spends two; the slot comes from its low bits, and a probe compares the words themselves. */
static inline uint64_t short_piece_hash(uint64_t a, uint64_t b, uint64_t n) {
    return multiply_fold(a ^ HASH_SECRET[0], b ^ HASH_SECRET[1] ^ n);
}

/* The first n bytes of word (0 <= n), the others zero. */
static inline uint64_t low_bytes(uint64_t word, int64_t n) {
    return n >= 8 ? word : word & ((UINT64_C(1) << (8 * n)) - 1);
}

/* The key of piece[0:n]. A short piece is read as two 8-byte words, past its end but within the
 * text (the bytes to text_end), masked: no branch on its length, which would mispredict. */
static inline piece_key key_of(const uint8_t* piece, int64_t n, const uint8_t* text_end) {
    piece_key key;
    if (n <= SHORT_KEY) {
        uint8_t tail[SHORT_KEY] = {0};
        const uint8_t* from = piece;
        if (text_end - piece < SHORT_KEY) {   /* the last bytes of the text */
            memcpy(tail, piece, (size_t)n);
            from = tail;
        }
        key.words[0] = low_bytes(read64(from), n);
        key.words[1] = low_bytes(read64(from + 8), n > 8 ? n - 8 : 0);
        key.hash = short_piece_hash(key.words[0], key.words[1], (uint64_t)n);
    } else {
        key.hash = key.words[0] = hash_bytes(piece, n);
        key.words[1] = 0;
    }
    return key;
}

/* The entry of piece[0:n] (key its key), or the empty entry where it would go. */
static inline piece_entry* cache_find(const bpe_workspace* workspace, const piece_key* key,
                                      const uint8_t* piece, int64_t n) {
    const uint64_t mask = (uint64_t)workspace->cache_capacity - 1;
    for (uint64_t i = key->hash & mask;; i = (i + 1) & mask) {
        piece_entry* entry = &workspace->entries[i];
        if (entry->length == 0) return entry;
        if (entry->length == n && entry->words[0] == key->words[0]
                && (n <= SHORT_KEY ? entry->words[1] == key->words[1]
                                   : bytes_equal(workspace->cached_bytes + entry->words[1], piece, n)))
            return entry;
    }
}

/* The ids of a cached entry, copied to ids; their count. */
static inline int64_t cache_read(int32_t* ids, const bpe_workspace* workspace, const piece_entry* entry) {
    if (entry->count == 1) {
        ids[0] = entry->ids;
        return 1;
    }
    const int32_t* cached = workspace->cached_ids + entry->ids;
    for (int64_t i = 0; i < entry->count; i++) ids[i] = cached[i];   /* a few ids: no memcpy call */
    return entry->count;
}

/* Make room for needed more elements of size bytes in *buffer (capacity *capacity, *used used). */
static llm_status reserve_buffer(void** buffer, int64_t* capacity, int64_t used, int64_t needed,
                                 size_t size) {
    if (used + needed <= *capacity) return LLM_OK;
    int64_t grown_capacity = *capacity > 0 ? *capacity : 1 << 14;
    while (grown_capacity < used + needed) grown_capacity *= 2;
    void* grown = realloc(*buffer, (size_t)grown_capacity * size);
    if (!grown) return LLM_ERR_NOMEM;
    *buffer = grown;
    *capacity = grown_capacity;
    return LLM_OK;
}

/* Re-place the entries in a table of capacity slots (a power of two, more than they fill), each
 * by its hash (from its words, for a short piece). */
static llm_status resize_cache(bpe_workspace* workspace, int64_t capacity) {
    piece_entry* entries = calloc((size_t)capacity, sizeof *entries);
    if (!entries) return LLM_ERR_NOMEM;
    const uint64_t mask = (uint64_t)capacity - 1;
    for (int64_t i = 0; i < workspace->cache_capacity; i++) {
        const piece_entry* entry = &workspace->entries[i];
        if (entry->length == 0) continue;
        const uint64_t hash = entry->length <= SHORT_KEY
            ? short_piece_hash(entry->words[0], entry->words[1], entry->length) : entry->words[0];
        uint64_t j = hash & mask;
        while (entries[j].length != 0) j = (j + 1) & mask;
        entries[j] = *entry;
    }
    free(workspace->entries);
    workspace->entries = entries;
    workspace->cache_capacity = capacity;
    return LLM_OK;
}

/* Text of n bytes brings about n / BYTES_PER_NEW_PIECE pieces the cache has not seen (English
 * books: one per 70-110 bytes; fewer as the text grows). */
#define BYTES_PER_NEW_PIECE 128

/* Size the cache once for the pieces text of n bytes is likely to bring, instead of doubling it
 * step by step from its minimum: each doubling re-places every entry, and each table it leaves
 * behind was fresh memory, paid for in page faults. A cache with room for as many is left as it
 * is: a warm cache meets fewer new pieces, and doubling still follows when they come. */
static llm_status presize_cache(bpe_workspace* workspace, int64_t n) {
    int64_t expected = n / BYTES_PER_NEW_PIECE;
    if (expected > BPE_CACHE_MAX_ENTRIES) expected = BPE_CACHE_MAX_ENTRIES;
    int64_t capacity = workspace->cache_capacity;
    while (capacity < 2 * expected) capacity *= 2;
    return capacity > workspace->cache_capacity ? resize_cache(workspace, capacity) : LLM_OK;
}

/* Cache the ids (count,) of piece[0:n] (1 <= n <= BPE_CACHE_MAX_PIECE, not cached yet, key its
 * key). A full cache starts over empty. */
static llm_status cache_put(bpe_workspace* workspace, const piece_key* key, const uint8_t* piece, int64_t n,
                            const int32_t* ids, int64_t count) {
    if (workspace->cache_size >= BPE_CACHE_MAX_ENTRIES) {   /* start over */
        memset(workspace->entries, 0, (size_t)workspace->cache_capacity * sizeof *workspace->entries);
        workspace->cache_size = 0;
        workspace->cached_ids_used = 0;
        workspace->cached_bytes_used = 0;
    }
    if (2 * (workspace->cache_size + 1) > workspace->cache_capacity
            && resize_cache(workspace, 2 * workspace->cache_capacity) != LLM_OK)
        return LLM_ERR_NOMEM;
    if (count > 1 && reserve_buffer((void**)&workspace->cached_ids, &workspace->cached_ids_capacity,
                                    workspace->cached_ids_used, count, sizeof(int32_t)) != LLM_OK)
        return LLM_ERR_NOMEM;
    if (n > SHORT_KEY
            && reserve_buffer((void**)&workspace->cached_bytes, &workspace->cached_bytes_capacity,
                              workspace->cached_bytes_used, n, 1) != LLM_OK)
        return LLM_ERR_NOMEM;
    piece_entry* entry = cache_find(workspace, key, piece, n);
    entry->words[0] = key->words[0];
    entry->words[1] = key->words[1];
    entry->length = (uint8_t)n;
    entry->count = (uint8_t)count;
    if (count == 1) {
        entry->ids = ids[0];
    } else {
        entry->ids = (int32_t)workspace->cached_ids_used;
        memcpy(workspace->cached_ids + workspace->cached_ids_used, ids, (size_t)count * sizeof *ids);
        workspace->cached_ids_used += count;
    }
    if (n > SHORT_KEY) {
        entry->words[1] = (uint64_t)workspace->cached_bytes_used;
        memcpy(workspace->cached_bytes + workspace->cached_bytes_used, piece, (size_t)n);
        workspace->cached_bytes_used += n;
    }
    workspace->cache_size += 1;
    return LLM_OK;
}

/* ---- merge rank -------------------------------------------------------------------------- */

/* The candidate merges form a 4-ary min-heap of rank << 32 | pos: lowest rank first, then the
 * leftmost position. (Four children per node: half the depth of a binary heap, and the four
 * keys share a cache line.) */
static inline void heap_push(uint64_t* heap, int64_t* size, uint64_t key) {
    int64_t i = (*size)++;
    while (i > 0 && key < heap[(i - 1) / 4]) {
        heap[i] = heap[(i - 1) / 4];
        i = (i - 1) / 4;
    }
    heap[i] = key;
}

static inline void heap_sift_down(uint64_t* heap, int64_t size, int64_t i) {
    const uint64_t moving = heap[i];
    for (;;) {
        const int64_t first = 4 * i + 1;
        if (first >= size) break;
        int64_t best = first;
        const int64_t last = first + 4 < size ? first + 4 : size;
        for (int64_t child = first + 1; child < last; child++)
            if (heap[child] < heap[best]) best = child;
        if (heap[best] >= moving) break;
        heap[i] = heap[best];
        i = best;
    }
    heap[i] = moving;
}

/* The rank of the pair of adjacent symbols a, b (-1: no merge; an unknown character never
 * merges). */
static inline int32_t pair_rank(const pair_table* ranks, const int32_t* symbols, int32_t a, int32_t b) {
    return symbols[a] < 0 || symbols[b] < 0 ? -1 : pair_table_get(ranks, symbols[a], symbols[b]);
}

/* Set rank_at[a] for the pair starting at a (none at the end), and push it as a candidate. */
static inline void refresh_candidate(uint64_t* heap, int64_t* heap_size, int32_t* rank_at,
                                     const pair_table* ranks, const int32_t* symbols,
                                     const int32_t* next, int32_t m, int32_t a) {
    rank_at[a] = next[a] < m ? pair_rank(ranks, symbols, a, next[a]) : -1;
    if (rank_at[a] >= 0) heap_push(heap, heap_size, (uint64_t)rank_at[a] << 32 | (uint32_t)a);
}

/* Standard BPE on a piece of at most SHORT_PIECE bytes (nearly all are), the same merges as
 * merge_piece below by a plainer route: the symbols and the ranks of their adjacent pairs sit in
 * two small arrays; each step takes the lowest rank, the leftmost among equal ones (a scan of a
 * few entries), merges that pair, closes the gap and re-ranks the two pairs around it. For a
 * word this beats the heap, which pays its bookkeeping on every merge. */
#define SHORT_PIECE 32
#define NO_MERGE INT32_MAX

static inline int32_t rank_of(const pair_table* ranks, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return NO_MERGE;   /* an unknown character never merges */
    const int32_t rank = pair_table_get(ranks, left, right);
    return rank >= 0 ? rank : NO_MERGE;
}

static int64_t merge_short_piece(int32_t* ids, const bpe_encoder* encoder, const uint8_t* piece,
                                 int64_t n) {
    int32_t symbols[SHORT_PIECE], rank_at[SHORT_PIECE];   // rank_at[i]: pair (i, i + 1)
    const pair_table* ranks = &encoder->ranks;
    int64_t m = bpe_base_symbols(symbols, encoder->alphabet, piece, n);
    if (encoder->byte_pair_ranks) {
        for (int64_t i = 0; i + 1 < m; i++) rank_at[i] = encoder->byte_pair_ranks[piece[i] << 8 | piece[i + 1]];
    } else {
        for (int64_t i = 0; i + 1 < m; i++) rank_at[i] = rank_of(ranks, symbols[i], symbols[i + 1]);
    }
    while (m > 1) {
        int64_t best = 0;
        for (int64_t i = 1; i + 1 < m; i++)
            if (rank_at[i] < rank_at[best]) best = i;
        if (rank_at[best] == NO_MERGE) break;
        symbols[best] = rank_at[best];   /* a merge's rank is the id it makes */
        m -= 1;
        for (int64_t i = best + 1; i < m; i++) {
            symbols[i] = symbols[i + 1];
            rank_at[i] = rank_at[i + 1];
        }
        if (best + 1 < m) rank_at[best] = rank_of(ranks, symbols[best], symbols[best + 1]);
        if (best > 0) rank_at[best - 1] = rank_of(ranks, symbols[best - 1], symbols[best]);
    }
    for (int64_t i = 0; i < m; i++) ids[i] = symbols[i] >= 0 ? symbols[i] : encoder->unknown_id;
    return m;
}

/* Standard BPE on one piece. The symbols form a linked list (prev/next); rank_at[pos] is the
 * rank of the pair starting at pos now, so a popped candidate is current exactly when its rank
 * equals rank_at[pos] (a rank names one pair, and the pair at pos changes whenever pos or its
 * right neighbour merges). Each merge pushes at most two candidates: the heap never holds more
 * than 3n. A merge's new pairs rank above it (they contain the token it just made), so merges
 * come out in rising rank order. */
static int64_t merge_piece(int32_t* ids, const bpe_encoder* encoder, bpe_workspace* workspace,
                           const uint8_t* piece, int64_t n) {
    if (n <= SHORT_PIECE) return merge_short_piece(ids, encoder, piece, n);
    if (n > INT32_MAX / 4) return LLM_ERR_ARGUMENT;   /* positions are int32 */
    if (reserve_scratch(workspace, n) != LLM_OK) return LLM_ERR_NOMEM;
    int32_t* symbols = workspace->symbols;
    int32_t* prev = workspace->prev;
    int32_t* next = workspace->next;
    int32_t* rank_at = workspace->rank_at;
    uint64_t* heap = workspace->heap;
    const pair_table* ranks = &encoder->ranks;
    const int32_t m = (int32_t)bpe_base_symbols(symbols, encoder->alphabet, piece, n);
    int64_t heap_size = 0;
    for (int32_t i = 0; i < m; i++) {
        prev[i] = i - 1;
        next[i] = i + 1;
    }
    for (int32_t i = 0; i < m; i++) {   /* candidates in position order, then one heapify */
        rank_at[i] = i + 1 < m ? pair_rank(ranks, symbols, i, i + 1) : -1;
        if (rank_at[i] >= 0) heap[heap_size++] = (uint64_t)rank_at[i] << 32 | (uint32_t)i;
    }
    for (int64_t i = (heap_size - 2) / 4; i >= 0; i--) heap_sift_down(heap, heap_size, i);
    while (heap_size > 0) {
        const uint64_t top = heap[0];
        heap[0] = heap[--heap_size];
        if (heap_size > 0) heap_sift_down(heap, heap_size, 0);
        const int32_t rank = (int32_t)(top >> 32), i = (int32_t)(uint32_t)top;
        if (rank_at[i] != rank) continue;   /* stale */
        const int32_t j = next[i];
        symbols[i] = rank;
        rank_at[j] = -1;
        next[i] = next[j];
        if (next[j] < m) prev[next[j]] = i;
        if (prev[i] >= 0) refresh_candidate(heap, &heap_size, rank_at, ranks, symbols, next, m, prev[i]);
        refresh_candidate(heap, &heap_size, rank_at, ranks, symbols, next, m, i);
    }
    int64_t count = 0;
    for (int32_t i = 0; i < m; i = next[i]) ids[count++] = symbols[i] >= 0 ? symbols[i] : encoder->unknown_id;
    return count;
}

/* ---- greedy longest match ---------------------------------------------------------------- */

static int64_t greedy_piece(int32_t* ids, const bpe_encoder* encoder, const uint8_t* piece, int64_t n) {
    int64_t count = 0;
    for (int64_t pos = 0; pos < n;) {
        int64_t length = encoder->longest_token < n - pos ? encoder->longest_token : n - pos;
        int32_t id = -1;
        for (; length > 0; length--)
            if ((id = hash_lookup_get(encoder->tokens, piece + pos, length)) >= 0) break;
        if (id < 0) {   /* a character outside the alphabet */
            id = encoder->unknown_id;
            length = utf8_char_length(piece[pos], n - pos);
        }
        ids[count++] = id;
        pos += length;
    }
    return count;
}

/* ---- text -------------------------------------------------------------------------------- */

/* The ids of piece[0:n]; key is key_of(piece, n) when n <= BPE_CACHE_MAX_PIECE, else unused.
 * A single byte is looked up like any piece: a branch on its length would mispredict (a third of
 * the pieces of English are single bytes, scattered), a hit on its hot entry does not. */
static inline int64_t encode_piece(int32_t* ids, const bpe_encoder* encoder, bpe_workspace* workspace,
                                   bpe_method method, const uint8_t* piece, int64_t n,
                                   const piece_key* key) {
    const int cacheable = n <= BPE_CACHE_MAX_PIECE;
    if (cacheable) {
        const piece_entry* entry = cache_find(workspace, key, piece, n);
        if (entry->length != 0) return cache_read(ids, workspace, entry);
    }
    const int64_t count = method == BPE_GREEDY ? greedy_piece(ids, encoder, piece, n)
                                               : merge_piece(ids, encoder, workspace, piece, n);
    if (count >= 0 && cacheable && cache_put(workspace, key, piece, n, ids, count) != LLM_OK)
        return LLM_ERR_NOMEM;
    return count;
}

/* Text is encoded in batches of PIECE_BATCH pieces, in three passes: find the pieces' ends;
 * hash each piece and prefetch its cache entry; then encode them. The cache misses of a batch
 * (the cache outgrows the L2 cache on a book) overlap instead of following one another. */
#define PIECE_BATCH 32

int64_t bpe_encode(int32_t* ids,                  // (capacity,)
                   int64_t* consumed,
                   const bpe_encoder* encoder,
                   bpe_workspace* workspace,
                   bpe_method method,
                   const uint8_t* text,           // (n,)
                   int64_t n,
                   int64_t capacity) {
    int64_t ends[PIECE_BATCH];
    piece_key keys[PIECE_BATCH];
    int64_t count = 0, pos = 0;
    if (presize_cache(workspace, n) != LLM_OK) return LLM_ERR_NOMEM;
    while (pos < n) {
        const int64_t pieces = pretokenize_piece_ends(ends, PIECE_BATCH, encoder->mode, text, n, pos);
        const uint64_t mask = (uint64_t)workspace->cache_capacity - 1;
        for (int64_t k = 0, start = pos; k < pieces; start = ends[k++]) {
            const int64_t length = ends[k] - start;
            /* every piece is hashed, single bytes too (a branch on them would mispredict) */
            if (length <= BPE_CACHE_MAX_PIECE) {
                keys[k] = key_of(text + start, length, text + n);
                __builtin_prefetch(&workspace->entries[keys[k].hash & mask]);
            }
        }
        for (int64_t k = 0; k < pieces; pos = ends[k++]) {
            const int64_t length = ends[k] - pos;
            if (length > capacity - count) {   /* its ids might not fit */
                *consumed = pos;
                return count;
            }
            const int64_t written = encode_piece(ids + count, encoder, workspace, method, text + pos,
                                                 length, &keys[k]);
            if (written < 0) return written;
            count += written;
        }
    }
    *consumed = pos;
    return count;
}

/* ---- decoding ---------------------------------------------------------------------------- */

llm_status bpe_decoded_length(int64_t* length,
                              int64_t* bad_index,
                              lookup_vocabulary tokens,
                              const int64_t* ids,   // (n_ids,)
                              int64_t n_ids) {
    int64_t total = 0;
    for (int64_t i = 0; i < n_ids; i++) {
        const int64_t id = ids[i];
        if (id < 0 || id >= tokens.size) {
            *bad_index = i;
            return LLM_ERR_RANGE;
        }
        total += tokens.offsets[id + 1] - tokens.offsets[id];
    }
    *length = total;
    return LLM_OK;
}

void bpe_decode(uint8_t* out,                      // (length,)
                lookup_vocabulary tokens,
                const int64_t* ids,                // (n_ids,)
                int64_t n_ids) {
    for (int64_t i = 0; i < n_ids; i++) {
        const int64_t start = tokens.offsets[ids[i]], length = tokens.offsets[ids[i] + 1] - start;
        memcpy(out, tokens.bytes + start, (size_t)length);
        out += length;
    }
}
