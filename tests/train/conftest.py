"""Fixtures for the training tests: a small structured corpus and a tiny model/run config."""
import numpy as np
import pytest

import llm
from llm.train import TrainConfig

TINY_MODEL = {"n_layer": 1, "n_head": 2, "d_model": 16, "block_size": 16}
TINY_TRAIN = dict(batch_size=4, max_iters=30, lr=2e-2, warmup_iters=3, eval_interval=10,
                  eval_batches=4, log_interval=5)


def structured_text(n_lines: int = 300, seed: int = 0) -> str:
    """Lines of a small grammar: learnable (the loss falls fast) but not a constant string."""
    rng = np.random.default_rng(seed)
    subjects = ["the cat", "a dog", "my friend", "the king", "her sister"]
    verbs = ["sees", "likes", "finds", "follows", "calls"]
    objects = ["the moon", "a bird", "the river", "an apple", "the old house"]
    return "".join(f"{subjects[a]} {verbs[b]} {objects[c]}.\n"
                   for a, b, c in rng.integers(0, 5, size=(n_lines, 3)))


@pytest.fixture(autouse=True)
def one_thread():
    """Train with one thread: these models are far too small to gain from two (the session's
    thread policy comes back after the test: conftest.py)."""
    llm.set_num_threads(1)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(structured_text())
    return path


@pytest.fixture
def tiny_config():
    """tiny_config(**changes) -> a TrainConfig for a run of a few tenths of a second."""
    return lambda **changes: TrainConfig(**{**TINY_TRAIN, **changes})
