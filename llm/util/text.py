"""Plain-text corpora: expand paths to files, read them as bytes or as text.

Real corpora are not all clean UTF-8 (the Gutenberg selection has a Latin-1 book and CRLF line
endings). Byte-level consumers read bytes and lose nothing; text consumers get invalid bytes
replaced by U+FFFD with a warning that names the file, never a crash halfway through a corpus.
"""
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def iter_files(paths: PathLike | Iterable[PathLike], pattern: str = "*.txt") -> Iterator[Path]:
    """Yield the files named by paths; a directory contributes its files matching pattern,
    recursively, in sorted order. A path that does not exist raises FileNotFoundError."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob(pattern) if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")


def read_bytes(path: PathLike) -> bytes:
    """The file's exact bytes."""
    return Path(path).read_bytes()


def read_text(path: PathLike) -> str:
    """The file decoded as UTF-8. Invalid bytes become U+FFFD, with one warning per file giving
    how many were replaced (a Latin-1 file, say); a UTF-8 byte-order mark is dropped."""
    return decode_text(Path(path).read_bytes(), str(path))


def decode_text(data: bytes, source: str) -> str:
    """data decoded as read_text decodes a file; source names it in the warning ("standard
    input", a path)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8-sig", errors="replace")
        replaced = text.count("\ufffd") - data.decode("utf-8-sig", errors="ignore").count("\ufffd")
        log.warning("%s is not valid UTF-8 (first bad byte at offset %d); %d invalid sequence(s) "
                    "replaced by U+FFFD", source, error.start, replaced)
        return text
