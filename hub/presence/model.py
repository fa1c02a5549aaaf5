"""Per-agency presence: a pure fold of connect/disconnect events, and the rows it writes.

Every row has a bounded size, whatever the number of connections (an agency may hold
thousands of streams): the state keeps counts, and each open connection is a row of its own.

Views (the ``presence`` layout is a contract other processors read — keep it):

- ``presence`` — partition = agency id; key ``""`` is the agency summary
  ``{agency_id, agency_code, online, since, connections, apps_online, nodes}``; key = app
  id is that app's ``{app_id, online, since, connections, nodes, channels}``.
- ``presence_index`` — partition ``all``, key = agency id: the fold's state (counts per app
  and node), read as one list by the operators.
- ``presence_open`` — partition = agency id, key = connection id: each open connection.
- ``presence_by_node`` — partition = node, key = connection id: the same, by node, for the
  watchdog.
- ``presence_history`` — partition = agency id, key = time|event id: one row per connect
  and per disconnect (with the connection's duration).
- ``presence_nodes`` — partition ``all``, key = node: its last heartbeat and run start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from hub import events as ev
from hub.ports import Row, RowRef
from hub.projection import NOTHING, Writes

TRACKER = "presence"
PRESENCE = "presence"
INDEX = "presence_index"
OPEN = "presence_open"
BY_NODE = "presence_by_node"
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
    agency_id: str
    agency_code: str
    app_id: str
    node: str
    channel: str
    since: str

    def to_json(self) -> dict[str, str]:
        return {"connection_id": self.connection_id, "agency_id": self.agency_id,
                "agency_code": self.agency_code, "app_id": self.app_id, "node": self.node,
                "channel": self.channel, "since": self.since}

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Connection:
        return cls(**{k: str(body[k]) for k in (
            "connection_id", "agency_id", "agency_code", "app_id", "node", "channel",
            "since")})


def _count(counts: Mapping[str, int], key: str, delta: int) -> dict[str, int]:
    found = {**counts, key: counts.get(key, 0) + delta}
    return {k: n for k, n in found.items() if n > 0}


@dataclass(frozen=True)
class AgencyPresence:
    """One agency's presence: how many connections it holds per app, node and channel,
    and when the agency and each app last changed between online and offline."""

    agency_id: str
    agency_code: str
    since: str
    apps: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, int] = field(default_factory=dict)
    app_channels: dict[str, dict[str, int]] = field(default_factory=dict)
    app_nodes: dict[str, dict[str, int]] = field(default_factory=dict)
    app_since: dict[str, str] = field(default_factory=dict)

    @property
    def connections(self) -> int:
        return sum(self.apps.values())

    @property
    def online(self) -> bool:
        return self.connections > 0

    def counted(self, conn: Connection, delta: int, at: str) -> AgencyPresence:
        """The state with one connection more (+1) or less (-1) at time ``at``."""
        apps = _count(self.apps, conn.app_id, delta)
        turned = (conn.app_id in apps) != (conn.app_id in self.apps)
        after = replace(
            self, agency_code=conn.agency_code, apps=apps,
            nodes=_count(self.nodes, conn.node, delta),
            app_channels={**self.app_channels, conn.app_id: _count(
                self.app_channels.get(conn.app_id, {}), conn.channel, delta)},
            app_nodes={**self.app_nodes, conn.app_id: _count(
                self.app_nodes.get(conn.app_id, {}), conn.node, delta)},
            app_since={**self.app_since, conn.app_id: at} if turned else self.app_since)
        return replace(after, since=at) if after.online != self.online else after

    def summary(self) -> dict[str, Any]:
        return {"agency_id": self.agency_id, "agency_code": self.agency_code,
                "online": self.online, "since": self.since, "connections": self.connections,
                "apps_online": sorted(self.apps), "nodes": sorted(self.nodes)}

    def app_row(self, app_id: str) -> dict[str, Any]:
        return {"app_id": app_id, "online": app_id in self.apps,
                "since": self.app_since.get(app_id), "connections": self.apps.get(app_id, 0),
                "nodes": dict(self.app_nodes.get(app_id, {})),
                "channels": dict(self.app_channels.get(app_id, {}))}

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "apps": dict(self.apps), "nodes": dict(self.nodes),
                "app_channels": self.app_channels, "app_nodes": self.app_nodes,
                "app_since": dict(self.app_since)}

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> AgencyPresence:
        return cls(str(body["agency_id"]), str(body["agency_code"]), str(body["since"]),
                   dict(body["apps"]), dict(body["nodes"]), dict(body["app_channels"]),
                   dict(body["app_nodes"]), dict(body["app_since"]))


def index_ref(agency_id: str) -> RowRef:
    return RowRef(INDEX, ALL, agency_id)


def summary_ref(agency_id: str) -> RowRef:
    return RowRef(PRESENCE, agency_id, SUMMARY_KEY)


def open_ref(agency_id: str, connection_id: str) -> RowRef:
    return RowRef(OPEN, agency_id, connection_id)


def node_ref(node: str) -> RowRef:
    return RowRef(NODES, ALL, node)


@dataclass(frozen=True)
class Step:
    state: AgencyPresence | None
    writes: Writes


def step(before: AgencyPresence | None, open_: Connection | None, event: ev.Event) -> Step:
    """Folds one presence event, given the agency's state and the open connection the
    event names (its ``correlation_id``), if any. A repeated connect, or a disconnect of a
    connection that is not open (closed already, or declared lost twice), changes nothing:
    several timers may say the same thing and replays say everything again."""
    if isinstance(event, ev.AgencyConnected) and open_ is None:
        return _connected(before, event)
    if isinstance(event, ev.AgencyDisconnected) and open_ is not None and before is not None:
        return _disconnected(before, open_, event)
    if isinstance(event, ev.NodeHeartbeat):
        return Step(before, Writes(upserts=[Row(node_ref(event.node), {
            "node": event.node, "started_at": stamp(event.started_at),
            "last_beat": stamp(event.occurred_at), "interval_ms": event.interval_ms})]))
    return Step(before, NOTHING)


def _connected(before: AgencyPresence | None, e: ev.AgencyConnected) -> Step:
    at = stamp(e.occurred_at)
    conn = Connection(e.correlation_id, e.agency_id, e.agency_code, e.app_id, e.node,
                      e.channel, at)
    state = before or AgencyPresence(e.agency_id, e.agency_code, at)
    after = state.counted(conn, +1, at)
    rows = [Row(open_ref(e.agency_id, conn.connection_id), conn.to_json()),
            Row(RowRef(BY_NODE, conn.node, conn.connection_id), conn.to_json())]
    return Step(after, _writes(after, e, _history(at, "connected", conn, None, None), rows))


def _disconnected(before: AgencyPresence, conn: Connection, e: ev.AgencyDisconnected
                  ) -> Step:
    at = stamp(e.occurred_at)
    after = before.counted(conn, -1, at)
    duration = round(max(0.0, (e.occurred_at - parse(conn.since)).total_seconds()), 3)
    writes = _writes(after, e, _history(at, "disconnected", conn, e.reason, duration), [])
    return Step(after, Writes(upserts=writes.upserts, deletes=[
        open_ref(conn.agency_id, conn.connection_id),
        RowRef(BY_NODE, conn.node, conn.connection_id)]))


def _history(at: str, kind: str, conn: Connection, reason: str | None,
             duration: float | None) -> dict[str, Any]:
    """One row of an agency's connection history: a plain dict, ready for JSON or CSV."""
    return {"at": at, "kind": kind, "connection_id": conn.connection_id, "app_id": conn.app_id,
            "node": conn.node, "channel": conn.channel, "reason": reason,
            "connected_at": conn.since, "duration_seconds": duration}


def history_key(row: Mapping[str, Any], event_id: str) -> str:
    """Time order, and a connect before its disconnect at the same millisecond: a loss
    noticed late is dated when the connection was last known alive, which can be the
    very moment it opened."""
    return f"{row['at']}|{0 if row['kind'] == 'connected' else 1}|{event_id}"


def _writes(state: AgencyPresence, e: ev.AgencyConnected | ev.AgencyDisconnected,
            history: dict[str, Any], more: list[Row]) -> Writes:
    return Writes(upserts=[
        Row(index_ref(state.agency_id), state.to_json()),
        Row(summary_ref(state.agency_id), state.summary()),
        Row(RowRef(PRESENCE, state.agency_id, e.app_id), state.app_row(e.app_id)),
        Row(RowRef(HISTORY, state.agency_id, history_key(history, e.event_id)), history),
        *more,
    ])
