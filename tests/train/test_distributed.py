"""Data-parallel `llm train` (llm/train/distributed.py, data_parallel.py): 2 ranks through
`mpiexec` against one process, ZeRO-1, resuming on another number of ranks, faults, Ctrl-C.

The MPI tests need the mpi extra (mpi4py, and mpiexec on PATH) and skip without it; each
mpiexec run is bounded (RUN_TIMEOUT) so that a hang fails instead of blocking. The tests of the
loaders' rows and of `llm train` without the extra run everywhere.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from llm import cli
from llm.train import TrainConfig, checkpoint, loader, metrics
from llm.train.run import per_rank_batch

from .conftest import structured_text

MPIEXEC = shutil.which("mpiexec")
FAULT_SCRIPT = Path(__file__).with_name("mpi_fault.py")
RUN_TIMEOUT = 120   # seconds; a run of these tests takes 1-3
TINY = ["--n-layer", "1", "--n-head", "2", "--d-model", "16", "--block-size", "16",
        "--max-iters", "50", "--eval-interval", "25", "--eval-batches", "4", "--lr", "0.02",
        "--warmup-iters", "3", "--log-interval", "5"]
# float32 sums in another order. (Parameters are not compared: where a gradient is ~0, such
# rounding flips its sign and Adam's normalized step moves the parameter by ~lr either way.)
LOSS_RTOL = 1e-5


def needs_mpi():
    pytest.importorskip("mpi4py")
    if MPIEXEC is None:
        pytest.skip("no mpiexec on PATH (install the mpi extra)")


def mpiexec(tmp_path, ranks: int, *argv, fault: tuple = (), wait: bool = True):
    """`mpiexec -n ranks llm <argv>` (through mpi_fault.py with fault = (FAULT, RANK, STEP)),
    one thread per rank, in its own process group. wait: the CompletedProcess-like Popen after
    it ended (killed and failed after RUN_TIMEOUT); else the running Popen."""
    program = [str(FAULT_SCRIPT), *map(str, fault)] if fault else ["-m", "llm"]
    command = [MPIEXEC, "-n", str(ranks), sys.executable, *program, "--log-level", "WARNING",
               "--log-file", str(tmp_path / "llm.log"), *map(str, argv)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True,
                               env={**os.environ, "LLM_NUM_THREADS": "1"})
    return finish(process) if wait else process


def finish(process: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> subprocess.Popen:
    try:
        process.stdout_text, process.stderr_text = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"mpiexec did not finish within {timeout} s (a hang in a collective?)")
    return process


def train_one_process(capsys, tmp_path, *argv) -> None:
    code = cli.main(["--log-level", "WARNING", "--log-file", str(tmp_path / "llm.log"),
                     "train", *map(str, argv)])
    assert code == 0, capsys.readouterr().err


def assert_same_losses(run, reference):
    records, expected = metrics.read(run / "metrics.jsonl"), metrics.read(reference / "metrics.jsonl")
    assert [r["step"] for r in records] == [r["step"] for r in expected]
    for record, want in zip(records, expected):
        for key in ("train_loss", "val_loss"):
            if key in want:
                assert record[key] == pytest.approx(want[key], rel=LOSS_RTOL), (record, want)


@pytest.fixture
def documents(tmp_path):
    """Files of very different lengths: short ones are left-padded, so the ranks' parts of a
    global batch count different numbers of targets."""
    folder = tmp_path / "documents"
    folder.mkdir()
    for index, lines in enumerate([40, 1, 3, 25, 1, 8, 60, 2, 1, 12, 30, 5]):
        text = structured_text(lines, seed=index)
        (folder / f"{index:02}.txt").write_text(text[:12] if lines == 1 else text)
    return folder


# ---------------------------------------------------------------- without MPI


@pytest.mark.parametrize("kind", ["stream", "documents"])
def test_ranks_build_the_rows_of_one_global_batch(kind):
    """Rank r of N with batch b gets rows [r b, (r + 1) b) of the batch of N b rows one process
    draws, and the global batch's count of targets."""
    rng = np.random.default_rng(0)
    if kind == "stream":
        tokens = rng.integers(0, 50, 500)
        make = lambda batch, **ranks: loader.StreamLoader(tokens, 8, batch, 7, **ranks)
    else:
        docs = [rng.integers(0, 50, n) for n in (3, 30, 5, 2, 12, 9)]
        masks = [rng.integers(0, 2, len(doc)) for doc in docs]
        make = lambda batch, **ranks: loader.DocumentLoader(docs, 8, batch, 7, "docs", masks,
                                                            **ranks)
    whole, parts = make(6), [make(2, ranks=3, rank=rank) for rank in range(3)]
    for _ in range(4):
        batch = whole.next_batch()
        counted = batch.idx.size if batch.mask is None else int(np.count_nonzero(batch.mask))
        assert batch.mean_count == counted
        for rank, part in enumerate(parts):
            piece = part.next_batch()
            rows = slice(2 * rank, 2 * rank + 2)
            np.testing.assert_array_equal(piece.idx, batch.idx[rows])
            np.testing.assert_array_equal(piece.targets, batch.targets[rows])
            if batch.mask is not None:
                np.testing.assert_array_equal(piece.mask, batch.mask[rows])
                np.testing.assert_array_equal(piece.padding_mask, batch.padding_mask[rows])
            assert piece.mean_count == batch.mean_count
    with pytest.raises(ValueError, match="rank=3"):
        make(2, ranks=3, rank=3)


