"""`llm generate` and `llm chat` (llm/cli/generate.py) through llm.cli.main."""
import io

import pytest

from llm.cli import main
from llm.data.chat_template import add_chat_tokens
from llm.generate import sample
from llm.model import GPT, GPTConfig, SamplingConfig, load
from llm.tokenizer import Tokenizer

TEXT = "The cat sat on the mat. Le chat était là. " * 20


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tokenizer = Tokenizer.train(TEXT, 300)
    add_chat_tokens(tokenizer)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=1, n_head=2,
                          d_model=16, seed=2))
    directory = tmp_path_factory.mktemp("model")
    model.save(directory, tokenizer)
    return directory


def test_generate_prints_the_prompt_and_its_continuation(model_dir, capsys):
    arguments = ["generate", "--model", str(model_dir), "--prompt", "The cat",
                 "--max-new-tokens", "40", "--temperature", "0.9", "--top-k", "20", "--top-p",
                 "0.9", "--seed", "7", "--past-end-of-text"]
    assert main(arguments) == 0
    model, tokenizer = load(model_dir)
    expected = sample(model, tokenizer, "The cat", 40, SamplingConfig(0.9, 20, 0.9, 7))
    assert capsys.readouterr().out == "The cat" + expected + "\n"


def test_generate_refuses_bad_settings(model_dir, capsys):
    assert main(["generate", "--model", str(model_dir), "--top-p", "1.5"]) == 1
    assert "top_p=1.5" in capsys.readouterr().err
    assert main(["generate", "--model", str(model_dir / "missing")]) == 1
    assert "no such model directory" in capsys.readouterr().err


def test_chat_reads_piped_messages(model_dir, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello there\n/reset\nbye\n"))
    assert main(["chat", "--model", str(model_dir), "--system", "Be brief.",
                 "--max-new-tokens", "6", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("model> ") == 2 and "(conversation forgotten)" in out


def test_chat_needs_a_chat_model(tmp_path, capsys):
    tokenizer = Tokenizer.train(TEXT, 300)
    GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1, n_head=1,
                  d_model=8)).save(tmp_path, tokenizer)
    assert main(["chat", "--model", str(tmp_path)]) == 1
    assert "not trained for chat" in capsys.readouterr().err


def test_chat_with_the_model_exported_to_hugging_face_gives_the_same_replies(
        model_dir, tmp_path, capsys, monkeypatch):
    assert main(["export", "--model", str(model_dir), "--out", str(tmp_path / "hf")]) == 0
    capsys.readouterr()
    replies = []
    for directory in (model_dir, tmp_path / "hf"):
        monkeypatch.setattr("sys.stdin", io.StringIO("hello there\nbye\n"))
        assert main(["chat", "--model", str(directory), "--max-new-tokens", "6",
                     "--temperature", "0"]) == 0
        replies.append(capsys.readouterr().out)
    assert replies[0] == replies[1] and replies[0].count("model> ") == 2
