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


@pytest.mark.parametrize("dtype", ["bf16", "f16"])
def test_generate_and_chat_with_16_bit_weights(model_dir, capsys, monkeypatch, dtype):
    arguments = ["generate", "--model", str(model_dir), "--prompt", "The cat",
                 "--max-new-tokens", "20", "--temperature", "0.9", "--seed", "7",
                 "--past-end-of-text", "--dtype", dtype]
    assert main(arguments) == 0
    model, tokenizer = load(model_dir, dtype=dtype)
    assert model.dtype == dtype
    expected = sample(model, tokenizer, "The cat", 20, SamplingConfig(0.9, seed=7))
    assert capsys.readouterr().out == "The cat" + expected + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("hello there\n"))
    assert main(["chat", "--model", str(model_dir), "--max-new-tokens", "4", "--seed", "1",
                 "--dtype", dtype]) == 0
    assert capsys.readouterr().out.count("model> ") == 1


def test_a_bad_dtype_is_refused_with_the_choices(model_dir, capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--model", str(model_dir), "--dtype", "fp8"])
    assert "invalid choice: 'fp8' (choose from 'f32', 'bf16', 'f16')" in capsys.readouterr().err
