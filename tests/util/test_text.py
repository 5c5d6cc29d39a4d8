"""Reading corpora: path expansion and tolerant decoding."""
import logging

import pytest

from llm.data import iter_files, read_bytes, read_text


def test_iter_files_expands_directories_sorted_and_recursively(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ["b/z.txt", "a.txt", "b/skip.json"]:
        (tmp_path / name).write_text("x")
    single = tmp_path / "b" / "skip.json"
    assert list(iter_files(tmp_path)) == [tmp_path / "a.txt", tmp_path / "b" / "z.txt"]
    assert list(iter_files([single])) == [single]


def test_iter_files_names_a_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        list(iter_files(tmp_path / "nope.txt"))


def test_read_text_replaces_invalid_utf8_with_a_warning(tmp_path, caplog):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café ümlaut".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="llm.util.text"):
        text = read_text(path)
    assert text == "caf\ufffd \ufffdmlaut"
    assert "latin1.txt is not valid UTF-8" in caplog.text and "2 invalid" in caplog.text
    assert read_bytes(path) == "café ümlaut".encode("latin-1")


def test_read_text_keeps_valid_utf8_and_crlf_and_drops_a_bom(tmp_path):
    path = tmp_path / "ok.txt"
    path.write_bytes(b"\xef\xbb\xbfline one\r\nz\xc3\xa9ro \xef\xbf\xbd\r\n")
    assert read_text(path) == "line one\r\nzéro \ufffd\r\n"
