"""Prepared token arrays: a corpus tokenized once, split, and memory-mapped by training.

    prepare("tokenizer.json", ["books/"], "data/books")   # writes the directory below
    train, val, meta = load_prepared("data/books")        # two read-only np.memmap arrays

A prepared directory holds:
    train.bin        the training tokens, raw little-endian uint16 (vocabulary <= 65,536) or
                     uint32, no header (nanoGPT's format: np.memmap(path, dtype, mode="r"))
    val.bin          the validation tokens, same dtype
    tokenizer.json   the tokenizer that made them
    meta.json        dtype, token counts, the split rule, the tokenizer's SHA-256, the sources

The tokens and the split are exactly those of `llm train --data PATH...` on the same files (see
llm.train.run): every file is a document (empty files are skipped), documents are joined with
the tokenizer's end-of-text token between them when it has one, and the first
int(N * (1 - val_fraction)) of the N tokens train, the rest validate — for one file, nanoGPT's
split (the last 10% of the text validates). A prepared directory is therefore a cache: training
on it or on the files gives the same run.

Large inputs are streamed: each file is decoded in chunks (invalid UTF-8 becomes U+FFFD, as
llm.data.read_text does) and cut only between two letters at a space, a boundary no
pre-tokenizer merges across, so chunked tokens equal whole-text tokens; chunks are encoded on
LLM_NUM_THREADS threads (the C encoder runs without the GIL).
"""
import codecs
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from llm._ext import runtime
from llm.data.download import file_sha256
from llm.data.text import iter_files
from llm.generate import end_of_text_id
from llm.tokenizer import Tokenizer

FORMAT, VERSION = "llm-prepared-tokens", 1
TRAIN_FILE, VAL_FILE = "train.bin", "val.bin"
META_FILE, TOKENIZER_FILE = "meta.json", "tokenizer.json"
CHUNK_BYTES = 4 << 20
SPLIT_RULE = ("files joined in order (end-of-text token between them when the tokenizer has "
              "one); the first int(N * (1 - val_fraction)) tokens train, the rest validate")

log = logging.getLogger(__name__)


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab_size <= 65,536), else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def is_prepared(path: str | os.PathLike) -> bool:
    """Whether path is a directory written by prepare (it has meta.json)."""
    return (Path(path) / META_FILE).is_file()


