"""llm/train/schedule.py: linear warm-up and cosine decay, nanoGPT's formula."""
import math

import pytest

from llm.train.schedule import CosineSchedule
from llm.train.trainer import TrainConfig


def nanogpt_get_lr(it, learning_rate, min_lr, warmup_iters, lr_decay_iters):
    """nanoGPT train.py's get_lr, verbatim in logic."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def test_matches_nanogpt_at_every_step():
    schedule = CosineSchedule(1e-3, 1e-4, 100, 2000)
    for step in range(2100):
        assert schedule(step) == pytest.approx(nanogpt_get_lr(step, 1e-3, 1e-4, 100, 2000),
                                               rel=1e-12, abs=1e-18)


def test_landmarks():
    schedule = CosineSchedule(1.0, 0.1, 10, 110)
    assert schedule(0) == pytest.approx(1 / 11)
    assert schedule(9) == pytest.approx(10 / 11)
    assert schedule(10) == pytest.approx(1.0)                 # peak after warm-up
    assert schedule(60) == pytest.approx(0.55)                # half-way: mean of max and min
    assert schedule(110) == pytest.approx(0.1)
    assert schedule(10_000) == 0.1
    rates = [schedule(step) for step in range(10, 111)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))      # decays monotonically


def test_no_warmup_and_warmup_equal_to_decay():
    assert CosineSchedule(1.0, 0.0, 0, 10)(0) == 1.0
    schedule = CosineSchedule(1.0, 0.5, 5, 5)
    assert schedule(4) == pytest.approx(5 / 6) and schedule(5) == 0.5


@pytest.mark.parametrize("args, message", [
    ((0.0, 0.0, 1, 10), "must be a finite number > 0"),
    ((1e-3, 2e-3, 1, 10), "min_lr"),
    ((1e-3, 1e-4, -1, 10), "warmup_iters"),
    ((1e-3, 1e-4, 20, 10), "decay must end after the warm-up"),
    ((float("nan"), 0.0, 1, 10), "finite"),
])
def test_bad_settings(args, message):
    with pytest.raises(ValueError, match=message):
        CosineSchedule(*args)


@pytest.mark.parametrize("changes, warmup", [
    ({}, 100), ({"max_iters": 50}, 5), ({"max_iters": 5}, 0),
    ({"max_iters": 50, "lr_decay_iters": 2000}, 100), ({"max_iters": 50, "warmup_iters": 7}, 7)])
def test_the_default_warm_up_fits_a_short_run(changes, warmup):
    """`llm train --max-iters 50` used to fail: a 100-update warm-up is longer than the run."""
    config = TrainConfig(**changes)
    assert config.warmup == warmup and config.schedule().warmup_iters == warmup


def test_an_explicit_warm_up_longer_than_the_run_is_still_refused():
    with pytest.raises(ValueError, match="warmup_iters=100 is longer than the whole decay"):
        TrainConfig(max_iters=50, warmup_iters=100)
