"""llm/train/trainer.py (through llm/train/run.py): the loss falls, runs are reproducible, a
resumed run equals an uninterrupted one, NaN stops with the last good checkpoint kept,
Ctrl-C saves a checkpoint, the run directory's files."""
import io
import json
import logging
import math
import signal
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from tqdm import tqdm

from llm.train import TrainConfig, TrainingDiverged, checkpoint, metrics, resume, start
from llm.train import trainer as trainer_module
from llm.train.trainer import CHECKPOINT_DIR

from .conftest import TINY_MODEL, structured_text


def losses(run_dir):
    """The metrics without the timing (which differs between runs)."""
    return [{k: v for k, v in record.items() if k != "tokens_per_second"}
            for record in metrics.read(run_dir / "metrics.jsonl")]


def interrupt_at(monkeypatch, trainer, step):
    """Make Ctrl-C arrive during update `step + 1` (as a user pressing it would)."""
    original = trainer.train_step

    def train_step(lr):
        if trainer.step == step:
            signal.raise_signal(signal.SIGINT)
        return original(lr)

    monkeypatch.setattr(trainer, "train_step", train_step)


def test_tiny_training_lowers_the_loss_and_writes_the_run(tmp_path, corpus, tiny_config):
    trainer = start([corpus], tmp_path / "run", TINY_MODEL, tiny_config(max_iters=60))
    initial = trainer.evaluate()
    assert initial == pytest.approx(math.log(trainer.model.config.vocab_size), rel=0.1)
    result = trainer.run()
    assert result.step == 60 and result.val_loss < 0.6 * initial
    records = metrics.read(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(5, 61, 5))
    assert [r["step"] for r in records if "val_loss" in r] == [10, 20, 30, 40, 50, 60]
    assert all(r["tokens_per_second"] > 0 and r["lr"] > 0 for r in records)
    assert records[-1]["val_loss"] == result.val_loss
    assert records[-1]["train_loss"] < records[0]["train_loss"] - 0.5
    run_dir = tmp_path / "run"
    assert {p.name for p in run_dir.iterdir()} == {"checkpoint", "model", "metrics.jsonl",
                                                  "loss.svg"}
    svg = ElementTree.parse(run_dir / "loss.svg").getroot()
    assert len(svg.findall("{http://www.w3.org/2000/svg}polyline")) == 2
    state = json.loads((run_dir / CHECKPOINT_DIR / checkpoint.STATE_FILE).read_text())
    assert state["step"] == 60 and state["best_val_loss"] == min(
        r["val_loss"] for r in records if "val_loss" in r)


def test_same_seed_same_losses_bit_for_bit(tmp_path, corpus, tiny_config):
    runs = []
    for name in ("a", "b"):
        trainer = start([corpus], tmp_path / name, TINY_MODEL, tiny_config(max_iters=15))
        trainer.run()
        runs.append((losses(tmp_path / name), trainer.model.params.flat.copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    other = start([corpus], tmp_path / "c", TINY_MODEL, tiny_config(max_iters=15, seed=5))
    other.run()
    assert losses(tmp_path / "c") != runs[0][0]


def test_resume_after_ctrl_c_equals_the_uninterrupted_run(tmp_path, corpus, tiny_config,
                                                         monkeypatch):
    config = tiny_config(max_iters=30, grad_accum=2)
    straight = start([corpus], tmp_path / "straight", TINY_MODEL, config)
    straight.run()

    interrupted = start([corpus], tmp_path / "interrupted", TINY_MODEL, config)
    interrupt_at(monkeypatch, interrupted, 12)   # between log steps: partial sums are saved
    with pytest.raises(KeyboardInterrupt):
        interrupted.run()
    assert checkpoint.load(tmp_path / "interrupted" / CHECKPOINT_DIR).state["step"] == 13
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handler restored

    resumed = resume(tmp_path / "interrupted")
    assert resumed.step == 13
    resumed.run()
    assert losses(tmp_path / "interrupted") == losses(tmp_path / "straight")
    np.testing.assert_array_equal(resumed.model.params.flat, straight.model.params.flat)
    np.testing.assert_array_equal(resumed.optimizer.adamw.v, straight.optimizer.adamw.v)


def test_resume_after_a_crash_drops_the_lines_past_the_checkpoint(tmp_path, corpus,
                                                                  tiny_config):
    straight = start([corpus], tmp_path / "straight", TINY_MODEL, tiny_config(max_iters=30))
    straight.run()
    crashed = start([corpus], tmp_path / "crashed", TINY_MODEL,
                    tiny_config(max_iters=30, checkpoint_interval=20))
    write_metrics = crashed.write_metrics

    def killed_after_step_25(*args):
        record = write_metrics(*args)
        if crashed.step == 25:
            raise SystemExit("killed")   # metrics went past the step-20 checkpoint
        return record

    crashed.write_metrics = killed_after_step_25
    with pytest.raises(SystemExit):
        crashed.run()
    assert metrics.read(tmp_path / "crashed" / "metrics.jsonl")[-1]["step"] == 25
    resumed = resume(tmp_path / "crashed")
    assert resumed.step == 20
    resumed.run()
    assert losses(tmp_path / "crashed") == losses(tmp_path / "straight")


def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path, corpus, tiny_config,
                                                      monkeypatch):
    trainer = start([corpus], tmp_path / "run", TINY_MODEL,
                    tiny_config(max_iters=30, checkpoint_interval=5))
    original = trainer.train_step

    def corrupt_at_step_12(lr):
        if trainer.step == 12:
            trainer.model.params["h.0.mlp.c_fc.weight"][0, 0] = np.inf
        return original(lr)

    monkeypatch.setattr(trainer, "train_step", corrupt_at_step_12)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 13 .*training loss is nan.*"
                                               r"last good checkpoint \(step 10\)"):
        trainer.run()
    saved = checkpoint.load(tmp_path / "run" / CHECKPOINT_DIR)
    assert saved.state["step"] == 10 and np.isfinite(saved.model.params.flat).all()
    assert not (tmp_path / "run" / "model").exists()


