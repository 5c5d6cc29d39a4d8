"""llm/cli/tokenizer.py: `llm tokenizer train|encode|decode|info|export`."""
import io
import json

import pytest

from llm import cli
from llm.tokenizer import Tokenizer

from ..tokenizer.test_pretrained import gpt2_ids, write_gpt2_files

TEXT = "".join(f"It was the best of times, it was the worst of times; it was the age of wisdom, "
               f"it was the age of foolishness ({i}).\n" for i in range(30))


def run(capsys, tmp_path, *argv) -> tuple[int, str, str]:
    code = cli.main(["--log-file", str(tmp_path / "llm.log"), "--log-level", "WARNING", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def stdin(data: bytes) -> io.TextIOWrapper:
    """Standard input holding data (bytes, as a pipe gives them)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    return path


def test_train_encode_decode_info(capsys, tmp_path, corpus, monkeypatch):
    out_file = tmp_path / "tok.json"
    code, out, _ = run(capsys, tmp_path, "tokenizer", "train", "--input", str(corpus),
                       "--vocab-size", "290", "--out", str(out_file))
    assert code == 0 and "byte mode, 290 tokens (33 merges)" in out
    tokenizer = Tokenizer.load(out_file)

    code, out, _ = run(capsys, tmp_path, "tokenizer", "encode", "--tokenizer", str(out_file),
                       "the best of times")
    ids = [int(i) for i in out.split()]
    assert code == 0 and ids == tokenizer.encode("the best of times")

    monkeypatch.setattr("sys.stdin", stdin(b"the age<|endoftext|>"))
    code, out, _ = run(capsys, tmp_path, "tokenizer", "encode", "--tokenizer", str(out_file),
                       "--allow-special", "-")
    assert [int(i) for i in out.split()][-1] == tokenizer.special_tokens["<|endoftext|>"]

    code, out, _ = run(capsys, tmp_path, "tokenizer", "decode", "--tokenizer", str(out_file),
                       *map(str, ids))
    assert code == 0 and out == "the best of times"
    monkeypatch.setattr("sys.stdin", stdin(" ".join(map(str, ids)).encode() + b"\n"))
    assert run(capsys, tmp_path, "tokenizer", "decode", "--tokenizer", str(out_file))[1] == \
        "the best of times"

    code, out, _ = run(capsys, tmp_path, "tokenizer", "info", "--tokenizer", str(out_file),
                       "--file", str(corpus))
    assert code == 0 and "vocab size      290" in out and "sample merges" in out
    n_tokens = len(tokenizer.encode(TEXT))
    assert (f"{len(TEXT)} bytes, {n_tokens} tokens, {len(TEXT) / n_tokens:.3f} bytes per token"
            in out)



def test_encode_takes_invalid_utf8_on_stdin_as_train_does(capsys, tmp_path, corpus, monkeypatch):
    """A Latin-1 pipe: invalid bytes become U+FFFD with a warning naming standard input."""
    out_file = tmp_path / "tok.json"
    assert run(capsys, tmp_path, "tokenizer", "train", "--input", str(corpus), "--vocab-size",
               "290", "--out", str(out_file))[0] == 0
    monkeypatch.setattr("sys.stdin", stdin("the café".encode("latin-1")))
    code, out, err = run(capsys, tmp_path, "tokenizer", "encode", "--tokenizer", str(out_file))
    assert code == 0 and [int(i) for i in out.split()] == \
        Tokenizer.load(out_file).encode("the caf\ufffd")
    assert "standard input is not valid UTF-8" in err and "1 invalid sequence(s)" in err

def test_naive_mode_train_and_info(capsys, tmp_path, corpus):
    out_file = tmp_path / "naive.json"
    code, out, _ = run(capsys, tmp_path, "tokenizer", "train", "--input", str(corpus), "--mode",
                       "naive", "--vocab-size", "60", "--special-token", "<s>", "--out",
                       str(out_file))
    assert code == 0
    assert list(Tokenizer.load(out_file).special_tokens) == ["<unknown>", "<s>"]
    code, out, _ = run(capsys, tmp_path, "tokenizer", "info", "--tokenizer", str(out_file),
                       "--file", str(corpus))
    assert code == 0 and "naive" in out and "characters: <newline> <space> ( ) , . 0" in out


def test_export(capsys, tmp_path, corpus):
    tok = tmp_path / "tok.json"
    Tokenizer.train(corpus, 280).save(tok)
    code, _, _ = run(capsys, tmp_path, "tokenizer", "export", "--tokenizer", str(tok), "--format",
                     "hf", "--out", str(tmp_path / "hf.json"))
    assert code == 0 and json.loads((tmp_path / "hf.json").read_text())["model"]["type"] == "BPE"
    code, _, _ = run(capsys, tmp_path, "tokenizer", "export", "--tokenizer", str(tok), "--format",
                     "tiktoken", "--out", str(tmp_path / "ranks.tiktoken"))
    assert code == 0 and len((tmp_path / "ranks.tiktoken").read_text().splitlines()) == 279


def test_errors_are_one_line(capsys, tmp_path, corpus):
    tok = tmp_path / "tok.json"
    Tokenizer.train(corpus, 280).save(tok)
    for argv, message in (
            (["decode", "--tokenizer", str(tok), "1", "280"], "ids[1] = 280 is not a token id"),
            (["decode", "--tokenizer", str(tok), "1", "x"], "'x' is not a token id"),
            (["train", "--input", str(corpus), "--vocab-size", "100", "--out", str(tmp_path / "o")],
             "vocab_size=100 is smaller"),
            (["train", "--input", str(tmp_path / "nope"), "--vocab-size", "300", "--out",
              str(tmp_path / "o")], "nope: no such file"),
            (["encode", "--tokenizer", str(corpus), "x"], "truncated or not valid JSON")):
        code, out, err = run(capsys, tmp_path, "tokenizer", *argv)
        assert code == 1 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o").exists()


def test_a_gpt2_tokenizer_directory_works_wherever_a_tokenizer_is_taken(capsys, tmp_path,
                                                                         corpus):
    trained = Tokenizer.train(TEXT, 300)
    gpt2_dir = write_gpt2_files(trained, gpt2_ids(trained), tmp_path / "gpt2")
    gpt2 = Tokenizer.from_pretrained(gpt2_dir)
    text = "It was the age of wisdom!"
    assert gpt2.encode(text) != trained.encode(text)   # GPT-2's byte order: other ids
    code, out, err = run(capsys, tmp_path, "tokenizer", "encode", "--tokenizer", str(gpt2_dir),
                         text)
    assert code == 0, err
    assert out.split() == [str(i) for i in gpt2.encode(text)]

    code, _, err = run(capsys, tmp_path, "data", "prepare", "--tokenizer", str(gpt2_dir),
                       "--input", str(corpus), "--out", str(tmp_path / "prepared"))
    assert code == 0, err
    kept = Tokenizer.load(tmp_path / "prepared" / "tokenizer.json")   # ours, in GPT-2's order
    assert kept.vocab == gpt2.vocab and kept.encode(text) == gpt2.encode(text)
