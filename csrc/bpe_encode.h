/* BPE encoding and decoding with trained merges.
 *
 * Text is pre-tokenized (pretokenize.h) and each piece is encoded on its own, by one of:
 *
 *   BPE_MERGE_RANK  standard BPE: start from the piece's base symbols (bytes, or alphabet
 *                   characters) and repeatedly merge the adjacent pair with the lowest merge rank,
 *                   the leftmost one among equal pairs, until no adjacent pair is a merge. This
 *                   is GPT-2's algorithm and gives the same ids as HF tokenizers and tiktoken for
 *                   the same merges. It keeps the symbols in a linked list and the candidate
 *                   merges in a min-heap of (rank, position) with lazy invalidation, so a piece of
 *                   n symbols costs O(n log n) ("a" * 100000 included), not O(n^2). A piece
 *                   of up to 32 bytes (nearly all) takes a plainer route to the same merges:
 *                   two small arrays, scanned for the lowest rank.
 *   BPE_GREEDY      longest match: from the start of the piece, take the longest token that the
 *                   piece continues with, and go on after it (the project's original encoder).
 *
 * In naive mode a character outside the alphabet becomes the unknown token and never merges.
 *
 * Threads: a bpe_encoder is read-only once built and may be shared by any number of threads.
 * A bpe_workspace (the piece cache and the scratch of one piece) belongs to one thread at a
 * time; give each thread its own. The cache maps a piece's bytes to its ids for pieces up to
 * BPE_CACHE_MAX_PIECE bytes; when it holds BPE_CACHE_MAX_ENTRIES pieces it starts over empty.
 * Text is pre-tokenized 32 pieces at a time, and their cache entries prefetched together.
 * Allocation happens only when the cache or the scratch grows (amortized), never per piece.
 */
#ifndef LLM_BPE_ENCODE_H
#define LLM_BPE_ENCODE_H

#include "common.h"
#include "lookup.h"
#include "pretokenize.h"

#define BPE_CACHE_MAX_PIECE 128
#define BPE_CACHE_MAX_ENTRIES (1 << 18)

typedef enum { BPE_MERGE_RANK = 0, BPE_GREEDY = 1 } bpe_method;

typedef struct bpe_encoder bpe_encoder;       /* opaque, shareable */
typedef struct bpe_workspace bpe_workspace;   /* opaque, one per thread */

/* An encoder for n_merges merges over a base of symbols: the 256 bytes when alphabet is NULL,
 * else the alphabet's characters (UTF-8 bytes each; naive mode). Merge k joins
 * (merges[2k], merges[2k + 1]) into token n_base + k; both must be ids below n_base + k.
 * tokens: the bytes of tokens 0 .. n_base + n_merges - 1 (base symbols, then merges), used by
 * the greedy method. unknown_id: the id written for a character outside the alphabet (naive
 * mode; ignored in byte mode).
 * NULL with *status = LLM_ERR_ARGUMENT when a merge names an id it may not, tokens has the wrong
 * size, or the alphabet is empty; LLM_ERR_NOMEM when out of memory. */
bpe_encoder* bpe_encoder_new(llm_status* status,
                             pretokenize_mode mode,
                             const lookup_vocabulary* alphabet,   // or NULL for bytes
                             const int32_t* merges,               // (n_merges, 2)
                             int64_t n_merges,
                             lookup_vocabulary tokens,            // (n_base + n_merges) tokens
                             int32_t unknown_id);
void bpe_encoder_free(bpe_encoder* encoder);   /* NULL is fine */

bpe_workspace* bpe_workspace_new(void);         /* NULL when out of memory */
void bpe_workspace_free(bpe_workspace* workspace);   /* NULL is fine */

/* Encode text[0:n] into ids, whole pieces at a time, as far as the ids surely fit in capacity (a
 * piece of k bytes gives at most k ids, so capacity >= n always encodes all of text). Sets
 * *consumed to the bytes encoded — 0 when the first piece is longer than capacity: call again with
 * more room — and returns the number of ids written, or a negative llm_status: LLM_ERR_NOMEM, or
 * LLM_ERR_ARGUMENT for a single piece of INT32_MAX / 4 bytes or more. A workspace caches pieces
 * for one encoder and one method: use a separate workspace for each (encoder, method). */
int64_t bpe_encode(int32_t* ids,                  // (capacity,) out
                   int64_t* consumed,
                   const bpe_encoder* encoder,
                   bpe_workspace* workspace,
                   bpe_method method,
                   const uint8_t* text,           // (n,)
                   int64_t n,
                   int64_t capacity);

/* Decoding: the bytes of ids, back to back. bpe_decoded_length checks every id against the
 * vocabulary and sums their lengths: LLM_ERR_RANGE with *bad_index set at the first id outside
 * [0, tokens.size). bpe_decode then writes the bytes (its ids must have passed the check). */
llm_status bpe_decoded_length(int64_t* length,
                              int64_t* bad_index,
                              lookup_vocabulary tokens,
                              const int64_t* ids,   // (n_ids,)
                              int64_t n_ids);
void bpe_decode(uint8_t* out,                      // (length,) out
                lookup_vocabulary tokens,
                const int64_t* ids,                // (n_ids,)
                int64_t n_ids);

#endif
