"""Real-time notices (Điều 4.5): WebSocket and Server-Sent Events, with heartbeats.

A stream is a presence connection: opening it records ``AgencyConnected`` and closing it
``AgencyDisconnected``. The hub pings every half heartbeat interval
(``TRUC_HEARTBEAT_SECONDS``); on a WebSocket the app must answer (``{"type": "pong"}``,
or any message) — one that stays silent for a whole interval is closed with code 4408,
reason ``heartbeat_timeout``. SSE cannot talk back: it is present while the stream is open.

A stream ends with what authenticated it (``api.notifications``): when the app or its key
is revoked, or the key expires, the app gets a last ``revoked`` message (its ``code`` says
why) and the stream closes — a WebSocket with code 1008 (policy violation) and that code
as the reason, an SSE stream after an ``event: revoked`` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.auth import StreamApp, websocket_caller
from api.door import DoorRoute
from api.notifications import REVOKED, Connection, Notifier
from api.presence import NodePresenceService
from hub.errors import TrucError
from hub.presence.tracker import CLOSED, HEARTBEAT_TIMEOUT

router = APIRouter(prefix="/v1", tags=["notifications"], route_class=DoorRoute)
HEARTBEAT_TIMEOUT_CLOSE = 4408
POLICY_VIOLATION_CLOSE = 1008


def notifier_of(app: Any) -> Notifier:
    notifier: Notifier = app.state.notifier
    return notifier


def presence_of(app: Any) -> NodePresenceService:
    presence: NodePresenceService = app.state.presence
    return presence


EVENTS = {"description": "Notices, one `event: <type>` and `data: <JSON>` per notice, until "
                          "the stream ends",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}}


@router.get("/events", response_class=StreamingResponse, responses={200: EVENTS})
async def server_sent_events(request: Request, caller: StreamApp) -> StreamingResponse:
    """Notices as Server-Sent Events; a comment line every half heartbeat interval keeps
    proxies open and finds a dead peer."""
    notifier, presence = notifier_of(request.app), presence_of(request.app)
    conn = await notifier.connect(caller, "sse")
    cid = await presence.opened(caller, "sse")
    ping = presence.heartbeat.total_seconds() / 2

    async def stream() -> AsyncIterator[bytes]:
        try:
            while True:
                message = await _next(conn, ping)
                if message is None:
                    yield b": heartbeat\n\n"
                    continue
                data = json.dumps(message, ensure_ascii=False)
                yield f"event: {message['type']}\ndata: {data}\n\n".encode()
                if message["type"] == REVOKED:
                    return
        finally:
            notifier.disconnect(conn)
            await asyncio.shield(presence.closed(cid, REVOKED if conn.ended else CLOSED))

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


@router.websocket("/ws")
async def websocket(websocket: WebSocket) -> None:
    """Notices over a WebSocket; the hub pings, the app pongs, and the hub answers the
    app's own pings."""
    try:
        caller = await websocket_caller(websocket)
    except TrucError as refused:
        await websocket.accept()
        await websocket.send_json({"type": "error", "code": refused.code,
                                   "detail": refused.detail})
        await websocket.close(code=4401 if refused.status == 401 else 4403, reason=refused.code)
        return
    await websocket.accept()
    notifier, presence = notifier_of(websocket.app), presence_of(websocket.app)
    conn = await notifier.connect(caller, "websocket")
    cid = await presence.opened(caller, "websocket")
    reader = asyncio.create_task(_listen(websocket, presence, cid))
    reason = CLOSED
    try:
        reason = await _serve(websocket, conn, reader, presence, cid)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        notifier.disconnect(conn)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await reader
        await asyncio.shield(presence.closed(cid, reason))


async def _serve(websocket: WebSocket, conn: Connection, reader: asyncio.Task[None],
                 presence: NodePresenceService, cid: str) -> str:
    """Sends notices and a ping every half interval until the app hangs up (``closed``),
    stops answering (``heartbeat_timeout``) or loses its credentials (``revoked``)."""
    every = presence.heartbeat.total_seconds() / 2
    next_ping = time.monotonic() + every
    while True:
        message = await _next_or_closed(conn, reader, max(0.0, next_ping - time.monotonic()))
        if reader.done():
            return CLOSED
        if message is not None:
            await websocket.send_json(message)
            if message["type"] == REVOKED:
                await websocket.close(code=POLICY_VIOLATION_CLOSE, reason=message["code"])
                return REVOKED
        if time.monotonic() < next_ping:
            continue
        if presence.silent(cid):
            await websocket.close(code=HEARTBEAT_TIMEOUT_CLOSE, reason=HEARTBEAT_TIMEOUT)
            return HEARTBEAT_TIMEOUT
        await websocket.send_json({"type": "ping"})
        next_ping += every


async def _next_or_closed(conn: Connection, reader: asyncio.Task[None],
                          seconds: float) -> dict[str, Any] | None:
    """The next notice, or None after ``seconds`` — or at once when the app hangs up, so a
    closed socket stops receiving notices now, not at the next heartbeat."""
    getting = asyncio.ensure_future(conn.queue.get())
    done, _ = await asyncio.wait({getting, reader}, timeout=seconds,
                                 return_when=asyncio.FIRST_COMPLETED)
    if getting in done:
        return getting.result()
    getting.cancel()
    return None


async def _listen(websocket: WebSocket, presence: NodePresenceService, cid: str) -> None:
    """Every message from the app proves it alive; a ping is answered with a pong."""
    while True:
        message = await websocket.receive_json()
        presence.heard(cid)
        if isinstance(message, dict) and message.get("type") == "ping":
            await websocket.send_json({"type": "pong"})


async def _next(conn: Connection, seconds: float) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(conn.queue.get(), seconds)
    except TimeoutError:
        return None
