"""`llm bench lookup` (llm/bench.py) prints the comparison table."""
import pytest

from llm import cli


def test_bench_lookup_prints_every_method_and_the_ratio(capsys, tmp_path):
    assert cli.main(["--log-file", str(tmp_path / "log"), "bench", "lookup",
                     "--sizes", "64", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "ns per key" in out
    for method in ("dict", "bisect", "brute", "binary", "hash"):
        assert f" {method} " in out
    assert "hash get_many is" in out


@pytest.mark.parametrize("argv", [["--sizes", "10"], ["--sizes", "1k"]])
def test_bench_lookup_rejects_bad_sizes(argv, capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "lookup", *argv])
    assert "--sizes" in capsys.readouterr().err


def test_bench_lookup_rejects_zero_repeats(capsys, tmp_path):
    assert cli.main(["--log-file", str(tmp_path / "log"), "bench", "lookup",
                     "--repeat", "0"]) == 1
    assert "must be at least 1" in capsys.readouterr().err
