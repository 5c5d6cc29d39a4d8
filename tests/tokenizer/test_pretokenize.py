"""llm/tokenizer/pretokenize.py and the C scan behind it (csrc/pretokenize.c).

References: the GPT-2 pattern run by the `regex` module, and the naive rule written as a regex;
for arbitrary bytes, the same patterns over the text decoded with errors="surrogateescape" (each
invalid byte becomes one lone surrogate, a character of class "other" — our rule exactly).
"""
import numpy as np
import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from llm._ext import pretokenize as ext
from llm.tokenizer.pretokenize import GPT2_PATTERN, MODES, encode_utf8, pretokenize, split

GPT2 = regex.compile(GPT2_PATTERN)
NAIVE = regex.compile(r"[\p{L}\p{N}\p{M}]+|(?s:.)")  # the naive rule of csrc/pretokenize.h
REFERENCE = {"gpt2": GPT2, "naive": NAIVE}

# Characters that exercise the rules: every kind of Unicode whitespace (and \x1c-\x1f, which
# str.isspace() calls space but \s does not), apostrophes and contraction letters, digits of
# several scripts, combining marks, CJK, emoji with modifiers, astral letters.
INTERESTING = list(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029"
                   "\u202f\u205f\u3000\u200b\ufeff'sStTrRevVlLmMdD0123٣०½Ⅻ\u0301\u0308\u20dd"
                   "éÉßı日本語。、！?.,-_\"$€😀👍🏽\U0001F1EF\U0001F1F5𝒜𐐀\U000E0100")
# Fragments the GPT-2 rules look for, which random characters rarely line up to form.
FRAGMENTS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'r", "'v", "'l", "'x", "  ", "\n\n", " \n"]
texts = st.lists(st.sampled_from(FRAGMENTS) | st.sampled_from(INTERESTING)
                 | st.characters(exclude_categories=["Cs"])).map("".join)
# Arbitrary bytes, and valid UTF-8 text broken up by arbitrary bytes.
byte_strings = st.binary() | st.lists(st.binary(max_size=3) | texts.map(str.encode)).map(b"".join)


def reference_pieces(data: bytes, mode: str) -> list[bytes]:
    text = data.decode("utf-8", errors="surrogateescape")
    return [piece.encode("utf-8", errors="surrogateescape") for piece in REFERENCE[mode].findall(text)]


@given(texts)
def test_gpt2_matches_regex_on_any_text(text):
    assert pretokenize(text) == GPT2.findall(text)


@given(texts)
def test_naive_matches_its_rule_on_any_text(text):
    assert pretokenize(text, "naive") == NAIVE.findall(text)


@pytest.mark.parametrize("mode", MODES)
@given(data=byte_strings)
def test_any_bytes_split_losslessly(mode, data):
    pieces = pretokenize(data, mode)
    assert b"".join(pieces) == data
    assert all(pieces)
    assert pieces == reference_pieces(data, mode)


@pytest.mark.parametrize("mode", MODES)
@given(texts)
def test_bytes_split_equals_str_split(mode, text):
    assert pretokenize(text.encode("utf-8"), mode) == [p.encode("utf-8") for p in pretokenize(text, mode)]


@pytest.mark.parametrize("mode", MODES)
@given(data=byte_strings)
def test_piece_end_streams_the_same_split(mode, data):
    ends, pos = [], 0
    while pos < len(data):
        pos = ext.piece_end(data, pos, mode)
        ends.append(pos)
    assert ends == split(data, mode)[1:].tolist()