def test_a_resumed_run_keeps_its_global_batch():
    config = TrainConfig(batch_size=6)
    assert per_rank_batch(config, 1, 1) is config
    assert per_rank_batch(config, 1, 3).batch_size == 2
    assert per_rank_batch(TrainConfig(batch_size=2), 3, 1).batch_size == 6
    with pytest.raises(ValueError, match=r"global batch of 6 sequences \(1 ranks x 6\) cannot be "
                                         r"split evenly over 4 ranks; resume it on 1, 2, 3, 6"):
        per_rank_batch(config, 1, 4)


def test_several_processes_without_the_extra_say_how_to_install_it(capsys, tmp_path, corpus,
                                                                   monkeypatch):
    """Started by an mpiexec (PMI_SIZE) without mpi4py: a clear error, not N lone runs."""
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)   # import mpi4py fails
    code = cli.main(["--log-file", str(tmp_path / "llm.log"), "train", "--data", str(corpus),
                     "--char", "--out", str(tmp_path / "run"), *TINY])
    err = capsys.readouterr().err
    assert code == 1
    assert "mpiexec started 2 processes, but mpi4py is not installed" in err
    assert 'pip install -e ".[mpi]"' in err
    assert not (tmp_path / "run" / "checkpoint").exists()


# ---------------------------------------------------------------- 2 ranks through mpiexec


@pytest.mark.parametrize("ranks, zero", [(2, 0), (2, 1), (3, 1)])
def test_ranks_train_as_one_process_with_their_global_batch(capsys, tmp_path, corpus, ranks,
                                                           zero):
    """N ranks with batch 4 against one process with batch 4 N; block size 17 makes 4,000
    parameters, which 3 ranks shard unevenly."""
    needs_mpi()
    model = [*TINY, "--block-size", 17]
    train_one_process(capsys, tmp_path, "--data", corpus, "--char", "--out", tmp_path / "one",
                      *model, "--batch-size", 4 * ranks)
    ran = mpiexec(tmp_path, ranks, "train", "--data", corpus, "--char", "--out",
                  tmp_path / "ranks", *model, "--batch-size", 4, "--zero", zero)
    assert ran.returncode == 0, ran.stderr_text
    assert ran.stdout_text.count("step 50: train loss") == 1     # rank 0 alone prints
    assert_same_losses(tmp_path / "ranks", tmp_path / "one")
    log_text = (tmp_path / "llm.log").read_text()
    assert f"global batch: {4 * ranks} sequences (4 per rank x {ranks} ranks x 1 accumulated)" \
        in log_text


def test_two_ranks_weigh_the_targets_of_padded_documents(capsys, tmp_path, documents):
    """Document mode with left padding and gradient accumulation: the ranks' parts count
    different numbers of targets; the loss is still the global batch's mean per target."""
    needs_mpi()
    options = ["--data", documents, "--char", "--documents", *TINY, "--grad-accum", 2]
    train_one_process(capsys, tmp_path, *options, "--out", tmp_path / "one", "--batch-size", 6)
    ran = mpiexec(tmp_path, 2, "train", *options, "--out", tmp_path / "two", "--batch-size", 3,
                  "--zero", 1)
    assert ran.returncode == 0, ran.stderr_text
    assert_same_losses(tmp_path / "two", tmp_path / "one")


