"""Events from the batcher's worker thread to one request's coroutine, handed over in batches.

    mailbox = Mailbox(loop)                     # made on the event loop
    job = Job(..., emit=mailbox.put)            # the worker thread calls put(event)
    events = await mailbox.take()               # every event waiting, at least one
    events = await mailbox.take(not_before=loop.time() + 0.02)

Handing each event over by itself (loop.call_soon_threadsafe per token) wakes the event loop
once a token: a write to its self-pipe, a return from epoll and a pass of the interpreter lock
between the worker and the loop, ~80 µs at the demo model's size, where the model makes a token
in ~140 µs. put() wakes the loop only when take() is waiting and can return, and
take(not_before=t) lets events gather until time t unless one of them ends the job: a stream's
chunks go at most once an interval, its first token and its end at once.
"""
import asyncio
import threading

from llm.serve.batching import Failed, Finished

FINAL_EVENTS = (Finished, Failed)


class Mailbox:
    """put() from any thread, take() from the coroutines of the loop it was made for."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._lock = threading.Lock()
        self._events: list = []
        self._waiter: asyncio.Future | None = None
        self._final_only = False        # the waiter is pacing: only a final event wakes it

    def put(self, event) -> None:
        """Add event (a Token, Finished or Failed); wakes take() if it can return."""
        with self._lock:
            self._events.append(event)
            waiter = self._waiter
            if waiter is None or (self._final_only and not isinstance(event, FINAL_EVENTS)):
                return
            self._waiter = None
        self._loop.call_soon_threadsafe(_resolve, waiter)

    async def take(self, not_before: float | None = None) -> list:
        """Every event put and not yet taken, at least one, in order. With not_before (in
        loop.time() seconds), returns no earlier than that unless an event ends the job."""
        while True:
            with self._lock:
                pacing = not_before is not None and self._loop.time() < not_before
                if self._events and (not pacing or any(
                        isinstance(event, FINAL_EVENTS) for event in self._events)):
                    events, self._events = self._events, []
                    return events
                waiter = self._waiter = self._loop.create_future()
                self._final_only = pacing
            timer = self._loop.call_at(not_before, _resolve, waiter) if pacing else None
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                with self._lock:
                    if self._waiter is waiter:
                        self._waiter = None


def _resolve(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)
