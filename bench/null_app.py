"""The loopback HTTP baseline: a raw ASGI app that does nothing with what it gets.

``PUT /<anything>`` reads and drops the body; ``GET /blob?size=N`` streams N bytes in
1 MiB blocks. Run it with ``uvicorn bench.null_app:app`` (uvloop and httptools, as the hub).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BLOCK = os.urandom(1024 * 1024)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["method"] == "PUT":
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await _answer(send, b"{}", [(b"content-type", b"application/json")])
        return
    size = int(parse_qs(scope["query_string"].decode()).get("size", ["0"])[0])
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(size).encode()),
                            (b"content-type", b"application/octet-stream")]})
    while size > 0:
        part = BLOCK[:min(size, len(BLOCK))]
        size -= len(part)
        await send({"type": "http.response.body", "body": part, "more_body": size > 0})


async def _answer(send: Send, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})
