"""This API node's presence duties: record who connects here, beat, and end what goes quiet.

Events go through an in-memory queue drained by one writer task, so presence adds no
log round trip to a call or a stream's opening; a node that crashes loses its queue,
which the watchdog covers like the rest of what the node held.

Wraps the pure ``hub.presence.tracker.NodePresence`` with the log and the clock. One
background task beats (``NodeHeartbeat``) every heartbeat interval and sweeps silent api
sessions four times per interval; on a clean stop every connection held here ends with
reason ``node_shutdown``. A crash ends them through the watchdog instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from api.runtime import Runtime
from hub import events as ev
from hub.auth.sessions import Caller
from hub.presence.tracker import NodePresence, Who
from hub.topics import record

log = logging.getLogger(__name__)


def who(caller: Caller) -> Who:
    return Who(caller.app.agency_id, caller.agency_code, caller.app.app_id)


class NodePresenceService:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.heartbeat = timedelta(seconds=runtime.settings.heartbeat_seconds)
        clock = runtime.backend.clock
        self.tracker = NodePresence(runtime.settings.node_id, self.heartbeat, clock.now())
        self._task: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[ev.Event] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return self.rt.backend.clock.now()

    async def start(self) -> None:
        await self._append(self.tracker.beat(self.now()))  # known before any connection
        self._writer = asyncio.create_task(self._write(), name="node-presence-writer")
        self._task = asyncio.create_task(self._run(), name="node-presence")

    async def stop(self, seconds: float = 5) -> None:
        """Ends every connection held here and writes what is still queued."""
        for task in (self._task, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for event in self.tracker.shutdown(self.now()):
            await self._record(event)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while not self._outbox.empty():
                    await self._append(self._outbox.get_nowait())

    async def opened(self, caller: Caller, channel: str) -> str:
        cid, event = self.tracker.open(who(caller), channel, self.now())
        await self._record(event)
        return cid

    async def closed(self, connection_id: str, reason: str) -> None:
        event = self.tracker.close(connection_id, reason, self.now())
        if event is not None:
            await self._record(event)

    def heard(self, connection_id: str) -> None:
        self.tracker.heard(connection_id, self.now())

    def silent(self, connection_id: str) -> bool:
        return self.tracker.silent(connection_id, self.now())

    async def called(self, caller: Caller) -> None:
        event = self.tracker.called(who(caller), self.now())
        if event is not None:
            await self._record(event)

    async def _run(self) -> None:
        sweeps_per_beat, n = 4, 0
        while True:
            await asyncio.sleep(self.heartbeat.total_seconds() / sweeps_per_beat)
            try:
                n += 1
                if n % sweeps_per_beat == 0:
                    await self._record(self.tracker.beat(self.now()))
                for event in self.tracker.sweep(self.now()):
                    await self._record(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("presence sweep failed; retrying")

    async def _record(self, event: ev.Event) -> None:
        """Queues the event: a call or a stream never waits for the log. One writer
        appends in order, so a connection's connect always precedes its disconnect."""
        self._outbox.put_nowait(event)

    async def _write(self) -> None:
        while True:
            await self._append(await self._outbox.get())

    async def _append(self, event: ev.Event) -> None:
        """Presence never fails a call or a stream: an event the log refused is logged
        and lost (a lost connect hides that session; a lost disconnect leaves it open in
        the read model until the node restarts and the watchdog ends it)."""
        try:
            await record(self.rt.backend.events, event)
        except Exception:
            log.exception("could not record %s", type(event).__name__)
