"""A processor whose events call for work done later, in the background: a webhook post
(``streams/webhooks.py``), a delivery forwarded to another zone's hub
(``streams/forwarder.py``). One skeleton for both, so they keep the same guarantees.

Each piece of work an event calls for is a row of the processor's outbox view, written
with the event's tracking record, then worked by a task of its own; the row is deleted
when the work is done. A row survives a restart: whoever owns the packages partitions
``resume``s the rows it finds (the embedded hub at start and every
``WEBHOOK_RESUME_SECONDS``; a Faust worker on assignment).

Most events call for no work, and writing a tracking record for each was one LOGGED batch
per event on Cassandra. So the tracking record is written only with work, and otherwise
once every ``FLUSH_EVERY`` events handled without any; in between the position is kept in
memory (``TrackingCache``). That keeps the guarantees:

- an event that calls for work writes the tracking record *before* the work is scheduled,
  so after a restart or a redelivery it is never scheduled again (the rows, written with
  that record, are resumed from the outbox instead);
- an event skipped without a write is simply handled again after a restart (at most
  ``FLUSH_EVERY`` of them): it called for no work, and still calls for none — unless the
  registry changed in between (an app configured a webhook), which then gets that work
  once, late; since the position written always covers every event before it, nothing
  is ever done twice.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from hub.ports import EventLog, Projections, Recorded, Row, RowRef
from hub.topics import PACKAGES
from streams.runner import settle
from streams.tracking import TrackingCache

FLUSH_EVERY = 100
"""Events handled without work between two writes of the tracking record."""


class Outbox(ABC):
    name: str
    topics: tuple[str, ...] = (PACKAGES,)
    outbox: str
    """The view holding the rows of work not done yet, one partition per log partition."""

    def __init__(self, projections: Projections, tracking: TrackingCache) -> None:
        self._projections = projections
        self._tracking = tracking
        self._pending: dict[RowRef, asyncio.Task[None]] = {}
        self._unwritten = 0

    @abstractmethod
    async def rows_for(self, recorded: Recorded) -> list[Row]:
        """The outbox rows (work to do) this event calls for; usually none."""

    @abstractmethod
    async def work(self, ref: RowRef, body: dict[str, Any]) -> None:
        """Does one row's work, until done or for as long as it takes; never raises for a
        failure the next attempt may overcome (the task would end with the row left)."""

    async def handle(self, recorded: Recorded) -> bool:
        with self._tracking.handling(self.name, recorded.position):
            return await self._handle(recorded)

    async def _handle(self, recorded: Recorded) -> bool:
        pos = recorded.position
        done = await self._tracking.done(self.name, pos)
        if pos.offset <= done:
            return False
        rows = await self.rows_for(recorded)
        if not rows and self._unwritten < FLUSH_EVERY - 1:
            self._unwritten += 1
            self._tracking.note(self.name, pos)
            return True
        applied = await self._projections.apply(self.name, pos, rows, last_applied=done)
        settle(self._tracking, self.name, pos, applied)
        self._unwritten = 0
        if applied:
            for row in rows:
                self._schedule(row.ref, dict(row.body))
        return applied

    async def resume(self, partitions: Iterable[int]) -> int:
        """Schedules the outbox rows of these partitions not already being worked (after a
        restart, or partitions newly assigned); returns how many."""
        resumed = 0
        for partition in partitions:
            for row in await self._projections.scan(self.outbox, str(partition)):
                if row.ref not in self._pending:
                    self._schedule(row.ref, dict(row.body))
                    resumed += 1
        return resumed

    async def close(self) -> None:
        """Stops the work in progress; its rows stay for whoever resumes them."""
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _schedule(self, ref: RowRef, body: dict[str, Any]) -> None:
        if ref in self._pending:
            return
        task = asyncio.create_task(self.work(ref, body))
        self._pending[ref] = task
        task.add_done_callback(lambda _: self._pending.pop(ref, None))


async def resume_owned(outbox: Outbox, events: EventLog) -> int:
    """The embedded hub owns every partition of the packages topic."""
    return await outbox.resume((await events.end_offsets(PACKAGES)).keys())
