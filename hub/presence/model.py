"""Per-agency presence: a pure fold of connect/disconnect events, and the rows it writes.

Views (the ``presence`` layout is a contract other processors read — keep it):

- ``presence`` — partition = agency id; key ``""`` is the agency summary
  ``{agency_id, agency_code, online, since, apps_online, nodes, connections}``; key = app id
  is that app's ``{app_id, online, since, connections: [...]}``.
- ``presence_index`` — partition ``all``, key = agency id: the full state (every open
  connection), read by the operators' list and the watchdog in one query.
- ``presence_history`` — partition = agency id, key = time|event id: one row per connect
  and per disconnect (with the connection's duration).
- ``presence_nodes`` — partition ``all``, key = node: its last heartbeat and run start.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from hub import events as ev
from hub.ports import Row, RowRef
from hub.projection import NOTHING, Writes

TRACKER = "presence"
PRESENCE = "presence"
INDEX = "presence_index"
HISTORY = "presence_history"
NODES = "presence_nodes"
ALL = "all"
SUMMARY_KEY = ""


def stamp(at: datetime) -> str:
    """ISO-8601 UTC with fixed width, so keys made from it sort in time order."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Connection:
    connection_id: str
    app_id: str
    node: str
    channel: str
    since: str

    def to_json(self) -> dict[str, str]:
        return {"connection_id": self.connection_id, "app_id": self.app_id, "node": self.node,
                "channel": self.channel, "since": self.since}


@dataclass(frozen=True)
class AgencyPresence:
    """One agency's presence: its open connections, and when each app and the agency as a
    whole last changed between online and offline."""

    agency_id: str
    agency_code: str
    since: str
    connections: dict[str, Connection] = field(default_factory=dict)
    app_since: dict[str, str] = field(default_factory=dict)

    @property
    def online(self) -> bool:
        return bool(self.connections)

    def of_app(self, app_id: str) -> list[Connection]:
        return [c for c in self.connections.values() if c.app_id == app_id]

    def summary(self) -> dict[str, Any]:
        conns = sorted(self.connections.values(), key=lambda c: c.since)
        return {"agency_id": self.agency_id, "agency_code": self.agency_code,
                "online": self.online, "since": self.since,
                "apps_online": sorted({c.app_id for c in conns}),
                "nodes": sorted({c.node for c in conns}), "connections": len(conns)}

    def app_row(self, app_id: str) -> dict[str, Any]:
        conns = sorted(self.of_app(app_id), key=lambda c: c.since)
        return {"app_id": app_id, "online": bool(conns), "since": self.app_since.get(app_id),
                "connections": [c.to_json() for c in conns]}

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "app_since": dict(self.app_since),
                "open": [c.to_json() for c in self.connections.values()]}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> AgencyPresence:
        conns = {c["connection_id"]: Connection(**c) for c in body.get("open", [])}
        return cls(body["agency_id"], body["agency_code"], body["since"], conns,
                   dict(body.get("app_since", {})))


def index_ref(agency_id: str) -> RowRef:
    return RowRef(INDEX, ALL, agency_id)


def summary_ref(agency_id: str) -> RowRef:
    return RowRef(PRESENCE, agency_id, SUMMARY_KEY)


def node_ref(node: str) -> RowRef:
    return RowRef(NODES, ALL, node)


@dataclass(frozen=True)
class Step:
    state: AgencyPresence | None
    writes: Writes


def step(before: AgencyPresence | None, event: ev.Event) -> Step:
    """Folds one presence event. A repeated connect, or a disconnect of a connection that
    is not open (already closed, or declared lost twice), changes nothing: the timers of
    several nodes may say the same thing and replays say everything again."""
    if isinstance(event, ev.AgencyConnected):
        return _connected(before, event)
    if isinstance(event, ev.AgencyDisconnected):
        return _disconnected(before, event)
    if isinstance(event, ev.NodeHeartbeat):
        return Step(before, Writes(upserts=[Row(node_ref(event.node), {
            "node": event.node, "started_at": stamp(event.started_at),
            "last_beat": stamp(event.occurred_at), "interval_ms": event.interval_ms})]))
    return Step(before, NOTHING)


def _connected(before: AgencyPresence | None, e: ev.AgencyConnected) -> Step:
    cid, at = e.correlation_id, stamp(e.occurred_at)
    state = before or AgencyPresence(e.agency_id, e.agency_code, at)
    if cid in state.connections:
        return Step(before, NOTHING)
    conn = Connection(cid, e.app_id, e.node, e.channel, at)
    app_since = state.app_since if state.of_app(e.app_id) else {**state.app_since, e.app_id: at}
    after = replace(state, agency_code=e.agency_code, connections={**state.connections, cid: conn},
                    since=state.since if state.online else at, app_since=app_since)
    history = _history(at, "connected", conn, None, None)
    return Step(after, _writes(after, e, history))


def _disconnected(before: AgencyPresence | None, e: ev.AgencyDisconnected) -> Step:
    cid, at = e.correlation_id, stamp(e.occurred_at)
    if before is None or cid not in before.connections:
        return Step(before, NOTHING)
    conn = before.connections[cid]
    rest = {k: c for k, c in before.connections.items() if k != cid}
    after = replace(before, connections=rest, since=before.since if rest else at)
    if not after.of_app(conn.app_id):
        after = replace(after, app_since={**after.app_since, conn.app_id: at})
    duration = max(0.0, (e.occurred_at - parse(conn.since)).total_seconds())
    history = _history(at, "disconnected", conn, e.reason, round(duration, 3))
    return Step(after, _writes(after, e, history))


def _history(at: str, kind: str, conn: Connection, reason: str | None,
             duration: float | None) -> dict[str, Any]:
    """One row of an agency's connection history: a plain dict, ready for JSON or CSV."""
    return {"at": at, "kind": kind, "connection_id": conn.connection_id, "app_id": conn.app_id,
            "node": conn.node, "channel": conn.channel, "reason": reason,
            "connected_at": conn.since, "duration_seconds": duration}


def _writes(state: AgencyPresence, e: ev.AgencyConnected | ev.AgencyDisconnected,
            history: dict[str, Any]) -> Writes:
    return Writes(upserts=[
        Row(index_ref(state.agency_id), state.to_json()),
        Row(summary_ref(state.agency_id), state.summary()),
        Row(RowRef(PRESENCE, state.agency_id, e.app_id), state.app_row(e.app_id)),
        Row(RowRef(HISTORY, state.agency_id, f"{history['at']}|{e.event_id}"), history),
    ])
