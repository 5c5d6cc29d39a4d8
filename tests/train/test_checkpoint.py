"""llm/train/checkpoint.py: contents, atomic replacement, recovery after a crash mid-save."""
import json
from pathlib import Path

import numpy as np
import pytest

from llm.model import GPT, GPTConfig
from llm.train import checkpoint
from llm.train.char_tokenizer import char_tokenizer
from llm.train.optimizer import AdamW


def make_state(seed):
    model = GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, d_model=8, seed=seed))
    optimizer = AdamW(model.params.flat, model.grads.flat, model.decay_mask())
    model.grads.flat[:] = 0.01 * seed
    optimizer.step(1e-3)
    return model, optimizer, {"step": seed}


def test_save_and_load_round_trip(tmp_path):
    model, optimizer, state = make_state(3)
    tokenizer = char_tokenizer(["abcdefghijk"])
    checkpoint.save(tmp_path / "checkpoint", model, optimizer, state, tokenizer)
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == [
        "config.json", "model.safetensors", "optimizer.safetensors", "tokenizer.json",
        "trainer_state.json"]
    loaded = checkpoint.load(tmp_path / "checkpoint")
    np.testing.assert_array_equal(loaded.model.params.flat, model.params.flat)
    assert loaded.state["step"] == 3 and loaded.tokenizer.encode("cab") == [2, 0, 1]
    restored = AdamW(loaded.model.params.flat, loaded.model.grads.flat, model.decay_mask())
    loaded.restore_optimizer(restored)
    np.testing.assert_array_equal(restored.v, optimizer.v)
    assert restored.step_count == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]   # no temporary left


def test_a_crash_while_writing_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint"
    checkpoint.save(target, *make_state(1))
    model, optimizer, state = make_state(2)

    def crash(path):
        path.write_bytes(b"half an optimizer")
        raise OSError("disk full")

    monkeypatch.setattr(optimizer, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(target, model, optimizer, state)
    assert checkpoint.load(target).state["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_a_crash_between_the_renames_falls_back_to_the_old_copy(tmp_path):
    target = tmp_path / "checkpoint"
    checkpoint.save(target, *make_state(1))
    target.rename(tmp_path / "checkpoint.old")               # as if killed after the first rename
    (tmp_path / "checkpoint.x1.tmp").mkdir()                 # and a stale temporary directory
    assert checkpoint.load(target).state["step"] == 1
    checkpoint.save(target, *make_state(2))                  # the next save completes the swap
    assert checkpoint.load(target).state["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_missing_and_foreign_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint.load(tmp_path / "checkpoint")
    checkpoint.save(tmp_path / "checkpoint", *make_state(1))
    state_file = tmp_path / "checkpoint" / checkpoint.STATE_FILE
    state_file.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not an llm-from-scratch trainer state"):
        checkpoint.load(tmp_path / "checkpoint")
    state_file.write_text('{"format": "llm-from-scratch/trainer-state", "vers')
    with pytest.raises(ValueError, match="damaged"):
        checkpoint.load(tmp_path / "checkpoint")


def test_a_checkpoint_written_by_version_0_1_still_loads():
    """tests/train/fixtures/checkpoint-v0.1: a tiny run's checkpoint written before the
    restructure (commit f203b0b), with the logits that version gave for "the cat sees"."""
    fixture = Path(__file__).parent / "fixtures" / "checkpoint-v0.1"
    loaded = checkpoint.load(fixture)
    ids = loaded.tokenizer.encode("the cat sees")
    assert ids == [17, 8, 6, 1, 4, 3, 17, 1, 16, 6, 6, 16]
    np.testing.assert_allclose(loaded.model.forward(np.array([ids], np.int32)),
                               np.load(fixture / "logits.npy"), rtol=1e-6, atol=1e-6)
    optimizer = AdamW(loaded.model.params.flat, loaded.model.grads.flat,
                      loaded.model.decay_mask())
    loaded.restore_optimizer(optimizer)
    assert optimizer.step_count == loaded.state["step"] == 4
    assert loaded.state["ranks"] == 1   # written before data-parallel training
