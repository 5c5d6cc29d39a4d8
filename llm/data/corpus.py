"""The one corpus pipeline: text files -> one token stream -> train/val split.

Both `llm data prepare` (the stream written to disk, llm.data.prepare) and `llm train --data
FILE` / `llm eval` (the stream in memory, llm.train.run) read a corpus through here, so they
tokenize, join and split it the same way:

  - every file is a document (directories contribute their .txt files, sorted); a file with no
    text is skipped;
  - documents are joined in order with the tokenizer's end-of-text token between two of them
    when it has one (Tokenizer.end_of_text_id);
  - the first split_point(N, val_fraction) = int(N * (1 - val_fraction)) of the N tokens train
    and the rest validate: for one file, nanoGPT's split (the last 10% of the text validates).

Large files are streamed: each is decoded in chunks (invalid UTF-8 becomes U+FFFD with one
warning, as llm.util.text.read_text does) and cut only between two letters at a space, a
boundary no pre-tokenizer merges across, so chunked tokens equal whole-text tokens; chunks are
encoded on the tokenizer's threads (the C encoder runs without the GIL).
"""
import codecs
import logging
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from llm.tokenizer import Tokenizer
from llm.util.text import iter_files

CHUNK_BYTES = 4 << 20
VAL_FRACTION = 0.1        # the default share that validates: nanoGPT's
CHUNKS_PER_BATCH = 8      # chunks encoded together (spread over the tokenizer's threads)
SPLIT_RULE = ("files joined in order (end-of-text token between them when the tokenizer has "
              "one); the first int(N * (1 - val_fraction)) tokens train, the rest validate")

log = logging.getLogger(__name__)


def check_fraction(val_fraction: float) -> None:
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction}: must lie strictly between 0 and 1")


def split_point(n_tokens: int, val_fraction: float) -> int:
    """How many of a stream's n_tokens train; the rest validate (nanoGPT's split)."""
    check_fraction(val_fraction)
    return int(n_tokens * (1.0 - val_fraction))


@dataclass
class Source:
    """A document of the stream: its file, size in bytes and number of tokens."""

    path: Path
    bytes: int
    tokens: int


class TokenStream:
    """The token stream of files (paths of files or directories), as int32 arrays in order.

    Iterating encodes the files (chunk_bytes at a time, on num_threads threads, with a progress
    bar when progress); afterwards `sources` lists the documents (Source per
    non-empty file) and `checksum` is the CRC-32 of the documents' tokens as int32, separators
    left out (what a resumed run compares to know its data did not change).
    """

    def __init__(self, tokenizer: Tokenizer,
                 paths: Iterable[str | os.PathLike] | str | os.PathLike,
                 chunk_bytes: int = CHUNK_BYTES, num_threads: int | None = None,
                 progress: bool = False):
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes={chunk_bytes}: must be positive")
        self.tokenizer = tokenizer
        self.files = list(iter_files(paths))
        self.chunk_bytes = chunk_bytes
        self.num_threads = num_threads      # None: the tokenizer's default
        self.progress = progress
        self.sources: list[Source] = []
        self.checksum = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        separator = self.tokenizer.end_of_text_id
        self.sources, self.checksum = [], 0
        total_bytes = sum(path.stat().st_size for path in self.files)
        with tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                  desc="tokenizing", disable=not self.progress) as bar, \
                self.tokenizer.batch_encoder(self.num_threads) as encode_batch:
            for path in self.files:
                count = 0
                for ids in self._document(path, encode_batch, bar):
                    if count == 0 and self.sources and separator is not None:
                        yield np.array([separator], np.int32)
                    self.checksum = zlib.crc32(ids, self.checksum)
                    count += len(ids)
                    yield ids
                if count:
                    self.sources.append(Source(path, path.stat().st_size, count))
                else:
                    log.info("%s holds no text; skipped", path)

    def _document(self, path: Path, encode_batch, bar) -> Iterator[np.ndarray]:
        """The int32 ids of one file, a batch of chunks at a time (encode_batch: a
        Tokenizer.batch_encoder's function)."""
        batch = []
        for text, n_bytes in iter_text_chunks(path, self.chunk_bytes):
            bar.update(n_bytes)
            if text:
                batch.append(text)
            if len(batch) == CHUNKS_PER_BATCH:
                yield from encode_batch(batch)
                batch = []
        yield from encode_batch(batch)

    def tokens(self) -> np.ndarray:
        """The whole stream as one (N,) int32 array (ValueError when it holds no token)."""
        tokens = np.concatenate([np.empty(0, np.int32), *self])
        if not len(tokens):
            raise ValueError(f"empty corpus: {', '.join(map(str, self.files)) or 'no file'} "
                             "hold(s) no text")
        return tokens


def iter_text_chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[str, int]]:
    """(text, bytes read since the last chunk) for consecutive pieces of a file's text.

    The text is the file decoded as UTF-8 (a byte-order mark dropped; invalid bytes replaced by
    U+FFFD with one warning, as llm.util.text.read_text). Pieces end just before a space that
    stands between two letters (see safe_cut), so no token spans two pieces; a stretch of
    chunk_bytes without such a space makes a longer piece.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    carry, pending_bytes, offset = "", 0, 0
    with open(path, "rb") as file:
        while data := file.read(chunk_bytes):
            state = decoder.getstate()
            try:
                text = decoder.decode(data)
            except UnicodeDecodeError as error:
                log.warning("%s is not valid UTF-8 (first bad byte near offset %d); invalid "
                            "sequences replaced by U+FFFD", path, offset + error.start)
                decoder = codecs.getincrementaldecoder("utf-8-sig")("replace")
                decoder.setstate(state)
                text = decoder.decode(data)
            offset += len(data)
            pending_bytes += len(data)
            carry += text
            cut = safe_cut(carry)
            if cut:
                yield carry[:cut], pending_bytes
                carry, pending_bytes = carry[cut:], 0
    carry += decoder.decode(b"", final=True)
    if carry or pending_bytes:
        yield carry, pending_bytes


def safe_cut(text: str) -> int:
    """The index of the last space in text between two letters (0 if none): both
    pre-tokenizers end a piece there (GPT-2: "word", " next"; naive: "word", " ", "next"), and
    the normalizers act on characters, so text[:i] and text[i:] tokenize as text does."""
    i = text.rfind(" ", 1, len(text) - 1)
    while i > 0:
        if text[i - 1].isalpha() and text[i + 1].isalpha():
            return i
        i = text.rfind(" ", 1, i)
    return 0
