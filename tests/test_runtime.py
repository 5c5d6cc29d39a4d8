"""The foundation: build facts, thread control, the CLI's dispatch and error handling."""
import subprocess
import sys

import pytest

import llm
from llm import cli


def test_build_info_reports_the_build():
    info = llm.build_info()
    assert info["version"] == llm.__version__
    assert info["simd"] in ("scalar", "avx2", "avx512")
    assert "-O3" in info["build_flags"] and "-fopenmp" in info["build_flags"]
    assert info["omp_threads"] >= 1


def test_set_num_threads_changes_and_rejects_zero():
    before = llm.build_info()["omp_threads"]
    try:
        llm.set_num_threads(1)
        assert llm.build_info()["omp_threads"] == 1
    finally:
        llm.set_num_threads(before)
    with pytest.raises(ValueError, match="at least 1"):
        llm.set_num_threads(0)


def test_llm_num_threads_environment_variable_reaches_openmp():
    code = "import llm; print(llm.build_info()['omp_threads'])"
    out = subprocess.run([sys.executable, "-c", code], env={"LLM_NUM_THREADS": "1", "PATH": ""},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


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