@pytest.mark.parametrize("text, pieces", [
    ("don't", ["don", "'t"]),
    ("DON'T", ["DON", "'", "T"]),                        # contractions are lowercase only
    ("'s'", ["'s", "'"]),
    ("we'll they're I've I'm he'd it's", ["we", "'ll", " they", "'re", " I", "'ve", " I", "'m",
                                          " he", "'d", " it", "'s"]),
    ("'st ''s ?'s", ["'s", "t", " ''", "s", " ?'", "s"]),  # contraction only at a piece start
    ("'ra 'va 'la 'lL 'S", ["'", "ra", " '", "va", " '", "la", " '", "lL", " '", "S"]),
    ("a 1234 b12c", ["a", " 1234", " b", "12", "c"]),
    ("3.14", ["3", ".", "14"]),
    ("a   b", ["a", "  ", " b"]),
    ("a \t\n b", ["a", " \t\n", " b"]),
    ("a\n\nb", ["a", "\n", "\n", "b"]),
    ("a  ", ["a", "  "]),                                 # a run at the end stays whole
    ("a \u3000b", ["a", " ", "\u3000", "b"]),             # only U+0020 joins the next run
    ("\u00a0\u00a0x", ["\u00a0", "\u00a0", "x"]),
    ("hi!!  ...", ["hi", "!!", " ", " ..."]),
    ("😀👍🏽 ok", ["😀👍🏽", " ok"]),
    ("日本語のテキスト。", ["日本語のテキスト", "。"]),
    ("cafe\u0301", ["cafe", "\u0301"]),                   # \p{M} is not a letter in GPT-2's rule
    ("", []),
])
def test_gpt2_examples(text, pieces):
    assert pretokenize(text) == pieces
    assert GPT2.findall(text) == pieces


@pytest.mark.parametrize("text, pieces", [
    ("Hi,  there!", ["Hi", ",", " ", " ", "there", "!"]),
    ("don't", ["don", "'", "t"]),
    ("x1y2 3.14", ["x1y2", " ", "3", ".", "14"]),
    ("cafe\u0301 au\tlait\r\n", ["cafe\u0301", " ", "au", "\t", "lait", "\r", "\n"]),
    ("日本語。", ["日本語", "。"]),
    ("👍🏽!!", ["👍", "🏽", "!", "!"]),
    ("\u3000\u3000", ["\u3000", "\u3000"]),
])
def test_naive_examples(text, pieces):
    assert pretokenize(text, "naive") == pieces


@given(texts)
def test_naive_non_word_pieces_are_single_characters(text):
    for piece in pretokenize(text, "naive"):
        assert len(piece) == 1 or regex.fullmatch(r"[\p{L}\p{N}\p{M}]+", piece)


@pytest.mark.parametrize("data, gpt2, naive", [
    (b"a\xffb", [b"a", b"\xff", b"b"], [b"a", b"\xff", b"b"]),
    (b"a\xc0\x80b", [b"a", b"\xc0\x80", b"b"], [b"a", b"\xc0", b"\x80", b"b"]),         # overlong
    (b"\xe0\x80\xafx", [b"\xe0\x80\xaf", b"x"], [b"\xe0", b"\x80", b"\xaf", b"x"]),     # overlong
    (b"\xed\xa0\x80", [b"\xed\xa0\x80"], [b"\xed", b"\xa0", b"\x80"]),                  # surrogate
    (b"\xf4\x90\x80\x80", [b"\xf4\x90\x80\x80"], [b"\xf4", b"\x90", b"\x80", b"\x80"]),  # > U+10FFFF
    (b"\xe6\x97\xe6\x97\xa5", [b"\xe6\x97", b"\xe6\x97\xa5"], [b"\xe6", b"\x97", b"\xe6\x97\xa5"]),
    (b"ok \xe6\x97", [b"ok", b" \xe6\x97"], [b"ok", b" ", b"\xe6", b"\x97"]),  # truncated at end
])
def test_invalid_utf8_bytes_are_single_other_characters(data, gpt2, naive):
    assert pretokenize(data, "gpt2") == gpt2 == reference_pieces(data, "gpt2")
    assert pretokenize(data, "naive") == naive == reference_pieces(data, "naive")


