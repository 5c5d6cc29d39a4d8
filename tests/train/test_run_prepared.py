"""llm/train/run.py on a directory from `llm data prepare`: the same run as on the text files,
resumable, and refusals of options that cannot apply."""
import numpy as np
import pytest

from llm import cli
from llm.data.prepare import prepare
from llm.tokenizer import Tokenizer
from llm.train import metrics, run
from llm.train.char_tokenizer import char_tokenizer

from .conftest import TINY_MODEL, structured_text


@pytest.fixture
def prepared(tmp_path, corpus):
    tokenizer = char_tokenizer([corpus.read_text()])
    tokenizer.save(tmp_path / "tokenizer.json")
    prepare(tmp_path / "tokenizer.json", [corpus], tmp_path / "prepared", progress=False)
    return tmp_path / "prepared"


def test_a_prepared_directory_trains_as_its_text_files(tmp_path, corpus, prepared, tiny_config):
    config = tiny_config(max_iters=6, eval_interval=3)
    from_text = run.start([corpus], tmp_path / "a", TINY_MODEL, config,
                          tmp_path / "tokenizer.json")
    from_prepared = run.start([prepared], tmp_path / "b", TINY_MODEL, config, None)
    assert isinstance(from_prepared.train_loader.tokens, np.memmap)
    for _ in range(3):
        a, b = from_text.train_loader.next_batch(), from_prepared.train_loader.next_batch()
        np.testing.assert_array_equal(a.idx, b.idx)
        assert b.idx.dtype == np.int32 and b.targets.dtype == np.int32
    from_text.train_loader.reset()
    from_prepared.train_loader.reset()
    result_text, result_prepared = from_text.run(), from_prepared.run()
    assert result_prepared.val_loss == pytest.approx(result_text.val_loss, rel=1e-6)
    assert from_prepared.run_info["data"] == [str(prepared.resolve())]

    resumed = run.resume(tmp_path / "b", {"max_iters": 8}, data=[prepared])
    assert resumed.step == 6 and resumed.run().step == 8


def test_options_that_cannot_apply_to_a_prepared_directory_are_refused(tmp_path, corpus,
                                                                      prepared, tiny_config):
    other = char_tokenizer([structured_text() + "XYZ"])
    with pytest.raises(ValueError, match="its own tokenizer.json; leave out"):
        run.start([prepared], tmp_path / "r", TINY_MODEL, tiny_config(), other)
    with pytest.raises(ValueError, match="its own tokenizer.json"):
        run.start([prepared], tmp_path / "r", TINY_MODEL, tiny_config(), "char")
    with pytest.raises(ValueError, match="document mode"):
        run.start([prepared], tmp_path / "r", TINY_MODEL, tiny_config(), None, documents=True)
    with pytest.raises(ValueError, match="val_fraction=0.1; pass --val-fraction 0.1"):
        run.start([prepared], tmp_path / "r", TINY_MODEL, tiny_config(val_fraction=0.2), None)


def test_llm_train_takes_a_prepared_directory_without_a_tokenizer_option(capsys, tmp_path,
                                                                         prepared):
    code = cli.main(["--log-file", str(tmp_path / "llm.log"), "--log-level", "WARNING", "train",
                     "--data", str(prepared), "--out", str(tmp_path / "run"), "--n-layer", "1",
                     "--n-head", "2", "--d-model", "16", "--block-size", "16", "--batch-size",
                     "4", "--max-iters", "4", "--warmup-iters", "1", "--eval-interval", "2",
                     "--eval-batches", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "step 4: train loss" in out
    assert metrics.read(tmp_path / "run" / "metrics.jsonl")[-1]["step"] == 4


def test_the_prepared_tokenizer_itself_is_accepted(tmp_path, corpus, tiny_config):
    tokenizer = Tokenizer.train(corpus.read_text(), 300)   # merges: compared as a whole
    tokenizer.save(tmp_path / "bpe.json")
    prepare(tmp_path / "bpe.json", [corpus], tmp_path / "bpe", progress=False)
    trainer = run.start([tmp_path / "bpe"], tmp_path / "r", TINY_MODEL, tiny_config(),
                        tmp_path / "bpe.json")
    assert trainer.tokenizer.vocab == tokenizer.vocab
