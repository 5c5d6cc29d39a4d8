"""atomic_write: all of the new contents or the old ones, never a part; ordinary permissions."""
import os
import stat

import pytest

from llm.util.atomic import atomic_write


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


def test_only_whole_file_write_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="mode='a'"):
        with atomic_write(tmp_path / "x", "a"):
            pass
