"""Drivers of presence: the projection processor and the watchdog timer.

The processor folds each agency's presence events (``hub.presence.model.step``) into its
rows, exactly once through the tracking record. The watchdog reads the open connections
and the nodes' heartbeats and records ``node_lost`` disconnects; it runs in one process
(the embedded hub, or the worker that owns partition 0 of the presence topic) and is safe
to run twice, since the fold ignores a disconnect of a connection already closed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from hub import events as ev
from hub.ports import Clock, EventLog, Projections, Recorded
from hub.presence import watchdog
from hub.presence.model import (
    ALL,
    BY_NODE,
    NODES,
    TRACKER,
    AgencyPresence,
    Connection,
    Step,
    index_ref,
    open_ref,
    step,
)
from hub.projection import Writes
from hub.topics import PRESENCE, record
from streams.row_guard import RowGuard
from streams.runner import apply_once, repeat
from streams.tracking import TrackingCache

log = logging.getLogger(__name__)


class PresenceProcessor:
    """Each agency's events share a log partition (keyed by agency), so the handler of a
    partition is the only writer of its agencies' rows: it remembers the state and the
    open connections it wrote (``TrackingCache.remember``) and its tracking offset, and
    reads the store only for what it has not written — on Cassandra that was three reads
    per event (state, connection, tracking). A rebalance, a failed handling or an
    ``apply`` answering False forgets it all."""

    name = TRACKER
    topics: tuple[str, ...] = (PRESENCE,)

    def __init__(self, projections: Projections,
                 tracking: TrackingCache | None = None) -> None:
        self._projections = projections
        self._tracking = tracking or TrackingCache(projections)

    async def handle(self, recorded: Recorded) -> bool:
        event = recorded.event
        agency_id = getattr(event, "agency_id", None)

        async def plan() -> tuple[Writes, Step]:
            before, open_ = (await self._load(agency_id, event.correlation_id)
                             if isinstance(agency_id, str) else (None, None))
            outcome = step(before, open_, event)
            return outcome.writes, outcome

        applied, outcome = await apply_once(self._tracking, self._projections, self.name,
                                            recorded.position, plan)
        if applied and outcome is not None and isinstance(agency_id, str):
            self._remember(agency_id, event.correlation_id, outcome)
        return applied

    def _remember(self, agency_id: str, connection_id: str, outcome: Step) -> None:
        self._tracking.remember(self.name, _state_key(agency_id), outcome.state)
        opened = open_ref(agency_id, connection_id)
        if opened in outcome.writes.deletes:
            self._tracking.remember(self.name, _open_key(agency_id, connection_id), None)
        for row in outcome.writes.upserts:
            if row.ref == opened:
                self._tracking.remember(self.name, _open_key(agency_id, connection_id),
                                        Connection.from_json(row.body))

    async def _load(self, agency_id: str, connection_id: str
                    ) -> tuple[AgencyPresence | None, Connection | None]:
        """The agency's state, and the open connection the event names, if any: as this
        processor last wrote them, else as stored."""
        state = self._tracking.recall(self.name, _state_key(agency_id))
        if not isinstance(state, AgencyPresence):
            row = await self._projections.get(index_ref(agency_id))
            state = None if row is None else AgencyPresence.from_json(row.body)
        conn = self._tracking.recall(self.name, _open_key(agency_id, connection_id))
        if not isinstance(conn, Connection):
            row = await self._projections.get(open_ref(agency_id, connection_id))
            conn = None if row is None else Connection.from_json(row.body)
        return state, conn


def _state_key(agency_id: str) -> str:
    return f"state\x1f{agency_id}"


def _open_key(agency_id: str, connection_id: str) -> str:
    return f"open\x1f{agency_id}\x1f{connection_id}"


class PresenceWatchdog:
    """One sweep per ``tick``; ``run`` ticks every heartbeat interval until cancelled."""

    def __init__(self, log_: EventLog, projections: Projections, clock: Clock,
                 heartbeat: timedelta, missed: int) -> None:
        self._log = log_
        self._projections = projections
        self._clock = clock
        self.heartbeat = heartbeat
        self._missed = missed
        self._said: set[str] = set()
        self._rows = RowGuard(projections, "presence-watchdog")

    async def tick(self) -> list[ev.AgencyDisconnected]:
        """One row the rules cannot read (a node's beat, a connection) is set aside as a
        dead letter (``streams/row_guard.py``); the other nodes are still swept."""
        beats = await self._rows.parsed(await self._projections.scan(NODES, ALL),
                                        watchdog.NodeBeat.from_json)
        nodes = {beat.node: beat for beat, _ in beats}
        now = self._clock.now()
        held = [((name, conn), ref) for name in nodes for conn, ref in await self._rows.parsed(
            await self._projections.scan(BY_NODE, name), Connection.from_json)]
        found = [lost for lost, _ in await self._rows.each(
            held, lambda nc: watchdog.lost({nc[0]: [nc[1]]}, nodes, now, self._missed))]
        fresh = [e for e in found if e.event_id not in self._said]
        for event in fresh:  # the projection may lag one sweep: say each loss once here
            await record(self._log, event)
        self._said = {e.event_id for e in found}  # only what is still pending
        return fresh

    async def run(self) -> None:
        await repeat(self.tick, self.heartbeat.total_seconds(), "presence watchdog sweep")