@pytest.mark.parametrize("mode", MODES)
def test_ascii_runs_read_8_bytes_at_a_time_match_regex(mode):
    # csrc/pretokenize.c scans runs of ASCII letters and digits a 64-bit word at a time: runs of
    # every length around the word size, ended by each kind of character (an ASCII or non-ASCII
    # letter, a digit, punctuation, [ \\ ] ^ _ ` { | } ~ @ (which x | 0x20 folds next to the
    # letters), space, an invalid byte) or by the end of the text at every distance.
    stops = ["", "é", "ß", "日", "1", "a", "Z", ".", "'s", " ", "\n", "@", "[", "`", "{", "~",
             "\x7f", "\x00", "\u0301"]
    for run in ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "01234567890123456789012345"):
        for length in range(1, 27):
            for stop in stops:
                for tail in ("", "x", "xyz", " more text here"):
                    text = f" {run[:length]}{stop}{tail}"
                    data = text.encode("utf-8")
                    assert pretokenize(data, mode) == reference_pieces(data, mode), text
    data = b" abcdefgh\xffijklmnop\xc3\xa9qrstuvwx\x80"   # invalid bytes inside and at the end
    for mode_ in MODES:
        assert pretokenize(data, mode_) == reference_pieces(data, mode_)


# ---- GPT-2's ASCII fast path: 64-byte windows of bit masks (AVX2 and AVX-512 levels) ----------
# A window starts at a piece start; its piece starts at bytes 1 .. 62 are final, the rest of it is
# read again as the next window; a non-ASCII byte ends what a window can decide. So every rule is
# tried at every offset of a window, every non-ASCII character at every position of one.

WINDOW = 64
# Every ASCII byte GPT-2's rules treat apart, weighted towards the ones that make rules fire.
ASCII_ALPHABET = list("  \t\n\r\x0b\x0c\x1c\x1f'''sstmdrvell.,!-_@[`{~09aZ\x00\x7f")
# What the rules look for: contractions (and near misses), whitespace runs before a word, runs.
RULE_FRAGMENTS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'st", "'ref", "'r", "'l", "'x",
                  "''s", ".'s", " 's", "x's", "9'd", "  word", "   word", "\n\nword", " \nword",
                  "\t word", "  'll", " 123", "  !!", "word", "123", "!!!", "\r\n"]
NON_ASCII = ["é", "\xa0", "\u3000", "\u2028", "日", "😀", "\u0301", "\x85"]


def assert_gpt2_matches_regex(data: bytes):
    assert pretokenize(data) == reference_pieces(data, "gpt2"), data


def test_windows_match_regex_on_random_ascii(simd_level):
    rng = np.random.default_rng(0)
    for _ in range(300):
        length = int(rng.integers(WINDOW, 5 * WINDOW))
        assert_gpt2_matches_regex("".join(rng.choice(ASCII_ALPHABET, length)).encode())


def test_windows_match_regex_on_every_ascii_byte(simd_level):
    # the classifier against the reference's classes, byte by byte, at both ends of a window
    for byte in range(128):
        for text in (bytes([byte]) * 200, b"ab " + bytes([byte]) * 3 + b" cd" * 60,
                     b"x" * 61 + bytes([byte, byte]) + b"s" + b" y" * 40):
            assert_gpt2_matches_regex(text)