def prepare(tokenizer: Tokenizer | str | os.PathLike, inputs, out_dir: str | os.PathLike,
            val_fraction: float = 0.1, overwrite: bool = False, progress: bool = True,
            chunk_bytes: int = CHUNK_BYTES, num_threads: int | None = None) -> dict:
    """Tokenize the text files named by inputs (files, or directories of .txt files) into the
    prepared directory out_dir (see the module docstring); returns its meta.

    tokenizer: a Tokenizer or the path of a tokenizer.json.
    overwrite: replace out_dir if it already holds prepared data (otherwise an error).
    The directory appears complete or not at all (written beside it, then renamed).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction}: must lie strictly between 0 and 1")
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes={chunk_bytes}: must be positive")
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out_dir = Path(out_dir)
    if out_dir.exists() and not (overwrite and is_prepared(out_dir)):
        hint = "pass --force to replace it" if is_prepared(out_dir) else "choose a new --out"
        raise ValueError(f"{out_dir} already exists; {hint}")
    files = list(iter_files(inputs))
    if not files:
        raise ValueError(f"no .txt files in {', '.join(map(str, inputs))}")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        if isinstance(tokenizer, Tokenizer):
            tokenizer.save(work / TOKENIZER_FILE)
            tokenizer_source = None
        else:
            shutil.copyfile(tokenizer, work / TOKENIZER_FILE)
            tokenizer_source = str(Path(tokenizer).resolve())
            tokenizer = Tokenizer.load(work / TOKENIZER_FILE)
        dtype = token_dtype(tokenizer.vocab_size)
        sources = write_tokens(tokenizer, files, work / TRAIN_FILE, dtype, chunk_bytes,
                               num_threads or runtime.max_threads(), progress)
        n_tokens = (work / TRAIN_FILE).stat().st_size // dtype.itemsize
        if n_tokens < 2:
            raise ValueError(f"empty corpus: {', '.join(map(str, inputs))} hold(s) "
                             f"{n_tokens} token(s)")
        n_train = int(n_tokens * (1.0 - val_fraction))
        split_off_tail(work / TRAIN_FILE, work / VAL_FILE, n_train, dtype)
        meta = {"format": FORMAT, "version": VERSION, "dtype": dtype.name,
                "vocab_size": tokenizer.vocab_size, "train_tokens": n_train,
                "val_tokens": n_tokens - n_train, "val_fraction": val_fraction,
                "split": SPLIT_RULE, "separator_id": end_of_text_id(tokenizer),
                "tokenizer": {"file": TOKENIZER_FILE, "source": tokenizer_source,
                              "sha256": file_sha256(work / TOKENIZER_FILE)},
                "sources": sources}
        (work / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("prepared %s: %s training and %s validation tokens (%s) from %d file(s)", out_dir,
             f"{n_train:,}", f"{n_tokens - n_train:,}", dtype.name, len(sources))
    return meta


def write_tokens(tokenizer: Tokenizer, files: list[Path], out_path: Path, dtype: np.dtype,
                 chunk_bytes: int, num_threads: int, progress: bool) -> list[dict]:
    """Append the joined token stream of files to out_path; one {path, bytes, tokens} per
    non-empty file."""
    separator = end_of_text_id(tokenizer)
    sources = []
    total_bytes = sum(path.stat().st_size for path in files)
    with open(out_path, "wb") as out, ThreadPoolExecutor(num_threads) as pool, \
            tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                 desc="tokenizing", disable=not progress) as bar:
        for path in files:
            count = 0
            batch = []
            for text, n_bytes in iter_text_chunks(path, chunk_bytes):
                bar.update(n_bytes)
                if not text:
                    continue
                if count == 0 and not batch and sources and separator is not None:
                    np.array([separator], dtype=dtype).tofile(out)
                batch.append(text)
                if len(batch) == 2 * num_threads:
                    count += write_encoded(pool, tokenizer, batch, out, dtype)
                    batch = []
            count += write_encoded(pool, tokenizer, batch, out, dtype)
            if count:
                sources.append({"path": str(path.resolve()), "bytes": path.stat().st_size,
                                "tokens": count})
            else:
                log.info("%s holds no text; skipped", path)
    return sources


def write_encoded(pool: ThreadPoolExecutor, tokenizer: Tokenizer, texts: list[str], out,
                  dtype: np.dtype) -> int:
    """Encode texts in parallel and append their ids, in order; how many were written."""
    count = 0
    for ids in pool.map(tokenizer.encode_to_numpy, texts):
        ids.astype(dtype).tofile(out)
        count += len(ids)
    return count


def iter_text_chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[str, int]]:
    """(text, bytes read since the last chunk) for consecutive pieces of a file's text.

    The text is the file decoded as UTF-8 (a byte-order mark dropped; invalid bytes replaced by
    U+FFFD with one warning, as llm.data.read_text). Pieces end just before a space that
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


def split_off_tail(path: Path, tail_path: Path, n_keep: int, dtype: np.dtype) -> None:
    """Move the tokens of path after the first n_keep into tail_path (path is truncated)."""
    tokens = np.memmap(path, dtype=dtype, mode="r")
    tokens[n_keep:].tofile(tail_path)
    del tokens
    os.truncate(path, n_keep * dtype.itemsize)


def load_prepared(directory: str | os.PathLike) -> tuple[np.memmap, np.memmap, dict]:
    """(train, val, meta) of a prepared directory: train and val are read-only (N,) memmaps of
    uint16 or uint32 ids; meta is meta.json. The tokenizer is directory/tokenizer.json."""
    directory = Path(directory)
    if not is_prepared(directory):
        raise FileNotFoundError(f"{directory} is not a prepared directory (no {META_FILE}); "
                                "make one with `llm data prepare`")
    meta = json.loads((directory / META_FILE).read_text())
    if meta.get("format") != FORMAT or not isinstance(meta.get("version"), int) \
            or meta["version"] > VERSION:
        raise ValueError(f"{directory / META_FILE}: not a prepared-tokens file this version "
                         f"reads (format {meta.get('format')!r}, version {meta.get('version')!r})")
    dtype = np.dtype(meta["dtype"])
    arrays = []
    for name, key in ((TRAIN_FILE, "train_tokens"), (VAL_FILE, "val_tokens")):
        path = directory / name
        expected = meta[key] * dtype.itemsize
        size = path.stat().st_size if path.is_file() else None
        if size != expected:
            raise ValueError(f"{path} holds {size} bytes, meta.json says {expected} "
                             f"({meta[key]:,} {dtype.name} tokens); the directory is damaged: "
                             "prepare it again")
        arrays.append(np.memmap(path, dtype=dtype, mode="r", shape=(meta[key],)) if meta[key]
                      else np.empty(0, dtype=dtype))   # mmap cannot map an empty file
    return arrays[0], arrays[1], meta
