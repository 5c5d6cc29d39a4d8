"""llm/serve/batching.py: requests decoded together give each one's tokens alone (greedy and
seeded), join and leave mid-flight, report the model's log-probabilities, free their slot when
cancelled, and are refused when the slots and queue are full or the batcher is closed."""
import queue
import threading
import time

import numpy as np
import pytest

from llm.model import GPT, GPTConfig, SamplingConfig
from llm.serve.batching import Batcher, Busy, Closed, Failed, Finished, Job, Token

V, BLOCK = 37, 48
GREEDY = SamplingConfig(temperature=0)
TIMEOUT = 20.0


@pytest.fixture(scope="module")
def model():
    """A random model with weights large enough that greedy continuations vary."""
    model = GPT(GPTConfig(vocab_size=V, block_size=BLOCK, n_layer=2, n_head=2, d_model=32,
                          seed=5))
    model.params.flat += np.random.default_rng(5).normal(0, 0.2, model.params.size
                                                         ).astype(np.float32)
    return model


@pytest.fixture
def batcher(model):
    batcher = Batcher(model, max_batch=4, max_waiting=2)
    yield batcher
    batcher.close()


class Collector:
    """A job's emit: events land in a thread-safe queue. With hold_after=n, the n-th token's
    emit holds the worker thread until release() (to act between two steps)."""

    def __init__(self, hold_after: int | None = None):
        self.events = queue.Queue()
        self.hold_after = hold_after
        self.released = threading.Event()

    def __call__(self, event):
        self.events.put(event)
        if self.hold_after is not None and self.events.qsize() == self.hold_after:
            self.released.wait(TIMEOUT)

    def release(self):
        self.released.set()

    def tokens(self, count: int | None = None) -> tuple[list[Token], object]:
        """The next count tokens (None: until the end) and the end event (None if count hit)."""
        tokens = []
        while count is None or len(tokens) < count:
            event = self.events.get(timeout=TIMEOUT)
            if not isinstance(event, Token):
                return tokens, event
            tokens.append(event)
        return tokens, None


def job(prompt, max_tokens, sampling=GREEDY, **options) -> Job:
    return Job(list(prompt), max_tokens, sampling, Collector(), **options)


def ids(events) -> list[int]:
    return [event.id for event in events]


def test_requests_submitted_together_each_generate_what_they_would_alone(model, batcher):
    prompts = [[1, 2, 3], [5] * 11, [7, 8], [9, 10, 11, 12, 13, 14]]
    jobs = [job(prompt, 12 + 3 * number, stop_tokens=frozenset({0}))
            for number, prompt in enumerate(prompts)]
    for each in jobs:
        batcher.submit(each)
    for each in jobs:
        tokens, end = each.emit.tokens()
        alone = model.generate(each.prompt, each.max_tokens, GREEDY, stop_tokens=[0])
        assert isinstance(end, Finished)
        assert ids(tokens) == [t for t in alone if t != 0]
        assert end.completion_tokens == len(alone)
        assert end.reason == ("stop" if alone[-1] == 0 else "length")


def test_rows_join_and_leave_mid_flight_with_their_own_seeds(model, batcher):
    seeded = SamplingConfig(temperature=0.9, top_k=20, top_p=0.9, seed=3)
    first = Job([4, 5, 6], 30, GREEDY, Collector(hold_after=6))
    second, third = job([2] * 9, 5, seeded), job([3, 1], 20, seeded)
    batcher.submit(first)
    head, _ = first.emit.tokens(6)      # the worker holds: first is decoding when others join
    batcher.submit(second)
    batcher.submit(third)
    first.emit.release()
    rest, end = first.emit.tokens()
    assert ids(head + rest) == model.generate(first.prompt, 30, GREEDY)
    assert end == Finished("length", 30)
    for each in (second, third):
        tokens, end = each.emit.tokens()
        assert ids(tokens) == model.generate(each.prompt, each.max_tokens, seeded)


def test_a_row_leaving_mid_flight_leaves_the_others_as_they_were(model, batcher):
    first, staying = job([1, 2], 30), job([4, 5, 6], 35)
    leaving = Job([3] * 7, 30, GREEDY, Collector(hold_after=2))
    for each in (first, leaving, staying):
        batcher.submit(each)
    leaving.emit.tokens(2)              # the worker holds in the middle of a batched step
    assert batcher.load[0] >= 2
    batcher.cancel(leaving)
    leaving.emit.release()
    for each in (first, staying):
        tokens, end = each.emit.tokens()
        assert ids(tokens) == model.generate(each.prompt, each.max_tokens, GREEDY)
        assert end == Finished("length", each.max_tokens)


def test_logprobs_are_the_log_softmax_of_the_model_logits(model, batcher):
    each = job([1, 2, 3, 4], 5, top_logprobs=3)
    batcher.submit(each)
    tokens, _ = each.emit.tokens()
    sequence = np.array([each.prompt + ids(tokens)])
    logits = model.forward(sequence)[0, 3:-1].astype(np.float64)
    expected = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                                                                                keepdims=True)) \
        - logits.max(1, keepdims=True)
    for token, row in zip(tokens, expected):
        assert token.logprob == pytest.approx(row[token.id], abs=1e-4)
        assert [i for i, _ in token.top] == list(np.argsort(-row, kind="stable")[:3])
        assert [lp for _, lp in token.top] == pytest.approx(np.sort(row)[::-1][:3], abs=1e-4)
    plain = job([1, 2, 3, 4], 2)
    batcher.submit(plain)
    assert all(t.logprob is None and t.top == () for t in plain.emit.tokens()[0])


def test_a_cancelled_job_frees_its_slot_and_a_full_batcher_refuses(model):
    batcher = Batcher(model, max_batch=1, max_waiting=1)
    try:
        running = Job([1], BLOCK - 1, GREEDY, Collector(hold_after=2))
        waiting = job([2], 5)
        batcher.submit(running)
        running.emit.tokens(2)                  # the worker holds: running keeps its slot
        batcher.submit(waiting)
        with pytest.raises(Busy, match="server is full"):
            batcher.submit(job([3], 5))
        batcher.cancel(waiting)                 # leaves the queue at once
        assert batcher.load == (1, 0)
        batcher.cancel(running)                 # leaves before the next step
        running.emit.release()
        deadline = time.monotonic() + TIMEOUT
        while batcher.load != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert batcher.load == (0, 0)
        after = job([3], 4)
        batcher.submit(after)
        assert isinstance(after.emit.tokens()[1], Finished)
    finally:
        batcher.close()


def test_close_fails_the_jobs_in_flight_and_refuses_new_ones(model):
    batcher = Batcher(model, max_batch=1, max_waiting=1)
    running = Job([1], BLOCK - 1, GREEDY, Collector(hold_after=1))
    waiting = job([2], 5)
    batcher.submit(running)
    running.emit.tokens(1)                      # the worker holds in the middle of running
    batcher.submit(waiting)
    threading.Timer(0.05, running.emit.release).start()
    batcher.close()
    assert isinstance(running.emit.tokens()[1], Failed)
    assert waiting.emit.tokens()[1] == Failed("the server is shutting down", shutdown=True)
    with pytest.raises(Closed):
        batcher.submit(job([1], 2))


def test_jobs_that_do_not_fit_are_refused(model, batcher):
    with pytest.raises(ValueError, match="within the context"):
        batcher.submit(job([1] * 40, 9))
    with pytest.raises(ValueError, match="top_logprobs"):
        batcher.submit(job([1], 2, top_logprobs=21))
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(model, max_batch=0)
