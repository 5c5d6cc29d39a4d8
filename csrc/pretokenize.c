/* Pre-tokenization without a regex engine: the rules of pretokenize.h as direct scans.
 *
 * Text is read one character at a time: ASCII bytes through a 128-entry class table, anything
 * else through a strict UTF-8 decoder and the two-stage Unicode table of unicode_tables.h.
 * GPT-2 mode has an ASCII fast path at the AVX2 and AVX-512 levels (see "piece starts from bit
 * masks" below): 64 bytes at a time, with the scan above for what it cannot decide.
 */
#include "pretokenize.h"

#include <string.h>

#include "simd.h"
#include "unicode_tables.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define PRETOKENIZE_X86 1
#endif

/* One character of the text: its length in bytes and its class bit (UNICODE_LETTER, ...). */
typedef struct {
    int64_t length;
    unsigned char_class;
} text_char;

static const uint8_t* const ascii_class = unicode_class_stage2[0];

static inline unsigned code_point_class(uint32_t cp) {
    if (cp >= UNICODE_CLASS_LIMIT) return UNICODE_OTHER;
    const uint32_t block = unicode_class_stage1[cp >> UNICODE_CLASS_BLOCK_BITS];
    return unicode_class_stage2[block][cp & ((1u << UNICODE_CLASS_BLOCK_BITS) - 1)];
}

/* The character starting with byte text[pos] >= 0x80. Strict UTF-8: the lead byte fixes the
 * length and the range of the second byte (which excludes overlong forms, UTF-16 surrogates and
 * code points above U+10FFFF); anything else, truncated sequences included, is one invalid byte,
 * which is a character of class "other". */
static text_char decode_multibyte(const uint8_t* text, // (n,)
                                  int64_t n, int64_t pos) {
    const text_char invalid = {1, UNICODE_OTHER};
    const uint8_t lead = text[pos];
    int64_t length;
    uint32_t cp;
    uint8_t second_min = 0x80, second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        cp = lead & 0x0F;
        if (lead == 0xE0) second_min = 0xA0;  /* below: overlong */
        if (lead == 0xED) second_max = 0x9F;  /* above: surrogates U+D800..U+DFFF */
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        cp = lead & 0x07;
        if (lead == 0xF0) second_min = 0x90;  /* below: overlong */
        if (lead == 0xF4) second_max = 0x8F;  /* above: beyond U+10FFFF */
    } else {
        return invalid;  /* continuation byte, overlong lead C0/C1, or F5..FF */
    }
    if (length > n - pos || text[pos + 1] < second_min || text[pos + 1] > second_max) return invalid;
    for (int64_t k = 1; k < length; k++) {
        const uint8_t byte = text[pos + k];
        if ((byte & 0xC0) != 0x80) return invalid;
        cp = (cp << 6) | (byte & 0x3F);
    }
    return (text_char){length, code_point_class(cp)};
}

static inline text_char char_at(const uint8_t* text, // (n,)
                                int64_t n, int64_t pos) {
    const uint8_t byte = text[pos];
    if (byte < 0x80) return (text_char){1, ascii_class[byte]};
    return decode_multibyte(text, n, pos);
}

/* The ASCII fast path: runs of ASCII letters (A-Z a-z, the \p{L} of ASCII) or digits (0-9, its
 * \p{N}), the runs nearly all pieces are, are scanned 8 bytes at a time in a 64-bit word (SWAR)
 * instead of byte by byte. Each returns the first byte from pos on that is not an ASCII letter
 * (digit), stopping short of the last 8 bytes of the text; run_end goes on from there byte by
 * byte (past a multibyte letter too). In a word, the top bit of each byte of x + (0x80 - c)
 * is set where the byte is >= c, for bytes below 0x80, with no carry out of them; a byte of
 * 0x80 or more may carry into the bytes after it, but it is itself a stop, and only the first
 * stop is read. */
#define BYTES_OF(c) (0x0101010101010101ull * (uint8_t)(c))

static inline uint64_t read_word(const uint8_t* p) {
    uint64_t word;
    memcpy(&word, p, sizeof word);
    return word;   /* little-endian: p[0] is the low byte (x86-64, AArch64) */
}

static inline int64_t ascii_run_end(const uint8_t* text, // (n,)
                                    int64_t n, int64_t pos, uint64_t fold, uint8_t low, uint8_t high) {
    for (; pos + 8 <= n; pos += 8) {
        const uint64_t x = read_word(text + pos), y = x | fold;
        const uint64_t inside = (y + BYTES_OF(0x80 - low)) & ~(y + BYTES_OF(0x80 - high - 1)) & ~x;
        const uint64_t stops = ~inside & BYTES_OF(0x80);
        if (stops) return pos + (__builtin_ctzll(stops) >> 3);
    }
    return pos;
}

