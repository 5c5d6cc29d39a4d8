"""The foundation: build facts, thread control, the CLI's dispatch and error handling."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import llm
from llm import cli
from llm._ext import runtime


def test_build_info_reports_the_build():
    info = llm.build_info()
    assert info["version"] == llm.__version__
    assert info["simd"] in ("scalar", "avx2", "avx512")
    assert "-O3" in info["build_flags"] and "-fopenmp" in info["build_flags"]
    assert info["omp_threads"] >= 1


def test_set_num_threads_fixes_the_count_and_none_restores_the_automatic_one():
    assert llm.build_info()["threads"] == "automatic"   # the default in a process like this one
    try:
        llm.set_num_threads(1)
        assert llm.build_info()["omp_threads"] == 1 and llm.build_info()["threads"] == "fixed"
        runtime.adapt_threads()                         # a fixed count is left alone
        assert llm.build_info()["omp_threads"] == 1
    finally:
        llm.set_num_threads(None)
    assert llm.build_info()["threads"] == "automatic"
    with pytest.raises(ValueError, match="at least 1"):
        llm.set_num_threads(0)


@pytest.mark.parametrize("variable", ["LLM_NUM_THREADS", "OMP_NUM_THREADS"])
def test_a_thread_count_in_the_environment_is_fixed_and_reaches_openmp(variable):
    code = "import llm; info = llm.build_info(); print(info['omp_threads'], info['threads'])"
    env = {name: value for name, value in os.environ.items()   # keeps LD_PRELOAD (ASan runs)
           if name not in ("LLM_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env={**env, variable: "1"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "fixed"]


@pytest.mark.parametrize("cores, max_threads, threads", [
    (2.0, 2, 2), (1.8, 2, 2), (1.7, 2, 1), (1.33, 2, 1), (1.0, 2, 1), (0.3, 2, 1), (0.0, 2, 1),
    (7.9, 8, 8), (6.5, 8, 6), (9.0, 4, 4), (2.0, 1, 1)])
def test_the_automatic_count_keeps_a_thread_only_for_three_quarters_of_a_free_core(
        cores, max_threads, threads):
    assert runtime.threads_for_cores(cores, max_threads) == threads


@pytest.mark.skipif(len(os.sched_getaffinity(0)) != 2 or not Path("/proc/stat").exists(),
                    reason="the scenario is two cores and two busy processes")
def test_the_automatic_count_drops_to_one_thread_beside_two_busy_processes():
    """Two spinning processes on two cores leave this process at most 2/3 of a core: after a
    few measuring windows of matrix products its kernels run on one thread (three threads
    would each wait for a core at every barrier)."""
    code = """if True:
        import time
        import numpy as np
        from llm._ext import matmul, runtime
        a, c = np.ones((256, 256), np.float32), np.empty((256, 256), np.float32)
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            matmul.gemm(c, a, a)
        print(runtime.max_threads(), runtime.free_cores())
    """
    env = {name: value for name, value in os.environ.items()
           if name not in ("LLM_NUM_THREADS", "OMP_NUM_THREADS")}
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, timeout=60)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    threads, free_cores = out.stdout.split()
    assert threads == "1" and float(free_cores) < 1.75


def test_cli_info_prints_build_facts(capsys, tmp_path):
    assert cli.main(["--log-file", str(tmp_path / "log"), "info"]) == 0
    assert "simd" in capsys.readouterr().out


def test_python_dash_m_llm_help_exits_cleanly():
    out = subprocess.run([sys.executable, "-m", "llm", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage: llm" in out.stdout


def test_cli_turns_errors_into_one_line(capsys, tmp_path, monkeypatch):
    def fail(args):
        raise ValueError("vocab_size=3 is too small")

    monkeypatch.setattr(cli, "cmd_info", fail)
    assert cli.main(["--log-file", str(tmp_path / "log"), "info"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "llm: error: vocab_size=3 is too small"


def test_cli_exits_quietly_when_the_reader_closes_the_pipe():
    proc = subprocess.Popen([sys.executable, "-m", "llm", "info"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before llm writes (as with `llm ... | head -0`)
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert b"Broken pipe" not in err and b"Exception" not in err
