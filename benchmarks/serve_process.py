"""`llm serve` as a subprocess of this source tree on a free port of 127.0.0.1, for the server's
tests (tests/serve) and its benchmark (benchmarks/test_serve_bench.py)."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


class ServerProcess:
    """`python -m llm serve --model model_dir --port PORT *args` with LLM_NUM_THREADS=threads;
    wait_ready() waits for /health, stop() ends it and returns its output."""

    def __init__(self, model_dir: Path, *args: str, threads: int = 1):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LLM_NUM_THREADS": str(threads)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llm", "--log-file", os.devnull, "serve", "--model",
             str(model_dir), "--port", str(self.port), *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait_ready(self) -> "ServerProcess":
        """self once /health answers; RuntimeError (the server stopped) if it has not within
        START_TIMEOUT seconds or exits."""
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
        raise RuntimeError(f"llm serve did not answer within {START_TIMEOUT} s: "
                           f"{self.stop()}")

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
