"""What one API node knows about presence, and the events it records.

A node holds streams (WebSocket, SSE) and sees signed calls. A stream is a connection from
open to close. Signed calls must not cost an event each: the node keeps, in memory, when
each app last called, records ``AgencyConnected`` (channel ``api``) on the first call of an
app that was silent here, and ``AgencyDisconnected`` (reason ``silence``) once it has been
quiet for the heartbeat interval. Every connection's id is the ``correlation_id`` shared by
its connect and disconnect events. Pure: callers pass the time (from a ``Clock``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub import events as ev

API = "api"
CLOSED = "closed"
SILENCE = "silence"
HEARTBEAT_TIMEOUT = "heartbeat_timeout"
NODE_SHUTDOWN = "node_shutdown"


@dataclass(frozen=True)
class Who:
    agency_id: str
    agency_code: str
    app_id: str


@dataclass
class Session:
    connection_id: str
    who: Who
    channel: str
    last_seen: datetime


def new_id() -> str:
    return str(uuid.uuid4())


class NodePresence:
    """The sessions one node holds. ``silence`` is the heartbeat interval."""

    def __init__(self, node: str, silence: timedelta, started_at: datetime,
                 ids: Callable[[], str] = new_id) -> None:
        self.node = node
        self.silence = silence
        self.started_at = started_at
        self._ids = ids
        self._sessions: dict[str, Session] = {}
        self._api: dict[str, str] = {}  # app id -> its api session

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def open(self, who: Who, channel: str, now: datetime) -> tuple[str, ev.AgencyConnected]:
        """A stream opened: its connection id and the event to record."""
        cid = self._ids()
        self._sessions[cid] = Session(cid, who, channel, now)
        return cid, self._connected(cid, who, channel, now)

    def heard(self, connection_id: str, now: datetime) -> None:
        """The app spoke on its stream (a pong, any message): it is alive."""
        session = self._sessions.get(connection_id)
        if session is not None:
            session.last_seen = now

    def silent(self, connection_id: str, now: datetime) -> bool:
        """True when a stream has heard nothing from its app for the heartbeat interval."""
        session = self._sessions.get(connection_id)
        return session is not None and now - session.last_seen >= self.silence

    def called(self, who: Who, now: datetime) -> ev.AgencyConnected | None:
        """A signed call: the event to record when the app was silent on this node."""
        cid = self._api.get(who.app_id)
        if cid is not None:
            self._sessions[cid].last_seen = now
            return None
        if any(s.who.app_id == who.app_id for s in self._sessions.values()):
            return None  # it holds a stream here: already online
        cid = self._ids()
        self._sessions[cid] = Session(cid, who, API, now)
        self._api[who.app_id] = cid
        return self._connected(cid, who, API, now)

    def close(self, connection_id: str, reason: str, now: datetime
              ) -> ev.AgencyDisconnected | None:
        """A connection ended; None when it had ended already (closed twice)."""
        session = self._sessions.pop(connection_id, None)
        if session is None:
            return None
        if self._api.get(session.who.app_id) == connection_id:
            del self._api[session.who.app_id]
        return ev.AgencyDisconnected(
            event_id=new_id(), occurred_at=now, actor=f"node:{self.node}",
            correlation_id=connection_id, agency_id=session.who.agency_id,
            agency_code=session.who.agency_code, app_id=session.who.app_id, node=self.node,
            reason=reason)

    def sweep(self, now: datetime) -> list[ev.AgencyDisconnected]:
        """Ends the api sessions of apps silent for the heartbeat interval."""
        quiet = [cid for cid in self._api.values() if self.silent(cid, now)]
        return [e for cid in quiet if (e := self.close(cid, SILENCE, now)) is not None]

    def shutdown(self, now: datetime) -> list[ev.AgencyDisconnected]:
        """The node stops: every connection it holds ends now."""
        return [e for cid in list(self._sessions)
                if (e := self.close(cid, NODE_SHUTDOWN, now)) is not None]

    def beat(self, now: datetime) -> ev.NodeHeartbeat:
        return ev.NodeHeartbeat(
            event_id=new_id(), occurred_at=now, actor=f"node:{self.node}",
            correlation_id=f"node:{self.node}", node=self.node, started_at=self.started_at,
            interval_ms=int(self.silence.total_seconds() * 1000))

    def _connected(self, cid: str, who: Who, channel: str, now: datetime
                   ) -> ev.AgencyConnected:
        return ev.AgencyConnected(
            event_id=new_id(), occurred_at=now, actor=who.app_id, correlation_id=cid,
            agency_id=who.agency_id, agency_code=who.agency_code, app_id=who.app_id,
            node=self.node, channel=channel)
