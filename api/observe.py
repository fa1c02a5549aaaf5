"""Every HTTP request measured and logged once, by a plain ASGI middleware.

It gives the request an id (the caller's ``X-Request-Id`` if it sent a sane one, else a
new one), returns it as ``X-Request-Id``, counts the request and its duration under the
route *template* (``/v1/packages/{package_id}``, never the raw path: labels stay few)
and its status, and writes one log line with the app, agency and package concerned.
A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: it neither buffers nor
re-wraps streamed bodies and WebSockets, and costs a few microseconds per request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.door import PRINCIPAL
from api.metrics import REQUEST_SECONDS, REQUESTS

log = logging.getLogger("truc.requests")
UNMATCHED = "<unmatched>"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if _SANE_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def who(scope: Scope) -> dict[str, Any]:
    """The app, agency or operator the door authenticated, and the package concerned."""
    found = scope.get(PRINCIPAL)
    params = scope.get("path_params") or {}
    context: dict[str, Any] = {"package_id": params.get("package_id")}
    if found is not None:
        context["app"] = found.app.app_id if found.app is not None else None
        context["agency"] = found.agency_code
        context["operator"] = (found.operator.operator_id if found.operator is not None
                               else None)
    console = scope.get("truc.console_login")
    if console is not None:
        context["operator"] = console
    return context


class Observe:
    def __init__(self, app: ASGIApp, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope["truc.request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        status = 0
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            status = status or 500
            raise
        finally:
            self._done(scope, request_id, status, time.perf_counter() - started)

    def _done(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = route_of(scope)
        method = scope.get("method", "WS")
        code = str(status or (101 if scope["type"] == "websocket" else 0))
        REQUESTS.labels(method, route, code).inc()
        REQUEST_SECONDS.labels(method, route).observe(seconds)
        if self.log_requests:
            log.info("%s %s %s", method, scope.get("path", ""), code, extra={
                "request_id": request_id, "method": method, "route": route,
                "status": int(code), "ms": round(seconds * 1000, 2), **who(scope)})
