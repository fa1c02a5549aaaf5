"""The cluster-wide presence timer rule: connections of a node that stopped are lost.

A node that crashes records nothing, so its connections would look open for ever. Each
node beats (``NodeHeartbeat``) every heartbeat interval; the watchdog, run by one process
for the whole hub, declares a connection lost (``AgencyDisconnected``, reason
``node_lost``) when its node missed ``missed`` beats in a row, or when the node has
restarted since the connection opened (what the previous run held is gone). The loss is
dated at the node's last beat (or its restart), so durations do not count the time it
took to notice. The event id
is derived from the connection, so saying it twice records the same fact, which the fold
ignores.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub import events as ev
from hub.presence.model import Connection, parse

NODE_LOST = "node_lost"
_IDS = uuid.UUID("6c1e0f52-3d0a-4a8e-9a57-2f8b2f6f0a11")


@dataclass(frozen=True)
class NodeBeat:
    node: str
    started_at: datetime
    last_beat: datetime
    interval: timedelta

    @classmethod
    def from_json(cls, body: dict[str, object]) -> NodeBeat:
        return cls(str(body["node"]), parse(str(body["started_at"])),
                   parse(str(body["last_beat"])),
                   timedelta(milliseconds=int(str(body["interval_ms"]))))


def is_lost(conn: Connection, node: NodeBeat, now: datetime, missed: int) -> bool:
    if node.started_at > parse(conn.since):
        return True
    return now - node.last_beat > node.interval * missed


def lost(by_node: Mapping[str, Iterable[Connection]], nodes: Mapping[str, NodeBeat],
         now: datetime, missed: int) -> list[ev.AgencyDisconnected]:
    """Every open connection whose node is gone, as the events that end them. A node
    records its first beat before any connection, so every node holding one is known."""
    return [_lost(conn, node) for name, node in nodes.items()
            for conn in by_node.get(name, ()) if is_lost(conn, node, now, missed)]


def lost_at(conn: Connection, node: NodeBeat) -> datetime:
    """When the connection was last known alive: the node's last beat — or, when the node
    has restarted since, its new start — never before the connection opened."""
    since = parse(conn.since)
    return max(since, node.started_at if node.started_at > since else node.last_beat)


def _lost(conn: Connection, node: NodeBeat) -> ev.AgencyDisconnected:
    return ev.AgencyDisconnected(
        event_id=str(uuid.uuid5(_IDS, f"{conn.connection_id}:{NODE_LOST}")),
        occurred_at=lost_at(conn, node),
        actor="presence-watchdog", correlation_id=conn.connection_id,
        agency_id=conn.agency_id, agency_code=conn.agency_code, app_id=conn.app_id,
        node=conn.node, reason=NODE_LOST)
