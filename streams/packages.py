"""The package processor's driver: load the package, step, then act on the outcome.

Order matters for crash safety: derived events are appended *before* the projection rows
and the tracking record are written. A crash in between makes the step run again, which
derives the same events (same ids, ignored by the fold) — so nothing is lost and nothing
counts twice. Shredding is not done here but by the shredder (``streams/shredder.py``),
so that destroying a large package never delays this processor or the acknowledgement.
"""

from __future__ import annotations

from hub.packages.model import Package
from hub.packages.processor import TRACKER, package_ref, step
from hub.ports import EventLog, Projections, Recorded
from hub.topics import PACKAGES, record
from streams.runner import settle
from streams.tracking import TrackingCache


class PackageProcessor:
    name = TRACKER
    topics: tuple[str, ...] = (PACKAGES,)

    def __init__(self, log: EventLog, projections: Projections,
                 tracking: TrackingCache | None = None) -> None:
        self._log = log
        self._projections = projections
        self._tracking = tracking or TrackingCache(projections)

    async def handle(self, recorded: Recorded) -> bool:
        with self._tracking.handling(self.name, recorded.position):
            return await self._handle(recorded)

    async def _handle(self, recorded: Recorded) -> bool:
        pos = recorded.position
        done = await self._tracking.done(self.name, pos)
        if pos.offset <= done:
            return False
        event = recorded.event
        package_id = getattr(event, "package_id", None)
        before = await self._load(package_id) if package_id else None
        outcome = step(before, event)
        for derived in outcome.derived:
            await record(self._log, derived)
        applied = await self._projections.apply(self.name, pos, outcome.writes.upserts,
                                                outcome.writes.deletes, last_applied=done)
        settle(self._tracking, self.name, pos, applied)
        if applied and package_id:
            self._tracking.remember(self.name, package_id, outcome.package)
        return applied

    async def _load(self, package_id: str) -> Package | None:
        """The package as this processor last wrote it (it is the row's only writer),
        else as stored."""
        known = self._tracking.recall(self.name, package_id)
        if isinstance(known, Package):
            return known
        row = await self._projections.get(package_ref(package_id))
        return None if row is None else Package.from_json(dict(row.body))
