/* Pre-tokenization without a regex engine: the rules of pretokenize.h as direct scans.
 *
 * Text is read one character at a time: ASCII bytes through a 128-entry class table, anything
 * else through a strict UTF-8 decoder and the two-stage Unicode table of unicode_tables.h.
 */
#include "pretokenize.h"

#include <string.h>

#include "unicode_tables.h"

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

int64_t pretokenize_piece_ends(int64_t* ends,              // (max_pieces,)
                               int64_t max_pieces,
                               pretokenize_mode mode,
                               const uint8_t* text,        // (n,)
                               int64_t n,
                               int64_t pos) {
    int64_t count = 0;
    if (mode == PRETOKENIZE_NAIVE) {
        for (; count < max_pieces && pos < n; count++) ends[count] = pos = naive_piece_end(text, n, pos);
    } else {
        for (; count < max_pieces && pos < n; count++) ends[count] = pos = gpt2_piece_end(text, n, pos);
    }
    return count;
}

int64_t pretokenize_split(int64_t* bounds,           // (n + 1,)
                          pretokenize_mode mode,
                          const uint8_t* text,       // (n,)
                          int64_t n) {
    int64_t count = 0;
    bounds[0] = 0;
    if (mode == PRETOKENIZE_NAIVE) {
        for (int64_t pos = 0; pos < n; pos = bounds[count]) bounds[++count] = naive_piece_end(text, n, pos);
    } else {
        for (int64_t pos = 0; pos < n; pos = bounds[count]) bounds[++count] = gpt2_piece_end(text, n, pos);
    }
    return count;
}
