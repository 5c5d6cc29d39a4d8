"""BPE training: stream a corpus through the C piece counter, then learn merges in C.

The heavy lifting is csrc/bpe_train.c (see its header for the data structures and the exact
tie-breaking rule); this module feeds it and reports progress.

Corpus: `data` is a str (one document of text), an os.PathLike (a file, or a directory whose
*.txt files are read recursively), or an iterable mixing both. A plain str is always text, never
a path: wrap paths in pathlib.Path. Pieces never span documents.

Streaming: files are read CHUNK_BYTES at a time.
  byte mode   raw bytes, lossless (invalid UTF-8 included); each chunk's last few pieces wait for
              the next chunk (the counter reports how far it got), so no piece is ever cut.
  naive mode  bytes decoded as UTF-8 with invalid sequences replaced by U+FFFD (one warning per
              file), normalized, and cut after the last newline of each chunk: a newline is a
              piece of its own in naive mode, so no piece spans the cut.
"""
import codecs
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from llm._ext.bpe_train import Trainer, WordCounter
from llm._ext.lookup import Vocabulary
from llm.tokenizer.normalize import Normalizer
from llm.tokenizer.pretokenize import encode_utf8
from llm.util.text import iter_files

log = logging.getLogger(__name__)

CHUNK_BYTES = 4 << 20
MERGES_PER_STEP = 256   # merges between progress-bar updates
PRE_TOKENIZERS = {"byte": "gpt2", "naive": "naive"}

Corpus = str | os.PathLike | Iterable[str | os.PathLike]


@dataclass
class TrainedMerges:
    """merges: (n_merges, 2) int32 id pairs; counts: (n_merges,) int64, each pair's count when
    merged; alphabet: naive mode's base characters in id order (None in byte mode)."""

    merges: np.ndarray
    counts: np.ndarray
    alphabet: tuple[str, ...] | None


def documents(data: Corpus) -> Iterator[str | Path]:
    """The documents of data: str texts and file Paths (directories expanded)."""
    if isinstance(data, (str, os.PathLike)):
        data = [data]
    elif isinstance(data, (bytes, bytearray)):
        raise ValueError("data: expected text (str), a path or an iterable of them, got bytes; "
                         "decode it, or write it to a file and pass the path")
    for item in data:
        if isinstance(item, str):
            if len(item) < 4096 and "\n" not in item and os.path.exists(item):
                log.warning("training on the text %r, which is also the name of a file: wrap "
                            "paths in pathlib.Path to train on their contents", item)
            yield item
        elif isinstance(item, os.PathLike):
            yield from iter_files(item)
        else:
            raise ValueError(f"data: expected str texts or paths, got an item of type "
                             f"{type(item).__name__}")


def read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


def count_bytes(counter: WordCounter, chunks: Iterable[bytes], progress: tqdm) -> None:
    """Count one document given as byte chunks, carrying each chunk's unfinished pieces over."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        consumed = counter.add(data, "gpt2", final=False)
        carry = data[consumed:]
        progress.update(len(chunk))
    counter.add(carry, "gpt2", final=True)


class ReplacementCounter:
    """A codecs error handler: replaces like errors="replace" and counts the replacements."""

    NAME = "llm.tokenizer.count-replace"

    def __init__(self):
        self.local = threading.local()

    def __call__(self, error: UnicodeDecodeError) -> tuple[str, int]:
        self.local.count = self.count + 1
        return "\ufffd", error.end

    @property
    def count(self) -> int:
        return getattr(self.local, "count", 0)

    def reset(self) -> None:
        self.local.count = 0


replacements = ReplacementCounter()
codecs.register_error(ReplacementCounter.NAME, replacements)


def decoded_lines(path: Path) -> Iterator[str]:
    """The text of a file in chunks that end after a newline (the last one excepted); invalid
    UTF-8 becomes U+FFFD, with one warning for the file."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors=ReplacementCounter.NAME)
    replacements.reset()
    carry = ""
    for chunk in read_chunks(path):
        text = carry + decoder.decode(chunk)
        cut = text.rfind("\n") + 1
        carry = text[cut:]
        if cut:
            yield text[:cut]
    text = carry + decoder.decode(b"", final=True)
    if replacements.count:
        log.warning("%s is not valid UTF-8; %d invalid sequence(s) replaced by U+FFFD "
                    "(byte mode would keep the bytes as they are)", path, replacements.count)
    if text:
        yield text


