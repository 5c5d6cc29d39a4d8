"""llm/cli/bench.py: `llm bench lookup` prints the comparison table; its workload has
deterministic BPE-like vocabularies, keys where they should be, and calls that give the right
ids."""
import pytest

from llm import cli
from llm.cli import bench


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



def test_vocabulary_is_deterministic_distinct_sorted_and_bpe_like():
    vocabulary = bench.bpe_like_vocabulary(3000, seed=1)
    assert vocabulary == bench.bpe_like_vocabulary(3000, seed=1)
    assert vocabulary != bench.bpe_like_vocabulary(3000, seed=2)
    assert len(set(vocabulary)) == 3000 and vocabulary == sorted(vocabulary)
    assert {bytes([b]) for b in range(256)} <= set(vocabulary)
    assert 4 < sum(map(len, vocabulary)) / len(vocabulary) < 9
    assert any(token.startswith(b" ") for token in vocabulary)


@pytest.fixture(scope="module")
def work():
    return bench.make_workload(500, seed=0)


def test_keys_sit_where_their_position_says(work):
    rank = {token: i for i, token in enumerate(work.vocabulary)}
    window = bench.WINDOW
    assert all(rank[key] < window for key in work.keys["start"])
    assert all(250 - window <= rank[key] < 250 + window for key in work.keys["middle"])
    assert all(rank[key] >= 500 - window for key in work.keys["end"])
    assert not any(key in rank for key in work.keys["miss"])
    assert all(len(keys) == bench.KEYS_PER_CALL for keys in work.keys.values())


@pytest.mark.parametrize("method", bench.METHODS)
@pytest.mark.parametrize("mode", bench.MODES)
def test_every_timed_call_gives_the_right_ids(work, method, mode):
    for position in bench.POSITIONS:
        ids = bench.lookup_call(work, method, mode, position)()
        assert list(ids) == work.expected[position], (method, mode, position)


def test_the_table_keeps_its_columns_for_figures_past_100000_ns():
    results = {(64000, method, mode, position): 123456.7 if method == "brute" else 7.5
               for method in bench.METHODS for mode in bench.MODES for position in bench.POSITIONS}
    lines = bench.format_table(results).splitlines()
    rows = lines[1:1 + len(bench.METHODS)]
    assert len({len(row) for row in rows}) == 1                 # every row as wide as the header
    for row in rows[1:]:
        figures = row[14:].split()
        assert len(figures) == 2 * len(bench.POSITIONS)         # no two figures run together
