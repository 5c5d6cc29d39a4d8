"""Pre-tokenization: cut text into the pieces that BPE then encodes one by one.

Two modes (the exact rules are in csrc/pretokenize.h; the scan is C, llm._ext.pretokenize):
  "gpt2"   GPT-2's split, identical to `regex.findall(GPT2_PATTERN, text)`: contractions, an
           optional space before a run of letters / numbers / other symbols, whitespace runs.
  "naive"  words — maximal runs of letters, numbers and combining marks — and every other
           character (space, newline, punctuation, ...) as a piece of its own.

Bytes in, bytes out: any bytes split losslessly (an invalid UTF-8 byte is one "other" character).
"""
from llm._ext import pretokenize as _ext

MODES: tuple[str, ...] = _ext.MODES

# The pattern "gpt2" reproduces (for exports and reference tests; we never run a regex).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# bounds = split(data, mode): (count + 1,) int64 byte offsets, piece i = data[bounds[i]:bounds[i+1]]
split = _ext.split


def encode_utf8(text: str) -> bytes:
    """text as UTF-8 bytes. A lone surrogate (U+D800..U+DFFF), which UTF-8 cannot hold, is a
    ValueError that says which one and where."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"text has a lone surrogate U+{ord(text[error.start]):04X} at index {error.start}, "
            "which is not a character and has no UTF-8 form; it usually comes from decoding "
            "with errors='surrogateescape' — decode with errors='replace' instead") from None


def pretokenize(text: str | bytes, mode: str = "gpt2") -> list[str] | list[bytes]:
    """The pieces of text, in order; they concatenate back to text.

    text: str (gives str pieces) or bytes (gives bytes pieces; any bytes are accepted).
    mode: "gpt2" or "naive".
    """
    if isinstance(text, str):
        return [piece.decode("utf-8") for piece in _ext.pieces(encode_utf8(text), mode)]
    if isinstance(text, (bytes, bytearray, memoryview)):
        return _ext.pieces(text, mode)
    raise ValueError(f"text: expected str or bytes, got {type(text).__name__}")
