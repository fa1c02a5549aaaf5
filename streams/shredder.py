"""The shredder: destroys a package's content once every delivery is closed.

It is its own processor, beside the package processor, so that shredding 1 GiB (seconds
of deletes) never holds up the acknowledgement that caused it, nor any other package: the
package processor writes the acknowledgement and the package state at once; the shredder
follows the same events, and after an acknowledgement or an expiry waits until the
package row shows that event, then — if ``needs_shredding`` — deletes the data key (the
content is unreadable from then on), deletes the chunks batch by batch, and records
``ContentShredded`` (which the package processor folds and notifies).

Crash safety: the shredder's tracking record is written only after the shred and its
event, so a process that dies in between handles the same event again on restart and
finishes the job. Everything it does is idempotent: a deleted key or chunk stays deleted,
``ContentShredded`` gets an id derived from its cause (the fold ignores a repeat), and a
package already shredded is skipped. Events it ignores are tracked only every
``track_every`` events: after a restart it reads at most that many again, for nothing.
"""

from __future__ import annotations

import logging

from hub import events as ev
from hub.packages.model import Package
from hub.packages.processor import (
    SHREDDER,
    TRACKER,
    may_close,
    needs_shredding,
    package_ref,
    shredded_event,
)
from hub.ports import EventLog, Position, Projections, Recorded
from hub.topics import PACKAGES, record
from infra.vault import Vault
from streams.applied import Applied

log = logging.getLogger(__name__)


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
        pkg = await self._package_after(package_id, pos)
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

    async def _package_after(self, package_id: str, pos: Position) -> Package | None:
        """The package row once the package processor has applied ``pos``: it waits as
        long as it takes (a shred must not be skipped because that processor lags)."""
        while True:
            try:
                await self._applied.wait(TRACKER, pos, self._patience)
                break
            except TimeoutError:
                log.warning("shredder: package processor has not applied %s yet", pos)
        row = await self._projections.get(package_ref(package_id))
        return None if row is None else Package.from_json(dict(row.body))

    async def _shred(self, pkg: Package, cause: ev.Event) -> None:
        deleted = await self._vault.shred(pkg.package_id, pkg.chunk_count)
        # a run resumed after a crash finds fewer chunks left: report what the package had
        await record(self._log, shredded_event(pkg, cause, max(deleted, pkg.chunk_count)))