def test_a_runaway_learning_rate_stops_before_a_checkpoint_of_exploded_weights(
        tmp_path, corpus, tiny_config):
    """lr 1e4 without clipping: the weights pass 1e3 after one update and 1e15 a few later while
    the loss stays finite; training stops before checkpointing them, the good checkpoint stays,
    and resuming from it with a sane learning rate trains on."""
    start([corpus], tmp_path / "run", TINY_MODEL, tiny_config(max_iters=10)).run()
    runaway = resume(tmp_path / "run", {"max_iters": 40, "lr": 1e4, "grad_clip": 0.0,
                                        "warmup_iters": 0, "checkpoint_interval": 1})
    with pytest.raises(TrainingDiverged, match=r"diverged at step 11 .*a weight reached .*"
                                               r"checkpoint \(step 10\)"):
        runaway.run()
    saved = checkpoint.load(tmp_path / "run" / CHECKPOINT_DIR)
    assert saved.state["step"] == 10
    assert np.abs(saved.model.params.flat).max() <= trainer_module.MAX_GOOD_WEIGHT
    result = resume(tmp_path / "run", {"max_iters": 40, "lr": 1e-2}).run()
    assert result.step == 40 and result.val_loss < math.log(saved.model.config.vocab_size)


def test_a_loss_far_above_a_uniform_guess_is_divergence(tmp_path, corpus, tiny_config):
    trainer = start([corpus], tmp_path / "run", TINY_MODEL,
                    tiny_config(lr=1e4, grad_clip=0.0, warmup_iters=0))
    with pytest.raises(TrainingDiverged, match=r"diverged at step 2 .*the training loss is "
                                               r"\S+, more than \S+ \(3x that of a uniform guess"):
        trainer.run()


def test_weights_past_the_bound_are_not_checkpointed(tmp_path, corpus, tiny_config, monkeypatch):
    trainer = start([corpus], tmp_path / "run", TINY_MODEL,
                    tiny_config(max_iters=30, checkpoint_interval=5))
    original = trainer.train_step

    def inflate_at_step_8(lr):
        if trainer.step == 8:
            trainer.model.params["h.0.attn.c_proj.weight"][0, 0] = 2 * trainer_module.MAX_GOOD_WEIGHT
        return original(lr)

    monkeypatch.setattr(trainer, "train_step", inflate_at_step_8)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 10 .*a weight reached 1\.9\de\+03.*"
                                               r"last good checkpoint \(step 5\)"):
        trainer.run()
    assert checkpoint.load(tmp_path / "run" / CHECKPOINT_DIR).state["step"] == 5