def count_corpus(data: Corpus, mode: str, normalizer: Normalizer | None) -> WordCounter:
    """Pre-tokenize and count every piece of the corpus. A lone surrogate in a str document is
    a ValueError naming its position."""
    counter = WordCounter()
    start = time.perf_counter()
    with tqdm(desc="counting", unit="B", unit_scale=True, disable=None, leave=False) as progress:
        for document in documents(data):
            if mode == "byte":
                if isinstance(document, Path):
                    count_bytes(counter, read_chunks(document), progress)
                else:
                    text = encode_utf8(document)
                    if len(text) <= CHUNK_BYTES:   # the common case of many short documents
                        counter.add(text, "gpt2", final=True)
                        progress.update(len(text))
                    else:
                        count_bytes(counter, (text[i:i + CHUNK_BYTES]
                                              for i in range(0, len(text), CHUNK_BYTES)), progress)
                continue
            texts = decoded_lines(document) if isinstance(document, Path) else [document]
            for text in texts:
                if not text.isascii():
                    encode_utf8(text)   # refuse lone surrogates before normalization drops them
                data_bytes = encode_utf8(normalizer(text) if normalizer else text)
                counter.add(data_bytes, "naive", final=True)
                progress.update(len(data_bytes))
    n_bytes = counter.text_bytes
    elapsed = time.perf_counter() - start
    log.info("counted %d pieces (%d distinct) in %.1f MB in %.2f s (%.1f MB/s)", counter.total,
             counter.size, n_bytes / 1e6, elapsed, n_bytes / 1e6 / max(elapsed, 1e-9))
    if counter.total == 0:
        hint = " after normalization (ASCII folding drops non-Latin text)" if normalizer else ""
        raise ValueError(f"empty corpus: the training data holds no text{hint}; "
                         "pass a non-empty str, file or directory of .txt files")
    return counter


def naive_alphabet(counter: WordCounter, min_frequency: int) -> tuple[str, ...]:
    """The characters that occur at least min_frequency times, in code point order (rarer ones
    will encode to <unknown>)."""
    data, offsets, counts = counter.characters().export()
    characters = [data[offsets[i]:offsets[i + 1]].decode("utf-8", errors="replace")
                  for i in range(len(counts))]
    kept = sorted(c for c, n in zip(characters, counts.tolist()) if n >= min_frequency and len(c) == 1)
    if not kept:
        raise ValueError(f"empty alphabet: no character occurs min_frequency={min_frequency} times; "
                         "lower min_frequency or add text")
    return tuple(kept)


def learn_merges(counter: WordCounter, n_merges: int, min_frequency: int,
                 alphabet: tuple[str, ...] | None) -> TrainedMerges:
    """Up to n_merges merges over the counted words (fewer when no pair occurs min_frequency
    times any more)."""
    start = time.perf_counter()
    characters = None if alphabet is None else Vocabulary.of(c.encode("utf-8") for c in alphabet)
    trainer = Trainer(counter, characters)
    log.info("indexed %d words, %d distinct pairs in %.2f s", trainer.words, trainer.pairs,
             time.perf_counter() - start)
    merges, counts = [], []
    done = 0
    with tqdm(total=n_merges, desc="merges", unit="merge", disable=None, leave=False) as progress:
        while done < n_merges:
            step = min(MERGES_PER_STEP, n_merges - done)
            new_merges, new_counts = trainer.merge(step, min_frequency)
            merges.append(new_merges)
            counts.append(new_counts)
            done += len(new_merges)
            progress.update(len(new_merges))
            if len(new_merges) < step:
                break
    elapsed = time.perf_counter() - start
    log.info("learned %d merges in %.2f s", done, elapsed)
    if done < n_merges:
        log.warning("stopped after %d of %d merges: no pair occurs min_frequency=%d times any more",
                    done, n_merges, min_frequency)
    return TrainedMerges(np.concatenate(merges).reshape(-1, 2).astype(np.int32) if merges
                         else np.empty((0, 2), np.int32),
                         np.concatenate(counts) if counts else np.empty(0, np.int64), alphabet)
