"""`llm train` killed with SIGKILL (no chance to clean up) at a random point resumes from its last
checkpoint and ends with the same losses, bit for bit, as a run never interrupted."""
import json
import os
import signal
import subprocess
import sys
import time

from llm.train import metrics

TINY = ["--char", "--n-layer", "1", "--n-head", "2", "--d-model", "16", "--block-size", "16",
        "--batch-size", "4", "--max-iters", "400", "--eval-interval", "50", "--eval-batches",
        "2", "--log-interval", "5", "--lr", "0.02", "--checkpoint-interval", "3"]


def llm(*argv, **options):
    env = {**os.environ, "LLM_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "llm", *map(str, argv)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            **options)


def losses(run_dir):
    return [{k: v for k, v in record.items() if k != "tokens_per_second"}
            for record in metrics.read(run_dir / "metrics.jsonl")]


def test_a_run_killed_mid_training_resumes_to_the_same_losses(tmp_path, corpus):
    straight = llm("train", "--data", corpus, "--out", tmp_path / "straight", *TINY)
    killed_dir = tmp_path / "killed"
    killed = llm("train", "--data", corpus, "--out", killed_dir, *TINY)
    state = killed_dir / "checkpoint" / "trainer_state.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and killed.poll() is None:
        if state.is_file() and json.loads(state.read_text())["step"] >= 30:
            break
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    assert killed.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    step = json.loads(state.read_text())["step"]
    assert 30 <= step < 400
    resumed = llm("train", "--out", killed_dir, "--resume")
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    assert straight.wait(timeout=120) == 0, straight.stderr.read()
    assert losses(killed_dir) == losses(tmp_path / "straight")
    assert [r["step"] for r in losses(killed_dir)] == list(range(5, 401, 5))
