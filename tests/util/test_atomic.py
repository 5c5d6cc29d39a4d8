"""llm/util/atomic.py: atomic_write and replace_directory give all of the new contents or the old
ones, never a part, and a replaced directory never goes missing; ordinary permissions."""
import os
import stat
import threading

import pytest

from llm.util import atomic
from llm.util.atomic import atomic_write, current_umask, replace_directory, resolve_directory


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    with atomic_write(path, "w", encoding="utf-8") as file:
        file.write("new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_an_error_midway_keeps_the_old_contents(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as file:
            file.write(b"half of the new")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_the_file_gets_ordinary_permissions_not_mkstemps_0600(tmp_path):
    old_umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "shared.json", "w") as file:
            file.write("{}")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == 0o644


def test_a_missing_directory_is_reported_with_the_path_asked_for(tmp_path):
    target = tmp_path / "missing" / "tok.json"
    with pytest.raises(FileNotFoundError) as error_info:
        with atomic_write(target, "w") as file:
            file.write("x")
    assert str(error_info.value) == f"[Errno 2] cannot write {target}: No such file or directory"
    assert ".tmp" not in str(error_info.value)


def test_only_whole_file_write_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="mode='a'"):
        with atomic_write(tmp_path / "x", "a"):
            pass


# ---- replace_directory


def write_version(version: str):
    """A write callback making a directory of two files that name version."""
    def write(directory):
        (directory / "version").write_text(version)
        (directory / "data.bin").write_bytes(version.encode() * 1000)
    return write


def test_replace_directory_creates_then_swaps_and_leaves_nothing_beside(tmp_path):
    target = tmp_path / "run"
    replace_directory(target, write_version("1"))
    replace_directory(target, write_version("2"))
    assert (target / "version").read_text() == "2"
    assert (target / "data.bin").read_bytes() == b"2" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~current_umask()


def test_the_directory_never_disappears_while_it_is_replaced(tmp_path):
    target = tmp_path / "prepared"
    replace_directory(target, write_version("0"))
    missing, done = [], threading.Event()

    def watch():
        while not done.is_set():
            if not os.path.isdir(target):
                missing.append(True)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for version in range(1, 60):
            replace_directory(target, write_version(str(version)))
    finally:
        done.set()
        watcher.join()
    assert not missing and (target / "version").read_text() == "59"


def test_an_error_while_writing_keeps_the_old_directory(tmp_path):
    target = tmp_path / "run"
    replace_directory(target, write_version("old"))

    def crash(directory):
        (directory / "version").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_directory(target, crash)
    assert (target / "version").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_without_the_exchange_the_old_copy_covers_a_crash_between_renames(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(atomic, "_exchange", lambda first, second: False)
    target = tmp_path / "run"
    replace_directory(target, write_version("1"))
    replace_directory(target, write_version("2"))         # the two-rename fallback
    assert (target / "version").read_text() == "2" and not target.with_name("run.old").exists()
    replace = os.replace

    def killed_after_the_first_rename(source, destination):
        if str(source).endswith(".tmp"):
            raise KeyboardInterrupt                        # as if killed between the renames
        replace(source, destination)

    monkeypatch.setattr(atomic.os, "replace", killed_after_the_first_rename)
    with pytest.raises(KeyboardInterrupt):
        replace_directory(target, write_version("3"))
    assert not target.exists()
    complete = lambda path: (path / "version").is_file()  # noqa: E731
    found = resolve_directory(target, complete)
    assert found == target.with_name("run.old") and (found / "version").read_text() == "2"
    with pytest.raises(FileNotFoundError, match="no such directory"):
        resolve_directory(tmp_path / "other", complete)
