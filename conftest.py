"""Shared pytest fixtures for tests/ and benchmarks/."""
import os
from pathlib import Path

import pytest
from hypothesis import settings

import llm
from llm._ext import runtime

# Shared machines are noisy: a slow example is not a failure.
settings.register_profile("default", deadline=None)
settings.load_profile("default")


def corpora_path() -> Path:
    """The shared corpora: $LLM_CORPORA, else ../shared/corpora beside the checkout."""
    env = os.environ.get("LLM_CORPORA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "shared" / "corpora"


@pytest.fixture(scope="session")
def corpora() -> Path:
    """Path of the shared corpora directory; skips the test where it is absent."""
    path = corpora_path()
    if not (path / "tinyshakespeare.txt").is_file():
        pytest.skip(f"shared corpora not found at {path} (set LLM_CORPORA)")
    return path


@pytest.fixture(params=runtime.SIMD_NAMES)
def simd_level(request):
    """Runs the test at each SIMD level this CPU runs (every kernel follows
    runtime.set_simd_level), then restores the level that was in force."""
    previous = runtime.simd_level()
    if runtime.set_simd_level(request.param) != request.param:
        runtime.set_simd_level(previous)
        pytest.skip(f"this CPU has no {request.param}")
    yield request.param
    runtime.set_simd_level(previous)


# The thread policy the session started with: automatic, or a count fixed by the environment.
START_THREADS = None if runtime.threads_automatic() else runtime.max_threads()


@pytest.fixture(autouse=True)
def restore_thread_policy():
    """A test may fix a thread count (llm.set_num_threads); the next starts with the session's
    policy again."""
    yield
    llm.set_num_threads(START_THREADS)
