"""Fetch leases: a content fetch in progress holds the shredder off the package's chunks.

Why: a 200 whose body is cut short (the chunks deleted under a streaming fetch) is the one
failure a client cannot tell from a network fault. The vault's order makes it sound, on
one node or many (the fetch on an API node, the shredder in the worker):

- a fetch writes its lease row *first*, then reads the data key from the key store (not
  from a cache) and the first chunk, all before the first byte; anything gone is a clean
  410/503 before the response starts;
- the shredder deletes the data key *first* (no fetch can start after that), then waits
  until no live lease stands, then deletes the chunks.

A fetch that read the key wrote its lease before that read, so before the key was deleted,
so before the shredder looked for leases: the shredder sees it. Leases renew while the
fetch streams and expire on their own (a node that died holds nothing for long); the
shredder waits at most ``max_wait`` seconds, then shreds anyway (logged).

The rows live in the projections store (view ``fetch_leases``, partition = package), written
with the untracked ``write``: they are no read model and no event stands for them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from hub.ports import Clock, Projections, Row, RowRef
from infra.settings import Settings

VIEW = "fetch_leases"
log = logging.getLogger(__name__)


class FetchLeases:
    def __init__(self, projections: Projections, clock: Clock, *, seconds: float = 30,
                 max_wait: float = 600, poll: float = 0.5) -> None:
        self._projections = projections
        self._clock = clock
        self.seconds = seconds
        self.max_wait = max_wait
        self._poll = poll

    def _row(self, package_id: str, lease_id: str) -> Row:
        until = self._clock.now() + timedelta(seconds=self.seconds)
        return Row(RowRef(VIEW, package_id, lease_id), {"until": until.isoformat()})

    @asynccontextmanager
    async def hold(self, package_id: str) -> AsyncIterator[Lease]:
        """A lease on the package's chunks for as long as the block runs (renewed by
        ``Lease.renew``); released at the end, whatever happens."""
        lease = Lease(self, package_id, uuid.uuid4().hex)
        await self._projections.write([self._row(package_id, lease.lease_id)])
        try:
            yield lease
        finally:
            try:
                await self._projections.write(deletes=[RowRef(VIEW, package_id, lease.lease_id)])
            except Exception:  # the row expires on its own; never hide the fetch's outcome
                log.warning("fetch lease %s/%s not released", package_id, lease.lease_id)

    async def live(self, package_id: str) -> int:
        now = self._clock.now()
        rows = await self._projections.scan(VIEW, package_id)
        return sum(1 for r in rows if datetime.fromisoformat(str(r.body["until"])) > now)

    async def wait_clear(self, package_id: str) -> bool:
        """Waits until no live lease stands on the package (at most ``max_wait``); True
        if it cleared, False if the wait ran out."""
        deadline = time.monotonic() + self.max_wait
        while await self.live(package_id):
            if time.monotonic() >= deadline:
                log.warning("shredding %s while a fetch still holds a lease", package_id)
                return False
            await asyncio.sleep(self._poll)
        return True

    async def forget(self, package_id: str) -> None:
        """Drops the package's lease rows once its chunks are gone."""
        rows = await self._projections.scan(VIEW, package_id)
        if rows:
            await self._projections.write(deletes=[r.ref for r in rows])


def fetch_leases(projections: Projections, clock: Clock, settings: Settings) -> FetchLeases:
    return FetchLeases(projections, clock, seconds=settings.fetch_lease_seconds,
                       max_wait=settings.shred_wait_seconds)


class Lease:
    def __init__(self, leases: FetchLeases, package_id: str, lease_id: str) -> None:
        self._leases = leases
        self.package_id = package_id
        self.lease_id = lease_id
        self._renewed = time.monotonic()

    async def renew(self) -> None:
        """Extends the lease when a third of it has passed (cheap to call per chunk)."""
        if time.monotonic() - self._renewed < self._leases.seconds / 3:
            return
        self._renewed = time.monotonic()
        await self._leases._projections.write(
            [self._leases._row(self.package_id, self.lease_id)])
