"""Prepared token arrays: a corpus tokenized once, split, and memory-mapped by training.

    prepare("tokenizer.json", ["books/"], "data/books")   # writes the directory below
    train, val, meta = load_prepared("data/books")        # two read-only np.memmap arrays

A prepared directory holds:
    train.bin        the training tokens, raw little-endian uint16 (vocabulary <= 65,536) or
                     uint32, no header (nanoGPT's format: np.memmap(path, dtype, mode="r"))
    val.bin          the validation tokens, same dtype
    tokenizer.json   the tokenizer that made them
    meta.json        dtype, token counts, the split rule, the tokenizer's SHA-256, the sources

The tokens and the split are exactly those of `llm train --data PATH...` on the same files:
both read the corpus through llm.data.corpus (every file a document, end-of-text between
documents, the first int(N * (1 - val_fraction)) tokens train), streamed here to disk in chunks.
A prepared directory is therefore a cache: training on it or on the files gives the same run.
"""
import json
import logging
import os
from pathlib import Path

import numpy as np

from llm.data.corpus import (
    CHUNK_BYTES,
    SPLIT_RULE,
    VAL_FRACTION,
    TokenStream,
    check_fraction,
    split_point,
)
from llm.data.download import file_sha256
from llm.tokenizer import Tokenizer
from llm.util.atomic import replace_directory
from llm.util.json_file import read_json

FORMAT, VERSION = "llm-prepared-tokens", 1
TRAIN_FILE, VAL_FILE = "train.bin", "val.bin"
META_FILE, TOKENIZER_FILE = "meta.json", "tokenizer.json"

log = logging.getLogger(__name__)


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab_size <= 65,536), else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def is_prepared(path: str | os.PathLike) -> bool:
    """Whether path is a directory written by prepare (it has meta.json)."""
    return (Path(path) / META_FILE).is_file()


def prepare(tokenizer: Tokenizer | str | os.PathLike, inputs, out_dir: str | os.PathLike,
            val_fraction: float = VAL_FRACTION, overwrite: bool = False, progress: bool = True,
            chunk_bytes: int = CHUNK_BYTES, num_threads: int | None = None) -> dict:
    """Tokenize the text files named by inputs (files, or directories of .txt files) into the
    prepared directory out_dir (see the module docstring); returns its meta.

    tokenizer: a Tokenizer or the path of one (what Tokenizer.from_pretrained reads).
    overwrite: replace out_dir if it already holds prepared data (otherwise an error).
    The directory appears complete or not at all (llm.util.atomic.replace_directory).
    """
    check_fraction(val_fraction)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out_dir = Path(out_dir)
    if out_dir.exists() and not (overwrite and is_prepared(out_dir)):
        hint = "pass --force to replace it" if is_prepared(out_dir) else "choose a new --out"
        raise ValueError(f"{out_dir} already exists; {hint}")
    tokenizer_file = None if isinstance(tokenizer, Tokenizer) else Path(tokenizer)
    if tokenizer_file is not None:
        tokenizer = Tokenizer.from_pretrained(tokenizer_file)
    stream = TokenStream(tokenizer, inputs, chunk_bytes, num_threads, progress)
    if not stream.files:
        raise ValueError(f"no .txt files in {', '.join(map(str, inputs))}")
    meta = {}

    def write(work: Path) -> None:
        tokenizer.save(work / TOKENIZER_FILE)   # ours, whatever format it was read from
        dtype = token_dtype(tokenizer.vocab_size)
        with open(work / TRAIN_FILE, "wb") as out:
            for ids in stream:
                ids.astype(dtype).tofile(out)
        n_tokens = (work / TRAIN_FILE).stat().st_size // dtype.itemsize
        if n_tokens < 2:
            raise ValueError(f"empty corpus: {', '.join(map(str, inputs))} hold(s) "
                             f"{n_tokens} token(s)")
        n_train = split_point(n_tokens, val_fraction)
        split_off_tail(work / TRAIN_FILE, work / VAL_FILE, n_train, dtype)
        meta.update({"format": FORMAT, "version": VERSION, "dtype": dtype.name,
                     "vocab_size": tokenizer.vocab_size, "train_tokens": n_train,
                     "val_tokens": n_tokens - n_train, "val_fraction": val_fraction,
                     "split": SPLIT_RULE, "separator_id": tokenizer.end_of_text_id,
                     "tokenizer": {"file": TOKENIZER_FILE,
                                   "source": tokenizer_file and str(tokenizer_file.resolve()),
                                   "sha256": file_sha256(work / TOKENIZER_FILE)},
                     "sources": [{"path": str(source.path.resolve()), "bytes": source.bytes,
                                  "tokens": source.tokens} for source in stream.sources]})
        (work / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")

    replace_directory(out_dir, write)
    log.info("prepared %s: %s training and %s validation tokens (%s) from %d file(s)", out_dir,
             f"{meta['train_tokens']:,}", f"{meta['val_tokens']:,}", meta["dtype"],
             len(meta["sources"]))
    return meta


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
    meta = read_json(directory / META_FILE)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT \
            or not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
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
