"""Live notifications on this API node: WebSocket and Server-Sent Events per app.

Every node reads the packages topic (from its end: notices are for now, the inbox is for
what came before) and pushes each notice to the connections of the agency it concerns.
So a notice reaches an app whichever node it is connected to. When a destination app
connects, it is first told of every delivery waiting for it (Điều 10.1); the first time a
delivery is pushed to one of its apps, ``DeliveryNotified`` is recorded.

A stream lives only as long as what authenticated it: the node listens to its registry
view, and the moment it folds in a revocation of the app or its key (``AppRevoked``,
``KeyRevoked``, ``KeyRetired`` whose ``valid_until`` has passed) the app's streams here
get a last ``revoked`` notice, nothing after it, and are closed. A key that merely
expires is checked every ``EXPIRY_CHECK_SECONDS`` while such streams are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from api.runtime import Runtime
from hub import events as ev
from hub.auth.sessions import Caller, lapsed
from hub.packages.model import DeliveryState, Package
from hub.packages.notices import available, notices
from hub.packages.processor import INBOX, package_ref
from hub.ports import Recorded
from hub.registry.model import Operation
from hub.topics import PACKAGES, record
from streams.shown import package_showing

log = logging.getLogger(__name__)
QUEUE = 1000
SEEN = 100_000
EXPIRY_CHECK_SECONDS = 0.5
PATIENCE = 5.0
"""Seconds a notice waits for the package's read model to show its event."""
REVOKED = "revoked"
REVOCATIONS = (ev.AppRevoked, ev.KeyRevoked, ev.KeyRetired)
"""Registry events after which an app's open streams are checked again."""
DETAIL = {
    "app_revoked": "this app has been revoked",
    "key_revoked": "the key this stream was opened with has been revoked",
    "key_expired": "the key this stream was opened with is no longer valid",
    "agency_removed": "this app's agency is no longer registered",
}


@dataclass(eq=False)
class Connection:
    caller: Caller
    channel: str
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE))
    ended: str | None = None

    def push(self, message: dict[str, Any]) -> bool:
        if self.ended is not None:
            return False
        try:
            self.queue.put_nowait(message)
            return True
        except asyncio.QueueFull:
            log.warning("dropping a notice for app %s: its queue is full",
                        self.caller.app.app_id)
            return False

    def end(self, code: str) -> None:
        """Drops what is queued and leaves one last message, ``revoked``: the stream
        sends it and closes."""
        self.ended = code
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait({"type": REVOKED, "code": code,
                               "detail": DETAIL.get(code, "this stream's credentials lapsed")})