def test_a_checkpoint_resumes_on_another_number_of_ranks(capsys, tmp_path, corpus):
    """2 ranks (ZeRO-1, moments gathered on save) for 20 updates, then 1 process to 35, then 2
    ranks to 50: the same as 50 updates of one process straight through."""
    needs_mpi()
    run = tmp_path / "resumed"
    schedule = ["--lr-decay-iters", 50]
    train_one_process(capsys, tmp_path, "--data", corpus, "--char", "--out", tmp_path / "one",
                      *TINY, "--batch-size", 8, *schedule)
    ran = mpiexec(tmp_path, 2, "train", "--data", corpus, "--char", "--out", run, *TINY,
                  "--batch-size", 4, "--zero", 1, "--max-iters", 20, *schedule)
    assert ran.returncode == 0, ran.stderr_text
    assert checkpoint.read_state(run / "checkpoint")["ranks"] == 2
    train_one_process(capsys, tmp_path, "--out", run, "--resume", "--max-iters", 35)
    ran = mpiexec(tmp_path, 2, "train", "--out", run, "--resume", "--max-iters", 50)
    assert ran.returncode == 0, ran.stderr_text
    assert_same_losses(run, tmp_path / "one")


def test_a_rank_count_that_does_not_divide_the_global_batch_is_refused(capsys, tmp_path,
                                                                      corpus):
    needs_mpi()
    run = tmp_path / "run"
    train_one_process(capsys, tmp_path, "--data", corpus, "--char", "--out", run, *TINY,
                      "--batch-size", 3, "--max-iters", 2, "--warmup-iters", 1)
    started = time.monotonic()
    ran = mpiexec(tmp_path, 2, "train", "--out", run, "--resume", "--max-iters", 4)
    assert ran.returncode != 0
    assert "global batch of 3 sequences (1 ranks x 3) cannot be split evenly over 2 ranks" \
        in ran.stderr_text
    assert time.monotonic() - started < 30
    assert checkpoint.read_state(run / "checkpoint")["step"] == 2   # untouched


@pytest.mark.parametrize("fault", ["raise", "kill"])
def test_a_failing_rank_stops_every_rank(tmp_path, corpus, fault):
    """Rank 1 fails after update 7; every rank stops within seconds, the failure names the
    rank (a killed one: by the pid the log lists for it), the checkpoint of step 6 stays."""
    needs_mpi()
    run = tmp_path / "run"
    started = time.monotonic()
    ran = mpiexec(tmp_path, 2, "train", "--data", corpus, "--char", "--out", run, *TINY,
                  "--batch-size", 4, "--max-iters", 1000, "--checkpoint-interval", 3,
                  fault=(fault, 1, 7))
    assert time.monotonic() - started < 60
    assert ran.returncode != 0
    if fault == "raise":
        assert "llm: rank 1 of 2: RuntimeError: injected fault; stopping every rank" \
            in ran.stderr_text
    else:
        pid = re.search(r"rank 1: pid (\d+)", (tmp_path / "llm.log").read_text()).group(1)
        launcher_says = ran.stdout_text + ran.stderr_text   # MPICH: "PID <pid> ... signal 9"
        assert re.search(rf"\b{pid}\b", launcher_says) and "signal 9" in launcher_says
    assert checkpoint.read_state(checkpoint.resolve(run / "checkpoint"))["step"] == 6


def test_parameters_that_drift_apart_stop_training(tmp_path, corpus):
    needs_mpi()
    ran = mpiexec(tmp_path, 2, "train", "--data", corpus, "--char", "--out", tmp_path / "run",
                  *TINY, "--batch-size", 4, fault=("perturb", 1, 3))
    assert ran.returncode != 0
    assert "the parameters after step 5 differ between the ranks (CRC-32: rank 0" \
        in ran.stderr_text


def test_ctrl_c_on_mpiexec_saves_one_checkpoint_and_exits(tmp_path, corpus):
    needs_mpi()
    run = tmp_path / "run"
    process = mpiexec(tmp_path, 2, "train", "--data", corpus, "--char", "--out", run, *TINY,
                      "--batch-size", 4, "--max-iters", 100000, "--eval-interval", 100000,
                      wait=False)
    deadline = time.monotonic() + RUN_TIMEOUT
    while not (run / "metrics.jsonl").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)    # mpiexec forwards it to every rank
    finish(process, timeout=30)
    assert process.returncode == 130, process.stderr_text
    assert "interrupted: checkpoint of step" in process.stderr_text
    state = checkpoint.read_state(run / "checkpoint")
    assert 5 <= state["step"] < 100000 and state["ranks"] == 2
