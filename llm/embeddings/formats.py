"""The standard word2vec vector formats, readable by word2vec.c's tools, gensim and others.

Both start with a header line "V D\\n" (number of words, dimension). Then, per word:
  text:   the word, a space, D numbers separated by spaces, "\\n";
  binary: the word in UTF-8, a space, D little-endian float32 (4·D bytes), "\\n" (word2vec.c
          writes the newline; gensim omits it; readers skip it either way).
Words therefore cannot hold spaces or newlines. Text numbers are written with 9 significant
digits, enough for float32 to read back bit for bit.

Files are written atomically (a temporary file in the same directory, then renamed), so an error
halfway never leaves a half-written file.
"""
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llm.util.atomic import atomic_write
from llm.util.text import PathLike


def save_word2vec(path: PathLike, words: Sequence[str], vectors: np.ndarray, *,
                  binary: bool) -> None:
    """Write words and their vectors (V, D) to path in the text or binary word2vec format."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"vectors has shape {vectors.shape}; expected ({len(words)}, D), "
                         "one row per word")
    for word in words:
        if not word or any(c.isspace() for c in word):
            raise ValueError(f"word {word!r} is empty or holds whitespace, which the word2vec "
                             "formats cannot store")
    with atomic_write(path) as out:
        out.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        if binary:
            little_endian = vectors.astype("<f4", copy=False)
            for word, row in zip(words, little_endian):
                out.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
        else:
            row_format = " ".join(["%.9g"] * vectors.shape[1])
            for word, row in zip(words, vectors.tolist()):
                out.write(f"{word} {row_format % tuple(row)}\n".encode("utf-8"))


def load_word2vec(path: PathLike, *, binary: bool | None = None) -> tuple[list[str],
                                                                          np.ndarray]:
    """Read a word2vec file: (words, vectors (V, D) float32). binary: None to tell the format
    from the file itself — text if its first entry reads as a line of text and the whole file
    parses as text, else binary."""
    data = Path(path).read_bytes()
    vocab_size, dim, offset = _read_header(path, data)
    if binary is None and _first_entry_looks_like_text(data, offset):
        try:
            words, vectors = _read_text_entries(path, data, offset, vocab_size, dim)
        except ValueError as text_error:   # binary bytes can look like text by chance
            try:
                words, vectors = _read_binary_entries(path, data, offset, vocab_size, dim)
            except ValueError:
                raise text_error from None
    elif binary is False:
        words, vectors = _read_text_entries(path, data, offset, vocab_size, dim)
    else:
        words, vectors = _read_binary_entries(path, data, offset, vocab_size, dim)
    if len(set(words)) != len(words):
        raise ValueError(f"{path}: a word occurs twice; not a word2vec vocabulary")
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{path}: entry {row + 1} ({words[row]!r}) holds NaN or an infinity; "
                         "every similarity with it would be meaningless")
    return words, vectors


def _read_header(path: PathLike, data: bytes) -> tuple[int, int, int]:
    end = data.find(b"\n")
    fields = data[:end if end >= 0 else 100].split()
    if end < 0 or len(fields) != 2 or not all(f.isdigit() for f in fields):
        raise ValueError(f"{path}: not a word2vec file (the first line must be "
                         f"'<words> <dimension>', got {data[:40]!r})")
    vocab_size, dim = int(fields[0]), int(fields[1])
    if dim < 1:
        raise ValueError(f"{path}: the header gives dimension {dim}; expected at least 1")
    # every entry takes at least 2 * dim + 2 bytes (text: a 1-byte word, " x" per value and a
    # newline; binary: 4 bytes per value): a header promising more is refused before any
    # allocation of vocab_size x dim floats
    needed, held = vocab_size * (2 * dim + 2), len(data) - (end + 1)
    if needed > held:
        raise ValueError(f"{path}: the header promises {vocab_size:,} words of {dim:,} "
                         f"dimensions, at least {needed:,} bytes, but {held:,} follow it; the "
                         "file is truncated or not a word2vec file")
    return vocab_size, dim, end + 1


def _first_entry_looks_like_text(data: bytes, offset: int) -> bool:
    end = data.find(b"\n", offset)
    try:
        line = data[offset:end if end >= 0 else len(data)].decode("utf-8")
    except UnicodeDecodeError:
        return False
    has_control = any(ord(c) < 32 and c not in "\t\r" for c in line)
    return not has_control and len(line.split(" ")) >= 2


def _read_text_entries(path, data, offset, vocab_size, dim):
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text after the header ({error}); a binary word2vec "
                         "file is read with binary=True") from None
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < vocab_size:
        raise ValueError(f"{path} is truncated: the header announces {vocab_size} vectors, the "
                         f"file holds {len(lines)}")
    if len(lines) > vocab_size:
        raise ValueError(f"{path}: the header announces {vocab_size} vectors, the file holds "
                         f"{len(lines)}")
    words = []
    vectors = np.empty((vocab_size, dim), dtype=np.float32)
    for row, line in enumerate(lines):
        fields = line.rstrip().split(" ")
        if len(fields) != dim + 1:
            raise ValueError(f"{path}: entry {row + 1} ({fields[0]!r}) has {len(fields) - 1} "
                             f"values; expected {dim} (truncated or not this dimension)")
        try:
            vectors[row] = np.array(fields[1:], dtype=np.float32)
        except ValueError:
            raise ValueError(f"{path}: entry {row + 1} ({fields[0]!r}) holds a value that is "
                             "not a number") from None
        words.append(fields[0])
    return words, vectors


def _read_binary_entries(path, data, offset, vocab_size, dim):
    words = []
    vectors = np.empty((vocab_size, dim), dtype=np.float32)
    width = 4 * dim
    for row in range(vocab_size):
        while offset < len(data) and data[offset] in b"\n":
            offset += 1
        space = data.find(b" ", offset)
        if space < 0 or space + 1 + width > len(data):
            raise ValueError(f"{path} is truncated: entry {row + 1} of {vocab_size} is "
                             "incomplete")
        try:
            words.append(data[offset:space].decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"{path}: entry {row + 1} has a word that is not UTF-8 "
                             f"({data[offset:space][:40]!r})") from None
        vectors[row] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        offset = space + 1 + width
    if data[offset:].strip():
        raise ValueError(f"{path}: {len(data) - offset} bytes follow the {vocab_size} vectors "
                         "the header announces; not a word2vec file of this size")
    return words, vectors
