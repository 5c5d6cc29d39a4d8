"""llm/cli/demo.py and `llm demo`: the built-in corpus, BPE tokenizer, training, samples
(with a tiny model and few updates, so the test takes a second)."""
import pytest

from llm import cli
from llm.cli import demo
from llm.train.trainer import TrainConfig


@pytest.fixture
def tiny_demo(monkeypatch):
    monkeypatch.setattr(demo, "MODEL_CONFIG", {"n_layer": 1, "n_head": 2, "d_model": 16,
                                               "block_size": 32})
    monkeypatch.setattr(demo, "TRAIN_CONFIG", TrainConfig(batch_size=4, max_iters=20,
                                                          warmup_iters=2, eval_interval=10,
                                                          eval_batches=2))
    monkeypatch.setattr(demo, "SAMPLE_TOKENS", 12)


def test_pydoc_topics_are_written_one_file_each(tmp_path):
    from pydoc_data.topics import topics

    paths = demo.write_pydoc_topics(tmp_path / "topics")
    assert len(paths) == len(topics) and paths == sorted(paths)
    assert paths[0].read_text() == next(iter(topics.values()))


def test_llm_demo_end_to_end(capsys, tmp_path, tiny_demo):
    code = cli.main(["--log-file", str(tmp_path / "llm.log"), "--log-level", "WARNING", "demo",
                     "--out", str(tmp_path / "demo"), "--max-iters", "4", "--vocab-size", "300"])
    out = capsys.readouterr().out
    assert code == 0
    assert "pydoc_data.topics" in out and "step 4: train loss" in out
    assert "--- sample 1 ---" in out and "--- sample 2 ---" in out
    assert f"llm eval --model {tmp_path / 'demo' / 'model'}" in out
    assert (tmp_path / "demo" / "model" / "model.safetensors").is_file()
    # a second demo in the same directory replaces the first
    assert cli.main(["--log-file", str(tmp_path / "llm.log"), "demo", "--out",
                     str(tmp_path / "demo"), "--max-iters", "2", "--char", "--samples", "1",
                     "--data", str(tmp_path / "demo" / "pydoc-topics")]) == 0
    assert "step 2: train loss" in capsys.readouterr().out


def test_llm_demo_refuses_to_replace_a_training_run(capsys, tmp_path, tiny_demo, corpus):
    log = ["--log-file", str(tmp_path / "llm.log"), "--log-level", "WARNING"]
    run_dir = tmp_path / "mine"
    assert cli.main([*log, "train", "--data", str(corpus), "--char", "--out", str(run_dir),
                     "--n-layer", "1", "--n-head", "2", "--d-model", "16", "--block-size", "16",
                     "--batch-size", "4", "--max-iters", "2", "--warmup-iters", "1",
                     "--eval-interval", "2", "--eval-batches", "1"]) == 0
    state = (run_dir / "checkpoint" / "trainer_state.json").read_bytes()
    capsys.readouterr()
    assert cli.main([*log, "demo", "--out", str(run_dir), "--max-iters", "2"]) == 1
    assert "holds a run that is not a demo on this corpus" in capsys.readouterr().err
    assert (run_dir / "checkpoint" / "trainer_state.json").read_bytes() == state
    # nor by a demo on other data
    other = corpus.parent / "other.txt"
    other.write_text("Some other text to train on. " * 50)
    assert cli.main([*log, "demo", "--out", str(run_dir), "--max-iters", "2", "--char",
                     "--data", str(other)]) == 1
    assert "holds a run that is not a demo on this corpus" in capsys.readouterr().err
