"""A rebalance waits for the events the agents hold, not for the ones Faust cleared."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from streams.app import WorkerApp
from streams.in_flight import InFlight


async def test_idle_until_an_event_is_taken_then_after_its_ack() -> None:
    in_flight = InFlight()
    await asyncio.wait_for(in_flight.wait_idle(), 1)
    released = asyncio.Event()

    async def agent() -> None:
        with in_flight.holding():
            await released.wait()

    task = asyncio.create_task(agent())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(in_flight.wait_idle())
    await asyncio.sleep(0.01)
    assert in_flight.held == 1 and not waiter.done()
    released.set()
    await asyncio.wait_for(waiter, 1)
    await task
    assert in_flight.held == 0


async def test_a_handler_that_fails_still_lets_the_rebalance_go_on() -> None:
    in_flight = InFlight()
    try:
        with in_flight.holding():
            raise RuntimeError("engine down")
    except RuntimeError:
        pass
    await asyncio.wait_for(in_flight.wait_idle(), 1)


async def test_the_worker_ignores_messages_faust_cleared_from_the_buffers() -> None:
    """Faust's own wait would block on ``_unacked_messages`` (never acked once cleared)."""
    app = WorkerApp("test-in-flight", broker="kafka://127.0.0.1:1", store="memory://")
    never_acked = SimpleNamespace(_unacked_messages={object()})

    async def forever() -> None:
        await asyncio.Event().wait()

    never_acked.wait_empty = forever
    await asyncio.wait_for(
        app._consumer_wait_empty(never_acked, logging.getLogger("test")), 1)
    with app.in_flight.holding():
        held = asyncio.create_task(
            app._consumer_wait_empty(never_acked, logging.getLogger("test")))
        await asyncio.sleep(0.01)
        assert not held.done()
    await asyncio.wait_for(held, 1)