def test_gradient_accumulation_averages_micro_batches(tmp_path, corpus, tiny_config):
    """One update over 2 micro-batches of 4 equals one over the same 8 sequences at once."""
    accumulated = start([corpus], tmp_path / "a", TINY_MODEL,
                        tiny_config(batch_size=4, grad_accum=2, grad_clip=0.0))
    whole = start([corpus], tmp_path / "b", TINY_MODEL, tiny_config(batch_size=8, grad_clip=0.0))
    first, second = (accumulated.train_loader.next_batch() for _ in range(2))
    accumulated.train_loader.reset()
    whole.train_loader.next_batch = lambda: type(first)(np.concatenate([first.idx, second.idx]),
                                                        np.concatenate([first.targets,
                                                                        second.targets]))
    loss_accumulated = accumulated.train_step(1e-3)
    loss_whole = whole.train_step(1e-3)
    assert loss_accumulated == pytest.approx(loss_whole, rel=1e-6)
    np.testing.assert_allclose(accumulated.model.grads.flat, whole.model.grads.flat,
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(accumulated.model.params.flat, whole.model.params.flat,
                               rtol=1e-5, atol=1e-6)


def test_document_mode_trains_on_padded_batches(tmp_path, tiny_config):
    """Each line its own document, most shorter than the context: left-padded rows."""
    files = []
    for number, line in enumerate(structured_text(60).splitlines(keepends=True)):
        files.append(tmp_path / f"doc{number:02d}.txt")
        files[-1].write_text(line)
    trainer = start(files, tmp_path / "run", {**TINY_MODEL, "block_size": 32},
                    tiny_config(max_iters=40), documents=True)
    assert len(trainer.val_loader.documents) == 6
    batch = trainer.train_loader.next_batch()
    assert (batch.padding_mask == 0).any() and (batch.mask == batch.padding_mask).all()
    initial = trainer.evaluate()
    trainer.run()
    assert trainer.evaluate() < 0.7 * initial


def test_train_config_round_trips_through_a_dict():
    config = TrainConfig(seed=7, max_iters=30, warmup_iters=3)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_train_config_from_dict_names_an_unknown_key():
    values = TrainConfig().to_dict() | {"learning_rate": 1e-3}
    with pytest.raises(ValueError, match=r"unknown TrainConfig key\(s\) \['learning_rate'\]"):
        TrainConfig.from_dict(values)


def test_console_logging_through_the_bar_keeps_the_console_level(capsys):
    """While the progress bar shows, console lines go above it and keep their level: DEBUG
    lines stay in the log file (tqdm's own redirect dropped the level)."""
    logger = logging.getLogger("llm")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    saved = logger.handlers, logger.level
    logger.handlers, logger.level = [console], logging.DEBUG
    try:
        with tqdm(total=2, file=io.StringIO(), disable=False) as bar, \
                trainer_module.console_logging_through(bar):
            logger.debug("step 1 in detail")
            logger.warning("a warning")
        assert logger.handlers == [console]
    finally:
        logger.handlers, logger.level = saved
    assert capsys.readouterr().err == "WARNING a warning\n"


def test_resuming_warns_of_a_different_run_only_for_changes_to_the_training(
        tmp_path, corpus, tiny_config, caplog):
    start([corpus], tmp_path / "run", TINY_MODEL, tiny_config(max_iters=10)).run()
    with caplog.at_level(logging.INFO, logger="llm.train.run"):
        resume(tmp_path / "run", {"checkpoint_interval": 3, "log_interval": 2})
        assert "the training itself is unchanged" in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        resume(tmp_path / "run", {"checkpoint_interval": 3, "lr": 1e-3})
        assert [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and "will differ" in r.getMessage()]


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.pop("step"), "the trainer state lacks 'step'"),
    (lambda s: s.update(step="ten"), "step is 'ten', not a valid value"),
    (lambda s: s.update(step=-1), "step is -1"),
    (lambda s: s.update(loss_count=True), "loss_count is True"),
    (lambda s: s.update(best_val_loss="low"), "best_val_loss is 'low'"),
    (lambda s: s.update(train_loader={"bit_generator": "PCG64"}), "train_loader is not the state"),
    (lambda s: s.update(train_loader=[1, 2]), "train_loader is \\[1, 2\\]"),
    (lambda s: s["train_config"].update(lr="high"), "train_config: TrainConfig.lr is 'high'"),
    (lambda s: s["train_config"].update(max_iters=0), "train_config: .*max_iters"),
    (lambda s: s["run"].pop("data"), "run does not name the run's data"),
    (lambda s: s["run"].update(checksum="abc"), "run does not name the run's data"),
])
def test_a_hand_edited_trainer_state_is_one_error_naming_the_file(tmp_path, corpus, tiny_config,
                                                                   edit, message):
    start([corpus], tmp_path / "run", TINY_MODEL, tiny_config(max_iters=5)).run()
    state_path = tmp_path / "run" / CHECKPOINT_DIR / checkpoint.STATE_FILE
    state = json.loads(state_path.read_text())
    edit(state)
    state_path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match=f"trainer_state.json: {message}"):
        resume(tmp_path / "run").run()
