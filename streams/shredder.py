"""The shredder: destroys a package's content once every delivery is closed.

It is its own processor, beside the package processor, so that shredding 1 GiB (seconds
of deletes) never holds up the acknowledgement that caused it, nor any other package: the
package processor writes the acknowledgement and the package state at once; the shredder
follows the same events, and after an acknowledgement or an expiry waits until the
package processor has applied that event *and* the package row shows it (the tracking
record may be read before the row: see ``_package_after``), then — if
``needs_shredding`` — deletes the data key (the content is unreadable from then on),
deletes the chunks batch by batch, and records
``ContentShredded`` (which the package processor folds and notifies).

Crash safety: the shredder's tracking record is written only after the shred and its
event, so a process that dies in between handles the same event again on restart and
finishes the job. Everything it does is idempotent: a deleted key or chunk stays deleted,
``ContentShredded`` gets an id derived from its cause (the fold ignores a repeat), and a
package already shredded is skipped. Events it ignores are tracked only every
``track_every`` events: after a restart it reads at most that many again, for nothing.
"""

from __future__ import annotations

import asyncio
import logging

from hub import events as ev
from hub.packages.model import Package
from hub.packages.processor import (
    SHREDDER,
    TRACKER,
    may_close,
    needs_shredding,
    shows,
    shredded_event,
)
from hub.ports import EventLog, Position, Projections, Recorded
from hub.topics import PACKAGES, record
from infra.vault import Vault
from streams.applied import Applied
from streams.dead_letters import event_ref
from streams.shown import read_package

log = logging.getLogger(__name__)
FIRST_READ_AGAIN = 0.01
LAST_READ_AGAIN = 1.0


class ShredderProcessor:
    name = SHREDDER
    topics: tuple[str, ...] = (PACKAGES,)

    def __init__(self, log_: EventLog, projections: Projections, vault: Vault, *,
                 track_every: int = 64, patience: float = 30,
                 applied: Applied | None = None) -> None:
        self._log = log_
        self._projections = projections
        self._vault = vault
        self._applied = applied or Applied(projections)
        self._track_every = track_every
        self._patience = patience
        self._untracked: dict[tuple[str, int], int] = {}

    async def handle(self, recorded: Recorded) -> bool:
        event, pos = recorded.event, recorded.position
        if not may_close(event):
            return await self._skip(pos)
        package_id: str = getattr(event, "package_id")  # noqa: B009 — may_close checked it
        pkg = await self._package_after(package_id, recorded)
        if pkg is not None and needs_shredding(pkg):
            await self._shred(pkg, event)
        self._untracked[(pos.topic, pos.partition)] = 0
        return await self._projections.apply(self.name, pos)

    async def _skip(self, pos: Position) -> bool:
        key = (pos.topic, pos.partition)
        count = self._untracked.get(key, 0) + 1
        self._untracked[key] = count % self._track_every
        if count < self._track_every:
            return True
        return await self._projections.apply(self.name, pos)

    async def _package_after(self, package_id: str, recorded: Recorded) -> Package | None:
        """The package row once the package processor has applied ``recorded`` *and* the
        row shows it. It waits as long as it takes (a shred must not be skipped because
        that processor lags). The tracking record alone is not enough: on Cassandra it is
        written in one logged batch with the row, atomic but not isolated, so it can be
        read before the row — an acknowledgement taken for "nothing to shred" on the row
        from before it was content left for good (the fault suite's Kafka and Cassandra
        kills). An event the package processor set aside never shows: it goes by the row."""
        pos = recorded.position
        while True:
            try:
                await self._applied.wait(TRACKER, pos, self._patience)
                break
            except TimeoutError:
                log.warning("shredder: package processor has not applied %s yet", pos)
        delay = FIRST_READ_AGAIN
        while True:
            pkg = await read_package(self._projections, package_id)
            if shows(pkg, recorded.event) or await self._set_aside(recorded):
                return pkg
            if delay == FIRST_READ_AGAIN:
                log.warning("shredder: the row of %s does not show %s at %s yet; reading "
                            "it again", package_id, type(recorded.event).__name__, pos)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_READ_AGAIN)

    async def _set_aside(self, recorded: Recorded) -> bool:
        """The package processor set this event aside as a dead letter."""
        return await self._projections.get(event_ref(TRACKER, recorded)) is not None

    async def _shred(self, pkg: Package, cause: ev.Event) -> None:
        deleted = await self._vault.shred(pkg.package_id, pkg.chunk_count)
        # a run resumed after a crash finds fewer chunks left: report what the package had
        await record(self._log, shredded_event(pkg, cause, max(deleted, pkg.chunk_count)))
