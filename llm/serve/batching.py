"""Continuous batching: one worker thread owns the model and decodes every active request
together, one batched forward per step; requests join and leave between steps.

    batcher = Batcher(model, max_batch=8)
    job = Job(prompt_ids, max_tokens=64, sampling=SamplingConfig(temperature=0), emit=callback)
    batcher.submit(job)      # callback(event) is called from the worker thread: Token ...,
                             # then Finished (or Failed)
    batcher.cancel(job)      # the client went away: its row leaves before the next step
    batcher.close()

A step: the rows that finished or were cancelled leave; the waiting requests (up to the free
slots) are prefilled together in one left-padded forward of their prompts, each drawing its
first token from it; if the rows changed, the decode cache is refilled (KVCache.gather: every
row's keys and values copied, right-aligned to the longest, the shorter left-padded), then one
forward_cached of the active rows' last tokens (B, 1) gives every row's next logits, and each
row draws its token with its own Sampler (temperature, top-k, top-p, seed).

Why gather and not one cache with fixed slots: a slot cache of max_batch rows would run the
forward over idle rows, and a row joining mid-flight would need its prompt's columns to end at
the batch's current column, so the cache would have to be realigned anyway. Gathering copies
the active rows' keys and values once per join or leave (n_layer * B * T * 2 * d_model floats,
about 1 ms for 8 rows of the demo model), against a decode step of several ms, and the forward
then runs on exactly the active rows with the least padding the right-alignment allows.

A row holds its prompt and generated tokens, at most block_size in all: the server refuses a
request whose prompt + max_tokens exceeds the context (no sliding window here), so positions
are those the row would have alone and, greedy, a row generates what GPT.generate does alone.
"""
import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from llm.model import GPT, KVCache
from llm.model.sampling import Sampler, SamplingConfig, draw_rows

log = logging.getLogger(__name__)

MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True)
class Token:
    """A generated token. logprob: its natural log-probability under the model (the softmax of
    the logits, before temperature or top-k/top-p), None unless the job asked for logprobs;
    top: the job's top_logprobs likeliest tokens as (id, logprob), likeliest first."""

    id: int
    logprob: float | None = None
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Finished:
    """The job ended: reason "stop" (it drew a stop token, not sent as a Token) or "length"
    (max_tokens reached); completion_tokens counts every token drawn, a stop token included."""

    reason: str
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    """The job could not finish: the server is shutting down (shutdown), or the model failed
    (message says how)."""

    message: str
    shutdown: bool = False


class Busy(Exception):
    """Every slot and the waiting queue are taken (HTTP 429)."""


class Closed(Exception):
    """The batcher is shutting down and takes no new job (HTTP 503)."""


@dataclass(eq=False)
class Job:
    """One request to the batcher.

    prompt:       token ids (at least 1); len(prompt) + max_tokens <= the model's block_size.
    max_tokens:   tokens to draw at most (>= 1).
    sampling:     how this job's tokens are drawn (its own seed: jobs do not share a generator).
    emit:         called with each event (Token, then Finished or Failed) from the worker
                  thread; it must be quick and must not block (e.g. loop.call_soon_threadsafe).
    stop_tokens:  ids that end the job (Finished("stop")), e.g. the end-of-text token.
    top_logprobs: None (no logprobs), or 0 .. MAX_TOP_LOGPROBS alternatives per token.
    """

    prompt: list[int]
    max_tokens: int
    sampling: SamplingConfig
    emit: Callable[[object], None]
    stop_tokens: frozenset[int] = frozenset()
    top_logprobs: int | None = None
    cancelled: bool = field(default=False, init=False)


class _Row:
    """A job being decoded: its sampler, the token to feed next, and how many of its positions
    (prompt + fed tokens) the decode cache holds."""

    def __init__(self, job: Job):
        self.job = job
        self.sampler = Sampler(job.sampling)
        self.next_token = -1
        self.cached = len(job.prompt)
        self.drawn = 0
        self.done = False


