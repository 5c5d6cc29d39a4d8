"""llm/serve/mailbox.py: events put from another thread reach take() in order, every waiting
one at once; take(not_before=t) holds tokens until t but lets a job's end through at once; a
waiting take() wakes on a put, a pacing one only on a final event."""
import asyncio
import threading
import time

from llm.serve.batching import Failed, Finished, Token
from llm.serve.mailbox import Mailbox


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 10))


def put_later(mailbox: Mailbox, events: list, delay: float) -> threading.Thread:
    """Put events from another thread, delay seconds apart (the first after delay)."""
    def work():
        for event in events:
            time.sleep(delay)
            mailbox.put(event)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_events_from_another_thread_arrive_in_order_and_together():
    async def main():
        mailbox = Mailbox(asyncio.get_running_loop())
        events = [Token(n) for n in range(200)] + [Finished("length", 200)]
        thread = put_later(mailbox, events, 0)
        taken = []
        while not taken or not isinstance(taken[-1], Finished):
            batch = await mailbox.take()
            assert batch                        # never an empty batch
            taken += batch
        thread.join()
        return taken, events

    taken, events = run(main())
    assert taken == events


def test_a_waiting_take_wakes_on_the_first_put():
    async def main():
        loop = asyncio.get_running_loop()
        mailbox = Mailbox(loop)
        thread = put_later(mailbox, [Token(1)], 0.05)
        start = loop.time()
        batch = await mailbox.take()
        thread.join()
        return batch, loop.time() - start

    batch, waited = run(main())
    assert batch == [Token(1)] and 0.04 <= waited < 1.0


def test_pacing_holds_tokens_until_not_before():
    async def main():
        loop = asyncio.get_running_loop()
        mailbox = Mailbox(loop)
        for n in range(3):
            mailbox.put(Token(n))
        start = loop.time()
        thread = put_later(mailbox, [Token(3)], 0.02)      # a token while pacing: no wake-up
        batch = await mailbox.take(not_before=start + 0.2)
        thread.join()
        return batch, loop.time() - start

    batch, waited = run(main())
    assert batch == [Token(n) for n in range(4)] and waited >= 0.19


def test_pacing_lets_the_end_through_at_once():
    for final in (Finished("stop", 2), Failed("the model failed")):
        async def main():
            loop = asyncio.get_running_loop()
            mailbox = Mailbox(loop)
            mailbox.put(Token(0))
            start = loop.time()
            thread = put_later(mailbox, [final], 0.02)
            batch = await mailbox.take(not_before=start + 5)
            thread.join()
            return batch, loop.time() - start

        batch, waited = run(main())
        assert batch == [Token(0), final] and waited < 1.0


def test_a_past_not_before_returns_what_is_there():
    async def main():
        loop = asyncio.get_running_loop()
        mailbox = Mailbox(loop)
        mailbox.put(Token(7))
        return await mailbox.take(not_before=loop.time() - 1)

    assert run(main()) == [Token(7)]
