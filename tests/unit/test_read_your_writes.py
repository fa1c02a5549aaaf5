"""Waiting for a processor (``Applied``) and remembering tracked offsets (``TrackingCache``)
without extra trips to the store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hub.ports import Position, Row, RowRef
from streams.applied import Applied
from streams.tracking import TrackingCache

TOPIC = "packages"


class CountingProjections:
    """Just the tracking part of ``Projections``, counting how often it is read."""

    def __init__(self) -> None:
        self.offsets: dict[tuple[str, str], dict[int, int]] = {}
        self.reads = 0

    async def tracked(self, tracker: str, topic: str) -> dict[int, int]:
        self.reads += 1
        return dict(self.offsets.get((tracker, topic), {}))

    async def apply(self, tracker: str, position: Position, upserts: Sequence[Row] = (),
                    deletes: Sequence[RowRef] = (), *, last_applied: int | None = None) -> bool:
        raise NotImplementedError

    async def get(self, ref: RowRef) -> Row | None:
        raise NotImplementedError

    async def scan(self, view: str, partition: str) -> list[Row]:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def at(offset: int, partition: int = 0) -> Position:
    return Position(TOPIC, partition, offset)


async def test_an_in_process_processor_wakes_the_waiter_without_any_read() -> None:
    store = CountingProjections()
    applied = Applied(store, local=True, first_poll=5)
    waiter = asyncio.create_task(applied.wait("p", at(3), seconds=2))
    await asyncio.sleep(0)
    applied.advance("p", at(2))
    await asyncio.sleep(0)
    assert not waiter.done()
    applied.advance("p", at(3))
    await asyncio.wait_for(waiter, 1)
    assert store.reads == 0
    await applied.close()


async def test_a_known_position_answers_at_once() -> None:
    store = CountingProjections()
    applied = Applied(store)
    applied.advance("p", at(10))
    await asyncio.wait_for(applied.wait("p", at(7)), 0.1)
    assert store.reads == 0
    assert applied.known("p", at(0)) == 10
    assert applied.known("p", at(0, partition=1)) == -1


async def test_positions_applied_elsewhere_are_polled_once_for_every_waiter() -> None:
    store = CountingProjections()
    applied = Applied(store, first_poll=0.01, max_poll=0.01)
    waiters = [asyncio.create_task(applied.wait("p", at(o % 5), seconds=2)) for o in range(50)]
    await asyncio.sleep(0.05)
    store.offsets[("p", TOPIC)] = {0: 4}
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert store.reads < 15  # one poller for the fifty waiters, every 10 ms
    await applied.close()


async def test_a_wait_that_times_out_leaves_nothing_behind() -> None:
    store = CountingProjections()
    applied = Applied(store, first_poll=0.005, max_poll=0.005)
    with pytest.raises(TimeoutError):
        await applied.wait("p", at(1), seconds=0.03)
    reads = store.reads
    await asyncio.sleep(0.03)
    assert store.reads == reads  # the poller stopped with its last waiter
    await applied.close()


async def test_known_offsets_never_go_back() -> None:
    applied = Applied(CountingProjections())
    applied.advance("p", at(5))
    applied.advance("p", at(3))
    assert applied.known("p", at(0)) == 5


async def test_tracking_is_read_once_then_kept() -> None:
    store = CountingProjections()
    store.offsets[("p", TOPIC)] = {0: 4, 1: 9}
    cache = TrackingCache(store)
    assert await cache.done("p", at(5)) == 4
    assert await cache.done("p", at(10, partition=1)) == 9
    cache.note("p", at(5))
    assert await cache.done("p", at(6)) == 5
    assert store.reads == 1


async def test_an_unknown_partition_is_read_and_a_forgotten_one_again() -> None:
    store = CountingProjections()
    cache = TrackingCache(store)
    assert await cache.done("p", at(0)) == -1
    cache.note("p", at(0))
    store.offsets[("p", TOPIC)] = {0: 7, 2: 3}
    assert await cache.done("p", at(0, partition=2)) == 3
    assert await cache.done("p", at(1)) == 0  # what this process handled stays
    cache.forget()
    assert await cache.done("p", at(1)) == 7
    assert store.reads == 3


async def test_remembered_states_go_with_the_offsets() -> None:
    cache = TrackingCache(CountingProjections())
    cache.remember("p", "k", {"v": 1})
    assert cache.recall("p", "k") == {"v": 1}
    cache.remember("p", "k", None)
    assert cache.recall("p", "k") is None
    cache.remember("p", "k", {"v": 2})
    cache.forget_tracker("p", TOPIC)
    assert cache.recall("p", "k") is None


async def test_a_failed_handling_forgets_what_it_may_have_written() -> None:
    store = CountingProjections()
    cache = TrackingCache(store)
    cache.note("p", at(4))
    cache.remember("p", "k", {"v": 1})
    with pytest.raises(RuntimeError), cache.handling("p", at(5)):
        raise RuntimeError("the batch timed out, but may still apply")
    assert cache.recall("p", "k") is None
    store.offsets[("p", TOPIC)] = {0: 5}
    assert await cache.done("p", at(6)) == 5
