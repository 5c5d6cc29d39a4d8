"""Fixtures for the server tests: small random models saved as model directories (one with the
chat tokens, one without, one slow enough to hold a slot), and `llm serve` started on them as a
subprocess on a free port of 127.0.0.1 (benchmarks/serve_process.py), stopped at the end."""
from pathlib import Path

import numpy as np
import pytest

from benchmarks.serve_process import ServerProcess
from llm.data.chat_template import add_chat_tokens
from llm.model import GPT, GPTConfig
from llm.tokenizer import Tokenizer

TEXT = "the cat sees the moon. a dog finds the river. héllo wörld ✓ naïve café " * 20


def save_model(directory: Path, chat: bool, **sizes) -> Path:
    """A random model (weights perturbed so that greedy continuations vary) with a byte-level
    BPE tokenizer, saved to directory."""
    tokenizer = Tokenizer.train(TEXT, 300)
    if chat:
        add_chat_tokens(tokenizer)
    config = GPTConfig(**({"vocab_size": tokenizer.vocab_size, "block_size": 128, "n_layer": 2,
                           "n_head": 2, "d_model": 32, "seed": 7} | sizes))
    model = GPT(config)
    model.params.flat += np.random.default_rng(7).normal(0, 0.2, model.params.size
                                                         ).astype(np.float32)
    model.save(directory, tokenizer)
    return directory


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    """{"chat": ..., "plain": ..., "slow": ...} model directories."""
    root = tmp_path_factory.mktemp("serve-models")
    return {"chat": save_model(root / "chat", chat=True),
            "plain": save_model(root / "plain", chat=False),
            "slow": save_model(root / "slow", chat=True, block_size=1024, n_layer=6,
                               d_model=256, n_head=4)}


@pytest.fixture(scope="session")
def servers(model_dirs):
    """Three servers, started together: "chat" (the chat model, 4 slots), "plain" (no chat
    template, --api-key KEY), "tight" (the slow model, one slot and no queue)."""
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    started = {"chat": ServerProcess(model_dirs["chat"], "--max-batch", "4"),
               "plain": ServerProcess(model_dirs["plain"], "--api-key", "KEY"),
               "tight": ServerProcess(model_dirs["slow"], "--max-batch", "1", "--max-queue", "0")}
    try:
        yield {name: server.wait_ready() for name, server in started.items()}
    finally:
        for server in started.values():
            server.stop()
