"""`llm serve` (llm/cli/serve.py): its help, and one clear line when the serve extra is missing
(the server itself is tested in tests/serve)."""
import socket
import sys

import pytest

import llm.serve
from llm.cli import main
from llm.model import GPT, GPTConfig
from llm.train.char_tokenizer import char_tokenizer


def test_help_names_the_endpoints_and_flags(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    shown = capsys.readouterr().out
    for text in ("/v1/chat/completions", "--api-key", "--max-batch", "127.0.0.1", ".[serve]",
                 "--dtype {f32,bf16,f16}"):
        assert text in shown


def test_a_missing_web_stack_is_one_line_naming_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.delitem(sys.modules, "llm.serve.api", raising=False)
    monkeypatch.delattr(llm.serve, "api", raising=False)
    monkeypatch.setitem(sys.modules, "uvicorn", None)       # import uvicorn fails
    assert main(["serve", "--model", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert 'pip install -e ".[serve]"' in error and "uvicorn" in error


def test_bad_limits_and_a_taken_port_are_one_line(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path), "--max-batch", "0"]) == 1
    assert "--max-batch 0" in capsys.readouterr().err
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    tokenizer = char_tokenizer(["abc"])
    GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1, n_head=1,
                  d_model=8)).save(tmp_path, tokenizer)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--model", str(tmp_path), "--port", str(port)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"llm: error: cannot listen on 127.0.0.1:{port}") and \
        error.count("\n") == 1


def test_dtype_reaches_the_loaded_model(tmp_path, monkeypatch):
    api = pytest.importorskip("llm.serve.api")
    tokenizer = char_tokenizer(["abc"])
    GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=8, n_layer=1, n_head=1,
                  d_model=8)).save(tmp_path, tokenizer)
    served = {}

    def create_app(model, *args):
        served["dtype"] = model.dtype
        raise ValueError("stopped before listening")

    monkeypatch.setattr(api, "create_app", create_app)
    assert main(["serve", "--model", str(tmp_path), "--dtype", "f16", "--port", "0"]) == 1
    assert served == {"dtype": "f16"}
