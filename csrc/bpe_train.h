/* BPE training: count the pieces of a corpus, then learn merges incrementally.
 *
 * 1. Counting. A bpe_word_counter pre-tokenizes text (pretokenize.h) and counts each distinct
 *    piece ("word") in a hash table (lookup.h). Text can arrive in chunks of any size: with
 *    final == 0 the counter leaves the pieces near the end of the chunk uncounted and says how
 *    many bytes it consumed; the caller passes the rest again at the front of the next chunk.
 *    (A piece is decided by its own bytes and the next two characters: GPT-2's whitespace rule
 *    gives up a run's last character when the character after it is not a space. So a piece
 *    that ends BPE_CHUNK_MARGIN bytes before the end of the chunk is the same in the whole text.)
 *
 * 2. Training. A bpe_trainer turns the distinct words into arrays of base symbols with their
 *    counts, counts every adjacent pair once, and keeps
 *      - pair -> count, and pair -> the words that contain it (an append-only list that may hold
 *        stale entries; a merge re-scans only the words listed for its pair),
 *      - a max-heap of (count, pair) with lazy invalidation.
 *    A merge rewrites only the words listed for its pair and adjusts the counts of the pairs
 *    around each occurrence, so its cost is proportional to the occurrences, never to the corpus.
 *
 *    Which pair is merged: the one with the highest count; among equal counts, the smallest
 *    (left id, right id) pair in lexicographic order. Within a word, occurrences are merged left
 *    to right without overlap ("a a a" -> "aa a"). Training stops after the requested number of
 *    merges or when the best pair occurs fewer than min_frequency times.
 *
 *    Why the lazy heap is exact: a merge (A, B) -> Z only lowers the counts of pairs that do not
 *    contain Z, and only creates pairs that contain Z (which are pushed once the merge is done).
 *    So every pair's heap entry is at least its true count; an entry popped with a stale count
 *    is pushed back with the true one, and an entry popped with its true count is the maximum.
 *
 * Allocation happens when the structures grow (amortized doubling), never per piece or per pair
 * occurrence. Neither object may be used from two threads at once.
 */
#ifndef LLM_BPE_TRAIN_H
#define LLM_BPE_TRAIN_H

#include "common.h"
#include "lookup.h"
#include "pretokenize.h"

/* Bytes at the end of a non-final chunk whose pieces wait for the next chunk: the two characters
 * of lookahead beyond a piece (a whitespace character, at most 3 bytes, then any character, at
 * most 4), plus one; a character cut by the chunk end lies inside the margin. */
#define BPE_CHUNK_MARGIN 8

/* ---- counting ------------------------------------------------------------------------- */

typedef struct bpe_word_counter bpe_word_counter;   /* opaque */

bpe_word_counter* bpe_word_counter_new(void);       /* NULL when out of memory */
void bpe_word_counter_free(bpe_word_counter* counter);   /* NULL is fine */

/* Count the pieces of text[0:n]. When final is 0, pieces ending after n - BPE_CHUNK_MARGIN are
 * left for the next call; *consumed is the number of bytes whose pieces were counted (all n
 * when final). LLM_ERR_NOMEM if the table cannot grow (the pieces counted so far stay). */
llm_status bpe_word_counter_add(int64_t* consumed,
                                bpe_word_counter* counter,
                                pretokenize_mode mode,
                                const uint8_t* text,   // (n,)
                                int64_t n,
                                int final);

/* Count every character of every word of words (naive mode: each time its word occurs), as
 * words of one character each, into characters. A byte that cannot start a UTF-8 character
 * counts as a character of its own. */
llm_status bpe_word_counter_add_characters(bpe_word_counter* characters,
                                           const bpe_word_counter* words);

int64_t bpe_word_counter_size(const bpe_word_counter* counter);    /* distinct words */
int64_t bpe_word_counter_bytes(const bpe_word_counter* counter);   /* their bytes, summed */
int64_t bpe_word_counter_total(const bpe_word_counter* counter);   /* pieces counted */
int64_t bpe_word_counter_text_bytes(const bpe_word_counter* counter);   /* their bytes */

/* Every distinct word, in first-seen order: word i is bytes[offsets[i] : offsets[i + 1]] and
 * occurred counts[i] times. */
void bpe_word_counter_export(uint8_t* bytes,       // (bpe_word_counter_bytes,) out
                             int64_t* offsets,     // (size + 1,) out
                             int64_t* counts,      // (size,) out
                             const bpe_word_counter* counter);

/* ---- training -------------------------------------------------------------------------- */

typedef struct bpe_trainer bpe_trainer;   /* opaque */

/* A trainer over the words of counter. alphabet == NULL: byte mode, a word's symbols are its
 * 256 possible bytes. Otherwise (naive mode) character alphabet->token(i) (its UTF-8 bytes) is
 * symbol i; a character outside the alphabet splits its word in two, since an unknown character
 * never merges. Words shorter than two symbols are dropped (they hold no pair).
 * NULL with *status set on failure: LLM_ERR_ARGUMENT for an empty alphabet, LLM_ERR_NOMEM.
 * (A character listed twice keeps its first id; the caller should not list one twice.) */
bpe_trainer* bpe_trainer_new(llm_status* status,
                             const bpe_word_counter* counter,
                             const lookup_vocabulary* alphabet);   // or NULL for bytes
void bpe_trainer_free(bpe_trainer* trainer);   /* NULL is fine */

/* Make up to max_merges more merges. Merge k (counting from the trainer's first) joins the pair
 * merges[k] = (left, right) into the new token n_base + k; counts[k] is how often the pair
 * occurred when merged. Returns the number of merges made: fewer than max_merges when no pair
 * occurs min_frequency times any more; a negative llm_status when memory runs out. */
int64_t bpe_trainer_merge(int32_t* merges,       // (max_merges, 2) out
                          int64_t* counts,       // (max_merges,) out
                          bpe_trainer* trainer,
                          int64_t max_merges,
                          int64_t min_frequency);

int64_t bpe_trainer_words(const bpe_trainer* trainer);    /* words that hold a pair */
int64_t bpe_trainer_pairs(const bpe_trainer* trainer);    /* distinct pairs seen so far */

#endif
