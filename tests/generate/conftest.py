"""Fixtures for the generation tests."""
import pytest

import llm
from llm._ext import runtime


@pytest.fixture(autouse=True)
def one_thread():
    """A one-token forward pass is far too small for two threads (and slow on a busy machine)."""
    before = runtime.max_threads()
    llm.set_num_threads(1)
    yield
    llm.set_num_threads(before)
