"""Atomic file writes: a file is either its old contents or all of the new, never a part.

Every writer of a file a user keeps (tokenizer.json, model.safetensors, word vectors,
metrics.jsonl rewrites) goes through `atomic_write`: the data goes to a temporary file beside the
target, is flushed to disk, and is renamed over the target; on any error the temporary is removed.
"""
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's or a directory's contents to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb",
                 encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside path for writing (mode "wb" or "w"); when the block ends
    without an error, flush it to disk and rename it over path.

    The temporary is created like any new file (permissions 0o666 less the umask), so the result
    is as readable as a plain open(path, "w") would make it.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r}: atomic_write writes whole files, mode 'w' or 'wb'")
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, mode, encoding=encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