class Batcher:
    """Decodes the jobs submitted to it in one batch (see the module docstring).

    max_batch: rows decoded together at most; max_waiting: jobs waiting for a free row at most
    (more are refused with Busy).
    """

    def __init__(self, model: GPT, max_batch: int = 8, max_waiting: int = 8):
        for name, value, least in (("max_batch", max_batch, 1), ("max_waiting", max_waiting, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name}={value!r}: must be an integer >= {least}")
        self.model = model
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._waiting: collections.deque[Job] = collections.deque()
        self._rows: list[_Row] = []         # the worker's; their jobs in the order of cache rows
        self._active = 0        # rows decoded or being admitted (not done, not cancelled)
        self._closed = False
        self._cache: KVCache | None = None  # holds self._rows' positions
        self._caches: dict[int, KVCache] = {}   # a decode cache per batch size, reused
        self._worker = threading.Thread(target=self._run, name="llm-serve-batcher", daemon=True)
        self._worker.start()

    @property
    def load(self) -> tuple[int, int]:
        """(rows being decoded, jobs waiting)."""
        with self._lock:
            return self._active, len(self._waiting)

    def submit(self, job: Job) -> None:
        """Queue job; Busy if max_batch + max_waiting jobs are already in, Closed after close().
        A prompt that does not leave room for max_tokens is a ValueError."""
        block_size = self.model.config.block_size
        if not job.prompt or isinstance(job.max_tokens, bool) or job.max_tokens < 1 \
                or len(job.prompt) + job.max_tokens > block_size:
            raise ValueError(f"a job needs a prompt and max_tokens >= 1 within the context: "
                             f"{len(job.prompt)} + {job.max_tokens} > block_size={block_size}")
        if job.top_logprobs is not None and not 0 <= job.top_logprobs <= MAX_TOP_LOGPROBS:
            raise ValueError(f"top_logprobs={job.top_logprobs}: must be in "
                             f"[0, {MAX_TOP_LOGPROBS}]")
        with self._lock:
            if self._closed:
                raise Closed("the server is shutting down")
            if self._active + len(self._waiting) >= self.max_batch + self.max_waiting:
                raise Busy(f"the server is full: {self.max_batch} request(s) decoding and "
                           f"{self.max_waiting} waiting at most; retry later")
            self._waiting.append(job)
            self._wake.notify()

    def cancel(self, job: Job) -> None:
        """Drop job: a waiting job leaves the queue now, a decoded one before the next step.
        Its events stop (a Finished or Failed already under way may still arrive)."""
        with self._lock:
            job.cancelled = True
            if job in self._waiting:
                self._waiting.remove(job)
            self._wake.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Stop: refuse new jobs, fail the waiting and active ones, end the worker thread."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._worker.join(timeout)

    # ---------------------------------------------------------------- the worker thread

    def _run(self) -> None:
        while True:
            with self._lock:
                while True:
                    self._active = sum(_live(row) for row in self._rows)
                    if self._closed or self._waiting or self._active:
                        break
                    self._wake.wait()
                if self._closed:
                    failing = [row.job for row in self._rows if _live(row)] + list(self._waiting)
                    self._waiting.clear()
                    break
                newcomers = [self._waiting.popleft() for _ in
                             range(min(self.max_batch - self._active, len(self._waiting)))]
                self._active += len(newcomers)      # submit counts them while they join
            try:
                self._step(newcomers)
            except Exception as error:      # a model failure: fail its jobs, keep serving
                log.exception("a decoding step failed")
                failed = [row.job for row in self._rows if _live(row)] + newcomers
                self._rows, self._cache = [], None
                for job in failed:
                    self._send(job, Failed(f"the model failed: {error}"))
        for job in failing:
            self._send(job, Failed("the server is shutting down", shutdown=True))

    def _step(self, newcomers: list[Job]) -> None:
        """Rows leave, newcomers join (prefilled, first token drawn), then one decode step."""
        sources = [(self._cache, number, row) for number, row in enumerate(self._rows)
                   if _live(row)]
        if newcomers:
            joining, prefill_cache = self._prefill(newcomers)
            sources += [(prefill_cache, number, row) for number, row in enumerate(joining)
                        if _live(row)]
        if [row for _, _, row in sources] != self._rows:
            self._gather(sources)
        if not self._rows:
            return
        idx = np.array([[row.next_token] for row in self._rows], np.int32)
        logits = self.model.forward_cached(idx, self._cache)
        for row in self._rows:
            row.cached += 1
        self._draw([row for row in self._rows if not row.job.cancelled],
                   logits[[not row.job.cancelled for row in self._rows]])

    def _prefill(self, jobs: list[Job]) -> tuple[list[_Row], KVCache]:
        """Rows for jobs, their prompts read in one left-padded forward (into a new cache of
        len(jobs) rows) and their first tokens drawn and sent."""
        longest = max(len(job.prompt) for job in jobs)
        idx = np.zeros((len(jobs), longest), np.int32)
        real = np.zeros((len(jobs), longest), np.uint8)
        for number, job in enumerate(jobs):
            idx[number, longest - len(job.prompt):] = job.prompt
            real[number, longest - len(job.prompt):] = 1
        cache = KVCache(self.model.config, len(jobs), longest)
        logits = self.model.forward_cached(idx, cache, None if real.all() else real)
        rows = [_Row(job) for job in jobs]
        self._draw(rows, logits)
        return rows, cache

    def _gather(self, sources: list[tuple[KVCache, int, _Row]]) -> None:
        """Make the rows of sources, (cache, row in it, row), the decoded rows, in that order,
        their positions gathered into the decode cache of their number. Rows staying from the
        current cache come first, in their order, so a cache of the same size is refilled in
        place (KVCache.gather's rule)."""
        self._rows = [row for _, _, row in sources]
        if not sources:
            self._cache = None
            return
        cache = self._caches.get(len(sources))
        if cache is None:
            cache = self._caches[len(sources)] = KVCache(self.model.config, len(sources))
        cache.gather([(source, number, row.cached) for source, number, row in sources])
        self._cache = cache

    def _draw(self, rows: list[_Row], logits: np.ndarray) -> None:
        """Draw each row's next token from its logits (len(rows), V) float32, each with its
        own sampler, and send it, or finish the row."""
        tokens = draw_rows([row.sampler for row in rows], logits).tolist()
        for row, token, row_logits in zip(rows, tokens, logits):
            job = row.job
            row.drawn += 1
            if token in job.stop_tokens:
                self._finish(row, "stop")
                continue
            event = Token(token)
            if job.top_logprobs is not None:
                event = Token(token, *_logprobs(row_logits, token, job.top_logprobs))
            self._send(job, event)
            row.next_token = token
            if row.drawn == job.max_tokens:
                self._finish(row, "length")

    def _finish(self, row: _Row, reason: str) -> None:
        row.done = True
        self._send(row.job, Finished(reason, row.drawn))

    @staticmethod
    def _send(job: Job, event) -> None:
        """job.emit(event), unless the job is cancelled; an emit that fails cancels the job."""
        if job.cancelled:
            return
        try:
            job.emit(event)
        except Exception:       # the receiver is gone (e.g. its event loop closed)
            log.debug("dropping a job whose receiver failed", exc_info=True)
            job.cancelled = True


def _live(row: _Row) -> bool:
    """Whether row still has tokens to draw for a client."""
    return not row.done and not row.job.cancelled


def _logprobs(logits: np.ndarray, token: int, top: int
              ) -> tuple[float, tuple[tuple[int, float], ...]]:
    """(log p(token), the top likeliest (id, log p), likeliest first) of softmax(logits (V,)),
    computed in float64."""
    scores = logits.astype(np.float64)
    scores -= scores.max()
    scores -= np.log(np.exp(scores).sum())
    if top == 0:
        return float(scores[token]), ()
    best = np.argpartition(-scores, top - 1)[:top] if top < len(scores) \
        else np.arange(len(scores))
    best = best[np.argsort(-scores[best], kind="stable")]
    return float(scores[token]), tuple((int(i), float(scores[i])) for i in best)
