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
    index_ref,
    open_ref,
    step,
)
from hub.topics import PRESENCE, record
from streams.runner import repeat

log = logging.getLogger(__name__)


class PresenceProcessor:
    name = TRACKER
    topics: tuple[str, ...] = (PRESENCE,)

    def __init__(self, projections: Projections) -> None:
        self._projections = projections

    async def handle(self, recorded: Recorded) -> bool:
        """No side effects beyond the rows, so no tracking check first: an event applied
        before folds into writes that ``apply`` refuses with the same tracking record."""
        pos = recorded.position
        event = recorded.event
        agency_id = getattr(event, "agency_id", None)
        before, open_ = (await self._load(agency_id, event.correlation_id)
                         if isinstance(agency_id, str) else (None, None))
        outcome = step(before, open_, event)
        return await self._projections.apply(self.name, pos, outcome.writes.upserts,
                                             outcome.writes.deletes)

    async def _load(self, agency_id: str, connection_id: str
                    ) -> tuple[AgencyPresence | None, Connection | None]:
        """The agency's state, and the open connection the event names, if any."""
        state = await self._projections.get(index_ref(agency_id))
        conn = await self._projections.get(open_ref(agency_id, connection_id))
        return (None if state is None else AgencyPresence.from_json(state.body),
                None if conn is None else Connection.from_json(conn.body))


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

    async def tick(self) -> list[ev.AgencyDisconnected]:
        nodes = {str(r.body["node"]): watchdog.NodeBeat.from_json(dict(r.body))
                 for r in await self._projections.scan(NODES, ALL)}
        by_node = {name: [Connection.from_json(r.body)
                          for r in await self._projections.scan(BY_NODE, name)]
                   for name in nodes}
        found = watchdog.lost(by_node, nodes, self._clock.now(), self._missed)
        fresh = [e for e in found if e.event_id not in self._said]
        for event in fresh:  # the projection may lag one sweep: say each loss once here
            await record(self._log, event)
        self._said = {e.event_id for e in found}  # only what is still pending
        return fresh

    async def run(self) -> None:
        await repeat(self.tick, self.heartbeat.total_seconds(), "presence watchdog sweep")