/* End of the run of characters whose class is in `accept`, from pos on. */
static inline int64_t run_end(const uint8_t* text, // (n,)
                              int64_t n, int64_t pos, unsigned accept) {
    if (accept == UNICODE_LETTER)   /* x | 0x20 folds A-Z onto a-z (and no non-letter onto them) */
        pos = ascii_run_end(text, n, pos, BYTES_OF(0x20), 'a', 'z');
    else if (accept == UNICODE_NUMBER)
        pos = ascii_run_end(text, n, pos, 0, '0', '9');
    while (pos < n) {
        const uint8_t byte = text[pos];
        if (byte < 0x80) {
            if (!(ascii_class[byte] & accept)) break;
            pos += 1;
        } else {
            const text_char c = decode_multibyte(text, n, pos);
            if (!(c.char_class & accept)) break;
            pos += c.length;
        }
    }
    return pos;
}

/* GPT-2's 's|'t|'re|'ve|'m|'ll|'d at text[pos] == '\'': the end of the match, or pos if none. */
static inline int64_t contraction_end(const uint8_t* text, // (n,)
                                      int64_t n, int64_t pos) {
    if (pos + 1 >= n) return pos;
    const uint8_t third = pos + 2 < n ? text[pos + 2] : 0;
    switch (text[pos + 1]) {
    case 's': case 't': case 'm': case 'd': return pos + 2;
    case 'r': case 'v': return third == 'e' ? pos + 3 : pos;
    case 'l': return third == 'l' ? pos + 3 : pos;
    default: return pos;
    }
}

/* \s+(?!\S)|\s+ at a whitespace character: a run followed by a non-space gives up its last
 * character (which then starts the next piece), unless that would leave the run empty. */
static int64_t whitespace_end(const uint8_t* text, // (n,)
                              int64_t n, int64_t pos) {
    int64_t last = pos;  /* start of the last whitespace character seen */
    int64_t end = pos;
    while (end < n) {
        const text_char c = char_at(text, n, end);
        if (!(c.char_class & UNICODE_SPACE)) break;
        last = end;
        end += c.length;
    }
    return (end == n || last == pos) ? end : last;
}

static inline int64_t gpt2_piece_end(const uint8_t* text, // (n,)
                                     int64_t n, int64_t pos) {
    const uint8_t byte = text[pos];
    /* The commonest pieces first: " word" and "word" starting with an ASCII letter. */
    const int64_t first = pos + (byte == ' ' && pos + 1 < n);
    if (text[first] < 0x80 && ascii_class[text[first]] == UNICODE_LETTER)
        return run_end(text, n, first + 1, UNICODE_LETTER);
    int64_t run_start = pos;  /* after the optional leading space */
    text_char c = char_at(text, n, pos);
    if (byte == '\'') {
        const int64_t end = contraction_end(text, n, pos);
        if (end > pos) return end;
    } else if (byte == ' ' && pos + 1 < n) {
        const text_char next = char_at(text, n, pos + 1);
        if (!(next.char_class & UNICODE_SPACE)) {
            run_start = pos + 1;
            c = next;
        }
    }
    if (c.char_class & UNICODE_SPACE) return whitespace_end(text, n, pos);
    /* ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ : marks belong to the last one. */
    const unsigned run = (c.char_class & (UNICODE_LETTER | UNICODE_NUMBER))
                             ? c.char_class : (UNICODE_MARK | UNICODE_OTHER);
    return run_end(text, n, run_start + c.length, run);
}

static inline int64_t naive_piece_end(const uint8_t* text, // (n,)
                                      int64_t n, int64_t pos) {
    const unsigned word = UNICODE_LETTER | UNICODE_NUMBER | UNICODE_MARK;
    const text_char c = char_at(text, n, pos);
    if (c.char_class & word) return run_end(text, n, pos + c.length, word);
    return pos + c.length;
}

int64_t pretokenize_piece_end(pretokenize_mode mode,
                              const uint8_t* text,   // (n,)
                              int64_t n,
                              int64_t pos) {
    return mode == PRETOKENIZE_NAIVE ? naive_piece_end(text, n, pos) : gpt2_piece_end(text, n, pos);
}

