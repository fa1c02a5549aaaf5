"""FastAPI dependencies that authenticate every `/v1` call: apps and operators apart.

The signature covers the bytes received, so the raw path, query and headers are taken
from the ASGI scope before any decoding, and the body's SHA-256 from the body as read.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Request, WebSocket

from api.runtime import Runtime
from hub.auth.authenticate import Forbidden, Principal, authenticate
from hub.auth.sessions import Caller
from hub.auth.signing import EMPTY_SHA256, UNSIGNED_PAYLOAD, HttpRequest
from hub.errors import TrucError
from hub.registry.model import Operator, Role


class TooLarge(TrucError):
    code = "payload_too_large"
    status = 413


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def runtime_dep(request: Request) -> Runtime:
    """``runtime_of`` as a dependency: ``async`` so FastAPI calls it on the event loop
    instead of sending a plain ``def`` to its thread pool on every request."""
    return runtime_of(request)


async def http_request(request: Request, *, read_body: bool = True) -> HttpRequest:
    scope = request.scope
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
    raw_path = scope.get("raw_path") or scope["path"].encode()
    declared = request.headers.get("content-length")
    limit = runtime_of(request).settings.chunk_bytes + 64 * 1024
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"a request body has at most {limit} bytes", limit=limit)
    content_header = (request.headers.get("x-truc-content-sha256")
                      or request.headers.get("x-amz-content-sha256"))
    if content_header == UNSIGNED_PAYLOAD or not read_body:
        payload = content_header or UNSIGNED_PAYLOAD
    else:
        payload = hashlib.sha256(await request.body()).hexdigest()
    return HttpRequest(
        method=request.method,
        path=raw_path.decode("utf-8", errors="replace"),
        query=scope.get("query_string", b"").decode("utf-8", errors="replace"),
        headers=headers,
        payload_sha256=payload,
    )


async def principal(request: Request) -> Principal:
    runtime = runtime_of(request)
    return await authenticate(
        await http_request(request), registry=runtime.registry, replay=runtime.backend.replay,
        policy=runtime.signing, now=runtime.backend.clock.now())


async def websocket_caller(websocket: WebSocket) -> Caller:
    """The app behind a WebSocket handshake: a signed GET like any other call."""
    runtime: Runtime = websocket.app.state.runtime
    scope = websocket.scope
    req = HttpRequest(
        method="GET",
        path=(scope.get("raw_path") or scope["path"].encode()).decode("utf-8", "replace"),
        query=scope.get("query_string", b"").decode("utf-8", "replace"),
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]),
        payload_sha256=(websocket.headers.get("x-truc-content-sha256")
                        or websocket.headers.get("x-amz-content-sha256") or EMPTY_SHA256),
    )
    found = await authenticate(req, registry=runtime.registry, replay=runtime.backend.replay,
                               policy=runtime.signing, now=runtime.backend.clock.now())
    return app_caller(found)


def app_caller(found: Principal) -> Caller:
    """The app behind an authenticated call, or ``app_key_required`` for an operator."""
    if found.app is None or found.agency_code is None:
        raise Forbidden("this endpoint is for agency apps; operators use /v1/ops",
                        code="app_key_required")
    return Caller(found.app, found.key, found.agency_code)


async def stream_app(request: Request) -> Caller:
    """The app opening a stream: the stream itself makes it present, not the call.

    Each of these dependencies authenticates by itself rather than through nested
    ``Depends``: FastAPI solves every level of a dependency graph on every request, and
    on the hot routes that bookkeeping cost more than the checks. A route takes exactly
    one of them (the replay guard accepts a signature once)."""
    return app_caller(await principal(request))


async def current_app(request: Request) -> Caller:
    """An app's signed call, which also tells this node's presence tracker it is alive."""
    caller = app_caller(await principal(request))
    presence = getattr(request.app.state, "presence", None)
    if presence is not None:
        await presence.called(caller)
    return caller


def operator_of(found: Principal) -> Operator:
    if found.operator is None:
        raise Forbidden("operator endpoints refuse app keys", code="operator_key_required")
    return found.operator


async def current_operator(request: Request) -> Operator:
    return operator_of(await principal(request))


async def current_admin(request: Request) -> Operator:
    operator = operator_of(await principal(request))
    if operator.role is not Role.ADMIN:
        raise Forbidden(f"this action needs the admin role; you are {operator.role.value}",
                        code="role_not_allowed")
    return operator


CurrentApp = Annotated[Caller, Depends(current_app)]
StreamApp = Annotated[Caller, Depends(stream_app)]
CurrentOperator = Annotated[Operator, Depends(current_operator)]
CurrentAdmin = Annotated[Operator, Depends(current_admin)]
RuntimeDep = Annotated[Runtime, Depends(runtime_dep)]
