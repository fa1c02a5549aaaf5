"""FastAPI dependencies that authenticate every `/v1` call: apps and operators apart.

The door (``api.door``) authenticates a call before its route runs, from the headers
first and the body after; these dependencies take the caller it found and check its kind.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket

from api.door import TooLarge, principal_of, scope_request, signed, signed_once
from api.runtime import Runtime
from hub.auth.authenticate import Forbidden, Principal, authenticate
from hub.auth.sessions import Caller
from hub.registry.model import Operator, Role

ADMIN_CATCH_UP_SECONDS = 10.0
"""How long an admin call waits for this node's registry view (then 503 registry_lagging)."""


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def runtime_dep(request: Request) -> Runtime:
    """``runtime_of`` as a dependency: ``async`` so FastAPI calls it on the event loop
    instead of sending a plain ``def`` to its thread pool on every request."""
    return runtime_of(request)


@signed
async def principal(request: Request) -> Principal:
    """The caller, authenticated by the door (``api.door``) before the body was read."""
    return await principal_of(request)


async def websocket_caller(websocket: WebSocket) -> Caller:
    """The app behind a WebSocket handshake: a signed GET like any other call."""
    runtime: Runtime = websocket.app.state.runtime
    req = scope_request(websocket.scope, "GET")
    found = await authenticate(req, registry=runtime.registry, replay=runtime.backend.replay,
                               policy=runtime.signing, now=runtime.backend.clock.now(),
                               allow_unsigned_payload=False)
    return app_caller(found)


def app_caller(found: Principal) -> Caller:
    """The app behind an authenticated call, or ``app_key_required`` for an operator."""
    if found.app is None or found.agency_code is None:
        raise Forbidden("this endpoint is for agency apps; operators use /v1/ops",
                        code="app_key_required")
    return Caller(found.app, found.key, found.agency_code)


@signed
async def stream_app(request: Request) -> Caller:
    """The app opening a stream: the stream itself makes it present, not the call.

    Each of these dependencies authenticates by itself rather than through nested
    ``Depends``: FastAPI solves every level of a dependency graph on every request, and
    on the hot routes that bookkeeping cost more than the checks. A route takes exactly
    one of them (the replay guard accepts a signature once)."""
    return app_caller(await principal(request))


@signed
async def current_app(request: Request) -> Caller:
    """An app's signed call, which also tells this node's presence tracker it is alive."""
    return await _called(request, app_caller(await principal(request)))


@signed_once
async def current_app_once(request: Request) -> Caller:
    """``current_app`` for a PUT that is not idempotent: the door accepts its signature
    once (``api.door.signed_once``)."""
    return await _called(request, app_caller(await principal(request)))


async def _called(request: Request, caller: Caller) -> Caller:
    presence = getattr(request.app.state, "presence", None)
    if presence is not None:
        await presence.called(caller)
    return caller


def operator_of(found: Principal) -> Operator:
    if found.operator is None:
        raise Forbidden("operator endpoints refuse app keys", code="operator_key_required")
    return found.operator


@signed
async def current_operator(request: Request) -> Operator:
    return operator_of(await principal(request))


@signed
async def current_admin(request: Request) -> Operator:
    """An admin's call changes the registry: it is decided on this node's view once that
    view has folded every registry event recorded so far, wherever it was recorded — an
    operator behind a load balancer who added an agency on one API node adds its app on
    the next at once (it was ``404 unknown_agency`` while this node lagged)."""
    operator = operator_of(await principal(request))
    if operator.role is not Role.ADMIN:
        raise Forbidden(f"this action needs the admin role; you are {operator.role.value}",
                        code="role_not_allowed")
    await runtime_of(request).registry.catch_up(ADMIN_CATCH_UP_SECONDS)
    return operator


CurrentApp = Annotated[Caller, Depends(current_app)]
CurrentAppOnce = Annotated[Caller, Depends(current_app_once)]
StreamApp = Annotated[Caller, Depends(stream_app)]
CurrentOperator = Annotated[Operator, Depends(current_operator)]
CurrentAdmin = Annotated[Operator, Depends(current_admin)]
RuntimeDep = Annotated[Runtime, Depends(runtime_dep)]

__all__ = ["CurrentAdmin", "CurrentApp", "CurrentOperator", "RuntimeDep", "StreamApp",
           "TooLarge", "principal", "runtime_dep", "runtime_of"]
