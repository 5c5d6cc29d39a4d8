/* Pre-tokenization: split UTF-8 text into the pieces that BPE encodes one by one.
 *
 * API (for bpe_train.c / bpe_encode.c: list csrc/pretokenize.c in their setup.py EXTRA_SOURCES):
 *
 *   int64_t pretokenize_piece_end(mode, text, n, pos)   end of the piece starting at pos (pos < n)
 *   int64_t pretokenize_split(bounds, mode, text, n)    all boundaries; returns the piece count
 *   int64_t pretokenize_piece_ends(ends, max, mode, text, n, pos)   the ends of the next pieces
 *
 * All are pure functions of their arguments: no allocation, thread-safe. In GPT-2 mode the
 * batch calls read ASCII text 64 bytes at a time at the AVX2 and AVX-512 levels (simd.h): the
 * same pieces at every level, faster.
 * mode is PRETOKENIZE_GPT2 or PRETOKENIZE_NAIVE (the Python wrapper validates mode names).
 * Any bytes are accepted. Text is decoded as strict UTF-8; an invalid byte (a stray continuation
 * byte, a truncated sequence, an overlong form, an encoded surrogate, a value above U+10FFFF)
 * counts as one character of class "other". So every input splits losslessly: pieces are never
 * empty and concatenate back to the input, and a piece never ends inside a valid UTF-8 character.
 *
 * Character classes (tables generated from the `regex` module by scripts/gen_unicode_tables.py):
 *   letter  \p{L}      number  \p{N}      mark  \p{M}      space  \s      other  everything else
 *
 * PRETOKENIZE_GPT2 reproduces GPT-2's pattern exactly as the `regex` module applies it:
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   - contractions are lowercase ASCII only and are tried first ("'st" -> "'s", "t");
 *   - one optional U+0020 space joins the run of letters, numbers or "other" that follows it
 *     (marks count as "other" here, as in the pattern);
 *   - a run of whitespace followed by a non-space gives up its last character, which starts the
 *     next piece: "a   b" -> "a", "  ", " b"; "a\n\nb" -> "a", "\n", "\n", "b"; a run at the end
 *     of the text stays whole.
 *
 * PRETOKENIZE_NAIVE (the project's original method):
 *   - a word is a maximal run of word characters: letters, numbers and marks (\p{L} \p{N} \p{M});
 *     words are the only pieces longer than one character;
 *   - every other character (space, newline, tab, any whitespace, punctuation, symbol, control,
 *     invalid byte) is a piece of its own and never merges with its neighbours:
 *     "Hi,  there!" -> "Hi", ",", " ", " ", "there", "!".
 */
#ifndef LLM_PRETOKENIZE_H
#define LLM_PRETOKENIZE_H

#include "common.h"

typedef enum { PRETOKENIZE_GPT2 = 0, PRETOKENIZE_NAIVE = 1 } pretokenize_mode;

/* End (exclusive byte offset) of the piece that starts at byte pos of text; requires 0 <= pos < n.
 * Returns a value in (pos, n]. Nothing before pos is looked at, so a caller can stream:
 * pos = 0; while (pos < n) { end = pretokenize_piece_end(mode, text, n, pos); ...; pos = end; } */
int64_t pretokenize_piece_end(pretokenize_mode mode,
                              const uint8_t* text,   // (n,) bytes
                              int64_t n,
                              int64_t pos);

/* The ends of the pieces that follow pos (0 <= pos <= n), at most max_pieces of them: piece k is
 * text[k ? ends[k - 1] : pos, ends[k]). Returns their count (0 only when pos == n). What a
 * streaming caller (bpe_encode, bpe_train) should use: one call per batch of pieces instead of
 * one per piece, with the scan inlined in a loop. */
int64_t pretokenize_piece_ends(int64_t* ends,              // (max_pieces,) out
                               int64_t max_pieces,
                               pretokenize_mode mode,
                               const uint8_t* text,        // (n,) bytes
                               int64_t n,
                               int64_t pos);

/* All piece boundaries: piece i is text[bounds[i], bounds[i+1]), bounds[0] = 0 and
 * bounds[count] = n. Returns count, the number of pieces (0 for empty text). */
int64_t pretokenize_split(int64_t* bounds,           // (n + 1,) out; the first count + 1 are set
                          pretokenize_mode mode,
                          const uint8_t* text,       // (n,) bytes
                          int64_t n);

#endif
