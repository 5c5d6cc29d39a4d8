"""Prepared token arrays: the same tokens and split as `llm train` on the files, chunking that
changes nothing, the directory format and its errors."""
import json

import numpy as np
import pytest

from llm.cli import main
from llm.data import read_text
from llm.data.download import file_sha256
from llm.data.prepare import load_prepared, prepare, token_dtype
from llm.tokenizer import Tokenizer
from llm.train.char_tokenizer import char_tokenizer

SAMPLE = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
          "All:\nSpeak, speak.  Café naïve — 東京 won't 123 stop!\r\n") * 20


@pytest.fixture(scope="module")
def byte_tokenizer():
    return Tokenizer.train(SAMPLE, 300)


@pytest.fixture
def corpus(tmp_path):
    """Files a real corpus has: CRLF, a byte-order mark, Latin-1 bytes, an empty file."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(SAMPLE, encoding="utf-8")
    (folder / "b.txt").write_bytes(b"\xef\xbb\xbf" + SAMPLE[:500].encode() + b"\r\nend")
    (folder / "c.txt").write_bytes("Caf\xe9 and cr\xe8me, in Latin-1.\n".encode("latin-1") * 9)
    (folder / "d.txt").write_bytes(b"")
    (folder / "e.txt").write_text("The last document.", encoding="utf-8")
    return folder


def reference_split(tokenizer, paths, val_fraction=0.1):
    """The corpus rule written out independently of llm.data.corpus: every non-empty file read
    whole and encoded, joined with the end-of-text id between files, the first
    int(N * (1 - val_fraction)) tokens train."""
    files = [file for path in paths
             for file in ([path] if path.is_file() else sorted(path.glob("*.txt")))]
    documents = [tokenizer.encode(text) for text in map(read_text, files) if text]
    separator = tokenizer.special_tokens.get("<|endoftext|>")
    stream = documents[0]
    for document in documents[1:]:
        stream = stream + ([] if separator is None else [separator]) + document
    n_train = int(len(stream) * (1 - val_fraction))
    return np.array(stream[:n_train]), np.array(stream[n_train:])


@pytest.mark.parametrize("chunk_bytes", [7, 64, 1 << 20])
def test_prepared_tokens_equal_llm_train_s(byte_tokenizer, corpus, tmp_path, chunk_bytes):
    meta = prepare(byte_tokenizer, [corpus], tmp_path / "out", 0.1, progress=False,
                   chunk_bytes=chunk_bytes)
    train, val, loaded = load_prepared(tmp_path / "out")
    expected_train, expected_val = reference_split(byte_tokenizer, [corpus])
    assert train.dtype == np.uint16 and isinstance(train, np.memmap)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(val, expected_val)
    assert loaded == meta
    assert [source["path"].rsplit("/", 1)[1] for source in meta["sources"]] == \
        ["a.txt", "b.txt", "c.txt", "e.txt"]   # the empty file is skipped, as in training
    assert meta["train_tokens"] + meta["val_tokens"] == \
        sum(source["tokens"] for source in meta["sources"]) + 3   # 3 end-of-text separators
    assert meta["separator_id"] == byte_tokenizer.special_tokens["<|endoftext|>"]


def test_char_tokenizer_from_a_file_is_copied_and_hashed(corpus, tmp_path):
    tokenizer = char_tokenizer([read_text(path) for path in sorted(corpus.iterdir())])
    tokenizer.save(tmp_path / "tok.json")
    meta = prepare(tmp_path / "tok.json", [corpus / "a.txt", corpus / "c.txt"], tmp_path / "out",
                   0.25, progress=False, chunk_bytes=16)
    copied = tmp_path / "out" / "tokenizer.json"
    assert copied.read_bytes() == (tmp_path / "tok.json").read_bytes()
    assert meta["tokenizer"] == {"file": "tokenizer.json", "source": str(tmp_path / "tok.json"),
                                 "sha256": file_sha256(copied)}
    assert meta["separator_id"] is None   # no end-of-text token: files simply follow each other
    train, val, _ = load_prepared(tmp_path / "out")
    expected = reference_split(tokenizer, [corpus / "a.txt", corpus / "c.txt"], 0.25)
    np.testing.assert_array_equal(train, expected[0])
    np.testing.assert_array_equal(val, expected[1])


def test_token_dtype_fits_the_vocabulary():
    assert token_dtype(256) == np.uint16 and token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


def test_an_existing_directory_is_replaced_only_when_asked(byte_tokenizer, corpus, tmp_path):
    out = tmp_path / "out"
    prepare(byte_tokenizer, [corpus / "a.txt"], out, progress=False)
    with pytest.raises(ValueError, match="already exists; pass --force"):
        prepare(byte_tokenizer, [corpus / "e.txt", corpus / "a.txt"], out, progress=False)
    meta = prepare(byte_tokenizer, [corpus / "e.txt", corpus / "a.txt"], out, overwrite=True,
                   progress=False)
    assert len(meta["sources"]) == 2 and load_prepared(out)[2] == meta
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="other already exists; choose a new --out"):
        prepare(byte_tokenizer, [corpus], tmp_path / "other", overwrite=True, progress=False)


def test_a_failed_prepare_leaves_nothing(byte_tokenizer, corpus, tmp_path):
    with pytest.raises(ValueError, match=r"empty corpus: \S*d.txt hold"):
        prepare(byte_tokenizer, str(corpus / "d.txt"), tmp_path / "out", progress=False)
    with pytest.raises(FileNotFoundError):
        prepare(tmp_path / "missing.json", [corpus], tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="val_fraction=1.0"):
        prepare(byte_tokenizer, [corpus], tmp_path / "out", 1.0, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corpus"]


def test_load_prepared_refuses_damaged_or_foreign_directories(byte_tokenizer, corpus, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="not a prepared directory.*llm data prepare"):
        load_prepared(tmp_path)
    prepare(byte_tokenizer, [corpus], out, progress=False)
    with open(out / "val.bin", "r+b") as file:
        file.truncate(3)
    with pytest.raises(ValueError, match="val.bin holds 3 bytes, meta.json says .*prepare it"):
        load_prepared(out)
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        load_prepared(out)


def test_a_tiny_corpus_may_leave_no_training_tokens(byte_tokenizer, tmp_path):
    (tmp_path / "t.txt").write_text("ab")
    tokenizer = char_tokenizer(["ab"])
    prepare(tokenizer, [tmp_path / "t.txt"], tmp_path / "out", 0.5, progress=False)
    train, val, _ = load_prepared(tmp_path / "out")
    assert train.tolist() == [0] and val.tolist() == [1]
    prepare(tokenizer, [tmp_path / "t.txt"], tmp_path / "out", 0.1, overwrite=True,
            progress=False)
    train, val, _ = load_prepared(tmp_path / "out")
    assert train.tolist() == [0] and val.tolist() == [1]   # int(2 * 0.9) = 1


def test_the_shared_corpora_prepare_as_training_reads_them(corpora, tmp_path):
    books = [corpora / "gutenberg" / name for name in ("shakespeare-caesar.txt",
                                                      "melville-moby_dick.txt")]
    tokenizer = Tokenizer.train(corpora / "tinyshakespeare.txt", 512)
    prepare(tokenizer, books, tmp_path / "out", progress=False, chunk_bytes=1 << 16)
    train, val, _ = load_prepared(tmp_path / "out")
    expected_train, expected_val = reference_split(tokenizer, books)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(val, expected_val)


def test_cli_prepares_and_describes(byte_tokenizer, corpus, tmp_path, capsys):
    byte_tokenizer.save(tmp_path / "tok.json")
    log = ["--log-file", str(tmp_path / "log")]
    assert main([*log, "data", "prepare", "--tokenizer", str(tmp_path / "tok.json"), "--input",
                 str(corpus / "a.txt"), str(corpus / "e.txt"), "--out", str(tmp_path / "p"),
                 "--val-fraction", "0.2"]) == 0
    assert "llm train --data " + str(tmp_path / "p") in capsys.readouterr().out
    assert main([*log, "data", "info", str(tmp_path / "p")]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["val_fraction"] == 0.2 and meta["dtype"] == "uint16"
    assert main([*log, "data", "info", str(corpus)]) == 0
    assert "5 text file(s)" in capsys.readouterr().out
