"""`llm serve` (llm/cli/serve.py): its help, and one clear line when the serve extra is missing
(the server itself is tested in tests/serve)."""
import sys

import pytest

import llm.serve
from llm.cli import main


def test_help_names_the_endpoints_and_flags(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    shown = capsys.readouterr().out
    for text in ("/v1/chat/completions", "--api-key", "--max-batch", "127.0.0.1", ".[serve]"):
        assert text in shown


def test_a_missing_web_stack_is_one_line_naming_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.delitem(sys.modules, "llm.serve.api", raising=False)
    monkeypatch.delattr(llm.serve, "api", raising=False)
    monkeypatch.setitem(sys.modules, "uvicorn", None)       # import uvicorn fails
    assert main(["serve", "--model", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert 'pip install -e ".[serve]"' in error and "uvicorn" in error
