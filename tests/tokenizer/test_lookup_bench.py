"""The lookup comparison's workload (llm/tokenizer/lookup_bench.py): deterministic BPE-like
vocabularies, keys where they should be, and calls that give the right ids."""
import pytest

from llm.tokenizer import lookup_bench


def test_vocabulary_is_deterministic_distinct_sorted_and_bpe_like():
    vocabulary = lookup_bench.bpe_like_vocabulary(3000, seed=1)
    assert vocabulary == lookup_bench.bpe_like_vocabulary(3000, seed=1)
    assert vocabulary != lookup_bench.bpe_like_vocabulary(3000, seed=2)
    assert len(set(vocabulary)) == 3000 and vocabulary == sorted(vocabulary)
    assert {bytes([b]) for b in range(256)} <= set(vocabulary)
    assert 4 < sum(map(len, vocabulary)) / len(vocabulary) < 9
    assert any(token.startswith(b" ") for token in vocabulary)


@pytest.fixture(scope="module")
def work():
    return lookup_bench.make_workload(500, seed=0)


def test_keys_sit_where_their_position_says(work):
    rank = {token: i for i, token in enumerate(work.vocabulary)}
    window = lookup_bench.WINDOW
    assert all(rank[key] < window for key in work.keys["start"])
    assert all(250 - window <= rank[key] < 250 + window for key in work.keys["middle"])
    assert all(rank[key] >= 500 - window for key in work.keys["end"])
    assert not any(key in rank for key in work.keys["miss"])
    assert all(len(keys) == lookup_bench.KEYS_PER_CALL for keys in work.keys.values())


@pytest.mark.parametrize("method", lookup_bench.METHODS)
@pytest.mark.parametrize("mode", lookup_bench.MODES)
def test_every_timed_call_gives_the_right_ids(work, method, mode):
    for position in lookup_bench.POSITIONS:
        ids = lookup_bench.lookup_call(work, method, mode, position)()
        assert list(ids) == work.expected[position], (method, mode, position)