class Notifier:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._by_agency: dict[str, set[Connection]] = defaultdict(set)
        self._by_app: dict[str, set[Connection]] = defaultdict(set)
        self._expiring: set[Connection] = set()
        self._notified: set[tuple[str, str]] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._expiry: asyncio.Task[None] | None = None
        self._unlisten = runtime.view.listen(self._registry_changed)

    @property
    def connections(self) -> int:
        return sum(len(c) for c in self._by_agency.values())

    async def start(self) -> None:
        ends = await self.rt.backend.events.end_offsets(PACKAGES)
        start = {(PACKAGES, p): off for p, off in ends.items()}
        self._task = asyncio.create_task(self._follow(start), name="notifier")
        self._expiry = asyncio.create_task(self._check_expiring(), name="stream-expiry")

    async def stop(self) -> None:
        self._unlisten()
        for task in (self._task, self._expiry):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # --- streams end with what authenticated them ------------------------------------

    def _registry_changed(self, event: ev.Event) -> None:
        """A revocation folded into this node's view ends the app's streams here at once
        (before any later notice could be pushed to them)."""
        if not isinstance(event, REVOCATIONS):
            return
        for conn in list(self._by_app.get(event.app_id, ())):
            try:
                self._check(conn)
            except Exception:  # never let one stream stop the registry follower
                log.exception("could not check a stream of app %s", event.app_id)

    def _check(self, conn: Connection) -> bool:
        """Ends ``conn`` if its app or key no longer holds; True while it lives."""
        caller = conn.caller
        key = self.rt.view.registry.keys.get(caller.key.key_id)
        if key is not None and key.valid_until is not None:
            self._expiring.add(conn)
        gone = lapsed(self.rt.view.registry, caller.app.app_id, caller.key.key_id,
                      self.rt.backend.clock.now())
        if gone is None:
            return True
        log.info("ending the %s stream of app %s: %s", conn.channel, caller.app.app_id, gone)
        self.disconnect(conn)
        conn.end(gone)
        return False

    async def _check_expiring(self) -> None:
        """Keys with a ``valid_until`` expire with no event: their streams are checked
        every ``EXPIRY_CHECK_SECONDS`` (only those: usually none)."""
        while True:
            await asyncio.sleep(EXPIRY_CHECK_SECONDS)
            for conn in list(self._expiring):
                try:
                    self._check(conn)
                except Exception:
                    log.exception("could not check a stream's key expiry")

    async def _follow(self, start: dict[tuple[str, int], int]) -> None:
        while True:
            try:
                async for recorded in self.rt.backend.events.subscribe([PACKAGES], start):
                    start[(PACKAGES, recorded.position.partition)] = recorded.position.offset + 1
                    await self._dispatch(recorded)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notifier failed; resuming in 1 s")
                await asyncio.sleep(1)

    async def _dispatch(self, recorded: Recorded) -> None:
        event = recorded.event
        package_id = getattr(event, "package_id", None)
        if package_id is None or not self._listening(event) or self._already_told(event):
            return
        told = notices(event, await self._package_showing(recorded, package_id),
                       self.rt.view.registry,
                       timedelta(seconds=self.rt.settings.receiver_wait_seconds))
        for agency_id, message in told:
            await self._tell(agency_id, message)

    def _already_told(self, event: ev.Event) -> bool:
        """A processor that crashed re-emits derived events with the same id: tell once."""
        if event.event_id in self._seen:
            return True
        self._seen[event.event_id] = None
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        return False

    def _listening(self, event: ev.Event) -> bool:
        """Skips a projection read when nobody connected here could be told."""
        return bool(self._by_agency) and not isinstance(
            event, ev.ChunkStored | ev.SpaceGranted | ev.PackageRequested | ev.DeliveryNotified)

    async def _package_showing(self, recorded: Recorded, package_id: str) -> Package | None:
        """Within ``PATIENCE``: one late row must not hold back every other notice (a
        ``package.completed`` was told while the package still read as not shredded:
        CI, distributed)."""
        return await package_showing(self.rt.backend.projections, self.rt.applied, recorded,
                                     package_id, PATIENCE)

    async def _package(self, package_id: str) -> Package | None:
        row = await self.rt.backend.projections.get(package_ref(package_id))
        return None if row is None else Package.from_json(dict(row.body))

    async def _tell(self, agency_id: str, message: dict[str, Any]) -> None:
        connections = list(self._by_agency.get(agency_id, ()))
        delivered = [c for c in connections
                     if (c not in self._expiring or self._check(c)) and c.push(message)]
        if delivered and message["type"] == "package.available":
            await self._record_notified(message["package_id"], delivered[0])

    async def _record_notified(self, package_id: str, conn: Connection) -> None:
        key = (package_id, conn.caller.app.agency_id)
        if key in self._notified:
            return
        self._notified.add(key)
        await record(self.rt.backend.events, ev.DeliveryNotified(
            event_id=str(uuid.uuid4()), occurred_at=self.rt.backend.clock.now(),
            actor=f"node:{self.rt.settings.node_id}", correlation_id=package_id,
            package_id=package_id, destination_agency_id=conn.caller.app.agency_id,
            app_id=conn.caller.app.app_id, channel=conn.channel))

    async def connect(self, caller: Caller, channel: str) -> Connection:
        conn = Connection(caller, channel)
        self._by_agency[caller.app.agency_id].add(conn)
        self._by_app[caller.app.app_id].add(conn)
        if not self._check(conn):  # revoked while it was being authenticated
            return conn
        conn.push({"type": "hello", "agency": caller.agency_code, "app_id": caller.app.app_id,
                   "node": self.rt.settings.node_id})
        if caller.app.grants and caller.app.grants.allows(Operation.RECEIVE):
            await self._tell_waiting(conn)
        return conn

    async def _tell_waiting(self, conn: Connection) -> None:
        rows = await self.rt.backend.projections.scan(INBOX, conn.caller.app.agency_id)
        for row in rows:
            pkg = await self._package(str(row.body["package_id"]))
            if pkg is None:
                continue
            _agency_id, message = available(pkg, conn.caller.app.agency_id)
            if conn.push(message) and row.body.get("delivery_state") == DeliveryState.PLANNED:
                await self._record_notified(pkg.package_id, conn)

    def disconnect(self, conn: Connection) -> None:
        self._expiring.discard(conn)
        for index, key in ((self._by_agency, conn.caller.app.agency_id),
                           (self._by_app, conn.caller.app.app_id)):
            held = index.get(key)
            if held is not None:
                held.discard(conn)
                if not held:
                    del index[key]