@pytest.mark.parametrize("fragment", RULE_FRAGMENTS)
def test_rules_at_every_offset_of_a_window(simd_level, fragment):
    # the fragment at each offset of the first two windows, after a word, a space or a word and
    # a space, and as the window's first bytes (a window starts at a piece start)
    for offset in range(2 * WINDOW + 4):
        for before in ("a" * offset, "a " * (offset // 2) + "b" * (offset % 2), " " * offset):
            assert_gpt2_matches_regex(f"{before}{fragment}{' tail' * 30}".encode())


@pytest.mark.parametrize("char", NON_ASCII)
def test_non_ascii_at_every_position_of_a_window(simd_level, char):
    base = "It's a  test,\n\n they'll   see 42 !! " * 8
    for position in range(2 * WINDOW + 4):
        assert_gpt2_matches_regex((base[:position] + char + base[position:]).encode())


def test_whitespace_runs_and_the_text_end(simd_level):
    for length in range(2 * WINDOW + 4):
        for run in (" ", "\n", " \t"):
            assert_gpt2_matches_regex((run * length).encode())            # all whitespace
            assert_gpt2_matches_regex((run * length + "word" + " x" * 40).encode())
        assert_gpt2_matches_regex(("a" * length + "é").encode())          # non-ASCII at the end
        assert_gpt2_matches_regex(("a " * length + "é").encode())
    assert_gpt2_matches_regex(b"")


def test_split_returns_int64_bounds_and_accepts_byte_buffers():
    bounds = split(b"ab cd")
    assert bounds.dtype == np.int64 and bounds.tolist() == [0, 2, 5]
    assert split(np.frombuffer(b"ab cd", dtype=np.uint8)).tolist() == [0, 2, 5]
    assert split(bytearray(b"ab cd"), "naive").tolist() == [0, 2, 3, 5]
    assert split(b"").tolist() == [0]


def test_bad_arguments_are_value_errors_that_name_them():
    with pytest.raises(ValueError, match="mode='GPT2'"):
        pretokenize("a", "GPT2")
    with pytest.raises(ValueError, match="mode='bpe'"):
        split(b"", "bpe")
    with pytest.raises(ValueError, match="text: expected str or bytes, got int"):
        pretokenize(3)
    with pytest.raises(ValueError, match="data: expected bytes.*got str"):
        split("abc")
    with pytest.raises(ValueError, match="data: expected bytes"):
        split(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="pos=3"):
        ext.piece_end(b"abc", 3)


def test_lone_surrogate_is_refused_with_its_position():
    with pytest.raises(ValueError, match="lone surrogate U\\+DC80 at index 2"):
        pretokenize("ab\udc80c")
    with pytest.raises(ValueError, match="U\\+D800 at index 0"):
        encode_utf8("\ud800")


def corpus_sample(corpora) -> str:
    return (corpora / "tinyshakespeare.txt").read_bytes()[:200_000].decode("utf-8", errors="ignore")


def test_gpt2_matches_regex_on_tinyshakespeare(corpora):
    text = corpus_sample(corpora)
    assert pretokenize(text) == GPT2.findall(text)


def tiktoken_pieces(text: str, pieces: list[str]) -> list[bytes]:
    """How tiktoken's Rust regex (its gpt2 pattern) cuts text. tiktoken does not expose its
    splitter, but a piece found in the vocabulary comes back as one token: with every byte and
    every piece of ours in the vocabulary, each piece tiktoken cuts like us is one token, and a
    piece cut differently is missing from the vocabulary and comes back as BPE of its bytes."""
    tiktoken = pytest.importorskip("tiktoken")
    r50k_pat_str = pytest.importorskip("tiktoken_ext.openai_public").r50k_pat_str
    ranks = {bytes([b]): b for b in range(256)}
    for piece in pieces:
        ranks.setdefault(piece.encode("utf-8"), len(ranks))
    encoding = tiktoken.Encoding("gpt2-split-probe", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                 special_tokens={})
    return [encoding.decode_single_token_bytes(token) for token in encoding.encode_ordinary(text)]


def test_gpt2_matches_tiktoken_on_tinyshakespeare(corpora):
    text = corpus_sample(corpora)
    pieces = pretokenize(text)
    assert tiktoken_pieces(text, pieces) == [piece.encode("utf-8") for piece in pieces]


# tiktoken's Rust regex has older Unicode tables than `regex` (Unicode 16 against 17): the letters
# and numbers new in 17 are "other" to it. Characters Python's unicodedata knows are older still.
@given(st.text(alphabet=st.one_of(st.sampled_from(INTERESTING),
                                  st.characters(exclude_categories=["Cs", "Cn"]))))
def test_gpt2_matches_tiktoken_on_assigned_characters(text):
    pieces = pretokenize(text)
    assert tiktoken_pieces(text, pieces) == [piece.encode("utf-8") for piece in pieces]
