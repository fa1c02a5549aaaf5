"""Real-time notices (Điều 4.5): WebSocket and Server-Sent Events, with heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.auth import CurrentApp, websocket_caller
from api.notifications import Connection, Notifier
from hub.errors import TrucError

router = APIRouter(prefix="/v1", tags=["notifications"])
HEARTBEAT_SECONDS = 15.0


def notifier_of(app: Any) -> Notifier:
    notifier: Notifier = app.state.notifier
    return notifier


@router.get("/events")
async def server_sent_events(request: Request, caller: CurrentApp) -> StreamingResponse:
    """Notices as Server-Sent Events; a comment line every 15 s keeps proxies open."""
    notifier = notifier_of(request.app)
    conn = await notifier.connect(caller, "sse")

    async def stream() -> AsyncIterator[bytes]:
        try:
            while True:
                message = await _next(conn, HEARTBEAT_SECONDS)
                if message is None:
                    yield b": heartbeat\n\n"
                    continue
                data = json.dumps(message, ensure_ascii=False)
                yield f"event: {message['type']}\ndata: {data}\n\n".encode()
        finally:
            notifier.disconnect(conn)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


@router.websocket("/ws")
async def websocket(websocket: WebSocket) -> None:
    """Notices over a WebSocket; the hub pings every 15 s and answers the app's pings."""
    try:
        caller = await websocket_caller(websocket)
    except TrucError as refused:
        await websocket.accept()
        await websocket.send_json({"type": "error", "code": refused.code,
                                   "detail": refused.detail})
        await websocket.close(code=4401 if refused.status == 401 else 4403, reason=refused.code)
        return
    await websocket.accept()
    notifier = notifier_of(websocket.app)
    conn = await notifier.connect(caller, "websocket")
    reader = asyncio.create_task(_answer_pings(websocket))
    try:
        while True:
            message = await _next_or_closed(conn, reader, HEARTBEAT_SECONDS)
            if reader.done():
                break
            await websocket.send_json(message or {"type": "ping"})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        notifier.disconnect(conn)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await reader


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


async def _answer_pings(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive_json()
        if isinstance(message, dict) and message.get("type") == "ping":
            await websocket.send_json({"type": "pong"})


async def _next(conn: Connection, seconds: float) -> dict[str, Any] | None:
    try:
        return await asyncio.wait_for(conn.queue.get(), seconds)
    except TimeoutError:
        return None
