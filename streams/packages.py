"""The package processor's driver: load the package, step, then act on the outcome.

Order matters for crash safety: derived events are appended *before* the projection rows
and the tracking record are written. A crash in between makes the step run again, which
derives the same events (same ids, ignored by the fold) — so nothing is lost and nothing
counts twice. Shredding is not done here but by the shredder (``streams/shredder.py``),
so that destroying a large package never delays this processor or the acknowledgement.
"""

from __future__ import annotations

from hub.packages.model import Package
from hub.packages.processor import TRACKER, Outcome, package_ref, step
from hub.ports import EventLog, Projections, Recorded
from hub.projection import Writes
from hub.topics import PACKAGES, record
from streams.runner import apply_once
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
        package_id = getattr(recorded.event, "package_id", None)

        async def plan() -> tuple[Writes, Outcome]:
            before = await self._load(package_id) if package_id else None
            outcome = step(before, recorded.event)
            for derived in outcome.derived:  # before the tracking record: never lost
                await record(self._log, derived)
            return outcome.writes, outcome

        applied, outcome = await apply_once(self._tracking, self._projections, self.name,
                                            recorded.position, plan)
        if applied and package_id and outcome is not None:
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