/* ---- GPT-2 piece starts from bit masks (the ASCII fast path) ------------------------------
 *
 * In ASCII text every rule of GPT-2's pattern looks at most 3 bytes back and 1 ahead, so where
 * pieces start can be read off 64 bytes at once: classify the bytes of a window into bit masks
 * (bit i for byte i; a SIMD compare per class), and combine shifted masks. The window starts at
 * a piece start; the starts found at its bytes 1 .. 62 are final whatever follows it, and the
 * last of them is where the next window starts. Windows that reach past the text's end, start
 * at a non-ASCII byte or hold no piece start (a 62-byte run) take the scan above, one piece. */

#define WINDOW 64

/* The bytes of a window that GPT-2's rules ask about, as bit masks. */
typedef struct {
    uint64_t letter;      // A-Z a-z (\p{L} in ASCII)
    uint64_t digit;       // 0-9 (\p{N} in ASCII)
    uint64_t space;       // \t \n \v \f \r and ' ' (\s in ASCII)
    uint64_t blank;       // ' ': the one space that joins the run after it
    uint64_t apostrophe;
    uint64_t non_ascii;   // 0x80 and above: the window's rules hold before the first of these
    uint64_t stmd;        // 's 't 'm 'd
    uint64_t r_or_v;      // 're 've
    uint64_t e;
    uint64_t l;           // 'll
} window_masks;

/* Bit i set where byte i of window[0, 64) lies in [low, high]: the one primitive per SIMD
 * level; classify_window composes it (the compiler keeps the window's load in a register). */
typedef uint64_t (*byte_range_mask)(const uint8_t* window, uint8_t low, uint8_t high);

static inline __attribute__((always_inline)) window_masks
classify_window(const uint8_t* window, byte_range_mask in_range) {
    window_masks m;
    m.letter = in_range(window, 'A', 'Z') | in_range(window, 'a', 'z');
    m.digit = in_range(window, '0', '9');
    m.blank = in_range(window, ' ', ' ');
    m.space = in_range(window, '\t', '\r') | m.blank;
    m.apostrophe = in_range(window, '\'', '\'');
    m.non_ascii = in_range(window, 0x80, 0xFF);
    m.stmd = in_range(window, 's', 't') | in_range(window, 'm', 'm') | in_range(window, 'd', 'd');
    m.r_or_v = in_range(window, 'r', 'r') | in_range(window, 'v', 'v');
    m.e = in_range(window, 'e', 'e');
    m.l = in_range(window, 'l', 'l');
    return m;
}

/* The piece starts of an ASCII window whose byte 0 starts a piece (bit i: a piece starts at
 * byte i); bits 1 .. 62 are final, byte i's bit depending on bytes i - 3 .. i + 1 alone. */
static inline uint64_t gpt2_window_starts(const window_masks* m) {
    const uint64_t other = ~(m->letter | m->digit | m->space);
    /* A run of letters, digits or others ( ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+) starts at a
     * change of class, unless the byte before is a ' ': that space starts the piece instead. */
    const uint64_t runs = ((m->letter & ~(m->letter << 1)) | (m->digit & ~(m->digit << 1))
                           | (other & ~(other << 1))) & ~(m->blank << 1);
    /* Whitespace: a run starts a piece, and so does its last character before a non-space
     * (\s+(?!\S) leaves it to the next piece: a ' ' joining the run after it, or itself). */
    const uint64_t spaces = (m->space & ~(m->space << 1)) | (m->space & ~(m->space >> 1));
    const uint64_t starts = runs | spaces | 1;
    /* 's|'t|'re|'ve|'m|'ll|'d, tried first where an apostrophe starts a piece: the letters of a
     * contraction start no run of their own, and the byte after it starts a piece, a letter
     * too ("'st" -> "'s", "t"). A contraction's end never starts another apostrophe's piece
     * that the rules above did not (the byte before that apostrophe is a letter either way). */
    const uint64_t at_start = m->apostrophe & starts;
    const uint64_t two = at_start & (m->stmd >> 1);
    const uint64_t three = at_start & (((m->r_or_v >> 1) & (m->e >> 2)) | ((m->l >> 1) & (m->l >> 2)));
    return (starts & ~((two | three) << 1)) | (two << 2) | (three << 3);
}

/* The final piece starts after byte 0 of the window at text + pos, or 0 when it has none (the
 * window reaches past the text, or its ASCII stops too soon to decide any). */
