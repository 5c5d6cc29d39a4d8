"""Fixtures for the server tests: small random models saved as model directories (one with the
chat tokens, one without, one slow enough to hold a slot), and `llm serve` started on them as a
subprocess on a free port of 127.0.0.1, killed at the end."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from llm.data.chat_template import add_chat_tokens
from llm.model import GPT, GPTConfig
from llm.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
TEXT = "the cat sees the moon. a dog finds the river. héllo wörld ✓ naïve café " * 20
START_TIMEOUT = 60.0


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`python -m llm serve --model DIR --port PORT ARGS...` in a subprocess of this tree."""

    def __init__(self, model_dir: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LLM_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llm", "--log-file", os.devnull, "serve", "--model",
             str(model_dir), "--port", str(self.port), *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait_ready(self) -> "Server":
        import httpx

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llm serve exited: {self.process.stdout.read()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llm serve did not answer within {START_TIMEOUT} s")

    def stop(self) -> str:
        """Stop the server (SIGTERM, then SIGKILL); its output."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.stdout.read()


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
    started = {"chat": Server(model_dirs["chat"], "--max-batch", "4"),
               "plain": Server(model_dirs["plain"], "--api-key", "KEY"),
               "tight": Server(model_dirs["slow"], "--max-batch", "1", "--max-queue", "0")}
    try:
        yield {name: server.wait_ready() for name, server in started.items()}
    finally:
        for server in started.values():
            server.stop()
