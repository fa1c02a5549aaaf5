"""Live notifications on this API node: WebSocket and Server-Sent Events per app.

Every node reads the packages topic (from its end: notices are for now, the inbox is for
what came before) and pushes each notice to the connections of the agency it concerns.
So a notice reaches an app whichever node it is connected to. When a destination app
connects, it is first told of every delivery waiting for it (Điều 10.1); the first time a
delivery is pushed to one of its apps, ``DeliveryNotified`` is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any

from api.runtime import Runtime
from hub import events as ev
from hub.auth.sessions import Caller
from hub.packages.model import DeliveryState, Package
from hub.packages.notices import available, notices
from hub.packages.processor import INBOX, TRACKER, package_ref
from hub.ports import Recorded
from hub.registry.model import Operation
from hub.topics import PACKAGES, record

log = logging.getLogger(__name__)
QUEUE = 1000
SEEN = 100_000


@dataclass(eq=False)
class Connection:
    caller: Caller
    channel: str
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE))

    def push(self, message: dict[str, Any]) -> bool:
        try:
            self.queue.put_nowait(message)
            return True
        except asyncio.QueueFull:
            log.warning("dropping a notice for app %s: its queue is full",
                        self.caller.app.app_id)
            return False


class Notifier:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._by_agency: dict[str, set[Connection]] = defaultdict(set)
        self._notified: set[tuple[str, str]] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    @property
    def connections(self) -> int:
        return sum(len(c) for c in self._by_agency.values())

    async def start(self) -> None:
        ends = await self.rt.backend.events.end_offsets(PACKAGES)
        start = {(PACKAGES, p): off for p, off in ends.items()}
        self._task = asyncio.create_task(self._follow(start), name="notifier")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
        try:  # tell only once the read model shows it, so a client reading next agrees
            await self.rt.applied.wait(TRACKER, recorded.position, seconds=5)
        except TimeoutError:
            log.warning("package processor is behind; notifying before it catches up")
        for agency_id, message in notices(event, await self._package(package_id)):
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

    async def _package(self, package_id: str) -> Package | None:
        row = await self.rt.backend.projections.get(package_ref(package_id))
        return None if row is None else Package.from_json(dict(row.body))

    async def _tell(self, agency_id: str, message: dict[str, Any]) -> None:
        connections = list(self._by_agency.get(agency_id, ()))
        delivered = [c for c in connections if c.push(message)]
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
        agency = self._by_agency.get(conn.caller.app.agency_id)
        if agency is not None:
            agency.discard(conn)
            if not agency:
                del self._by_agency[conn.caller.app.agency_id]