static inline __attribute__((always_inline)) uint64_t
window_starts(const uint8_t* text, int64_t n, int64_t pos, byte_range_mask in_range) {
    if (n - pos < WINDOW || text[pos] >= 0x80) return 0;
    const window_masks masks = classify_window(text + pos, in_range);
    /* byte i's start is final when bytes up to i + 1 are ASCII and in the window */
    const int ascii = masks.non_ascii ? __builtin_ctzll(masks.non_ascii) : WINDOW;
    const int last = ascii - 2 < WINDOW - 2 ? ascii - 2 : WINDOW - 2;
    if (last < 1) return 0;
    const uint64_t final = ((UINT64_C(2) << last) - 1) & ~UINT64_C(1);
    return gpt2_window_starts(&masks) & final;
}

/* pretokenize_piece_ends in GPT-2 mode, windows classified with in_range. */
static inline __attribute__((always_inline)) int64_t
gpt2_piece_ends_by_windows(int64_t* ends, int64_t max_pieces, const uint8_t* text, int64_t n,
                           int64_t pos, byte_range_mask in_range) {
    int64_t count = 0;
    while (count < max_pieces && pos < n) {
        uint64_t starts = window_starts(text, n, pos, in_range);
        if (!starts) {
            ends[count++] = pos = gpt2_piece_end(text, n, pos);
            continue;
        }
        const int64_t window = pos;
        for (; starts && count < max_pieces; starts &= starts - 1)
            ends[count++] = pos = window + __builtin_ctzll(starts);
    }
    return count;
}

#ifdef PRETOKENIZE_X86

__attribute__((target("avx512f,avx512bw")))
static inline uint64_t byte_range_mask_avx512(const uint8_t* window, uint8_t low, uint8_t high) {
    const __m512i bytes = _mm512_loadu_si512(window);
    return _mm512_cmple_epu8_mask(_mm512_sub_epi8(bytes, _mm512_set1_epi8((char)low)),
                                  _mm512_set1_epi8((char)(high - low)));
}

__attribute__((target("avx2")))
static inline uint64_t byte_range_mask_avx2(const uint8_t* window, uint8_t low, uint8_t high) {
    const __m256i low_bytes = _mm256_set1_epi8((char)low), width = _mm256_set1_epi8((char)(high - low));
    uint64_t mask = 0;
    for (int half = 0; half < 2; half++) {
        const __m256i offset = _mm256_sub_epi8(_mm256_loadu_si256((const __m256i*)(window + 32 * half)),
                                               low_bytes);
        /* offset <= width, unsigned: AVX2 has no unsigned byte compare, but min does */
        const __m256i inside = _mm256_cmpeq_epi8(_mm256_min_epu8(offset, width), offset);
        mask |= (uint64_t)(uint32_t)_mm256_movemask_epi8(inside) << (32 * half);
    }
    return mask;
}

__attribute__((target("avx512f,avx512bw")))
static int64_t gpt2_piece_ends_avx512(int64_t* ends, int64_t max_pieces, const uint8_t* text,
                                      int64_t n, int64_t pos) {
    return gpt2_piece_ends_by_windows(ends, max_pieces, text, n, pos, byte_range_mask_avx512);
}

__attribute__((target("avx2")))
static int64_t gpt2_piece_ends_avx2(int64_t* ends, int64_t max_pieces, const uint8_t* text,
                                    int64_t n, int64_t pos) {
    return gpt2_piece_ends_by_windows(ends, max_pieces, text, n, pos, byte_range_mask_avx2);
}

#endif

int64_t pretokenize_piece_ends(int64_t* ends,              // (max_pieces,)
                               int64_t max_pieces,
                               pretokenize_mode mode,
                               const uint8_t* text,        // (n,)
                               int64_t n,
                               int64_t pos) {
#ifdef PRETOKENIZE_X86
    if (mode == PRETOKENIZE_GPT2) {  /* the ASCII fast path, where the level has it */
        const llm_simd simd = llm_simd_level();
        if (simd == LLM_SIMD_AVX512) return gpt2_piece_ends_avx512(ends, max_pieces, text, n, pos);
        if (simd == LLM_SIMD_AVX2) return gpt2_piece_ends_avx2(ends, max_pieces, text, n, pos);
    }
#endif
    int64_t count = 0;
    for (; count < max_pieces && pos < n; count++)
        ends[count] = pos = pretokenize_piece_end(mode, text, n, pos);
    return count;
}

int64_t pretokenize_split(int64_t* bounds,           // (n + 1,)
                          pretokenize_mode mode,
                          const uint8_t* text,       // (n,)
                          int64_t n) {
    /* there are at most n pieces: bounds[count + 1 ..] has room for all that are left */
    int64_t count = 0;
    bounds[0] = 0;
    while (bounds[count] < n)
        count += pretokenize_piece_ends(bounds + count + 1, n - count, mode, text, n, bounds[count]);
    return count;
}
