"""Atomic writes: a file or a directory is either its old contents or all of the new, never a
part, and never absent once it has existed.

Every writer of a file a user keeps (tokenizer.json, model.safetensors, word vectors,
metrics.jsonl rewrites) goes through `atomic_write`; every writer of a directory (checkpoints,
prepared token arrays) through `replace_directory`. Both write a temporary sibling, flush it to
disk, then rename it over the target; on any error the temporary is removed.
"""
import ctypes
import errno
import functools
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

RENAME_EXCHANGE = 2          # linux/fs.h: swap two paths in one step
AT_FDCWD = -100
OLD_SUFFIX = ".old"          # where the fallback swap keeps the previous directory for a moment


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
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:   # name the file asked for, not the hidden temporary
        raise type(error)(error.errno, f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, mode, encoding=encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def replace_directory(target: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Replace directory target by the files write(temporary_directory) makes, atomically.

    The new directory is written beside target and fsynced, then swapped with target in one
    rename (Linux's renameat2 RENAME_EXCHANGE), so target is always either wholly old or wholly
    new. Where the exchange is not available, target is first renamed to `<target>.old`, and
    `resolve_directory` finds that copy should a crash come between the two renames.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f"{target.name}.*.tmp"):   # left by a crash
        shutil.rmtree(stale, ignore_errors=True)
    temporary = Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(temporary, 0o777 & ~current_umask())   # mkdtemp makes it private (0700)
        write(temporary)
        for path in temporary.iterdir():
            fsync_path(path)
        fsync_path(temporary)
        if target.exists() and _exchange(temporary, target):
            fsync_path(target.parent)
            shutil.rmtree(temporary)                    # now the previous directory
            return
        previous = target.with_name(target.name + OLD_SUFFIX)
        if target.exists():
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(target, previous)
        # (if only previous exists, a crash came between the renames: it is the good copy)
        os.replace(temporary, target)
        fsync_path(target.parent)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def resolve_directory(directory: str | os.PathLike, complete: Callable[[Path], bool]) -> Path:
    """The directory to read: directory when complete(directory), else the `.old` copy that
    replace_directory's fallback swap leaves when a crash interrupts it. FileNotFoundError
    names directory when neither is complete."""
    directory = Path(directory)
    if complete(directory):
        return directory
    previous = directory.with_name(directory.name + OLD_SUFFIX)
    if complete(previous):
        log.warning("%s is missing or incomplete; using %s (a save was interrupted)",
                    directory, previous)
        return previous
    raise FileNotFoundError(f"{directory}: no such directory, or an incomplete one")


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one rename; False where the system or file system cannot."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second),
                 RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"cannot swap {first} and {second}: {os.strerror(code)}")


@functools.cache
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
