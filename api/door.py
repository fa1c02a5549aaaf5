"""The door every HTTP request passes before its route runs: credentials before the body.

FastAPI reads and parses a route's JSON body before it solves the route's dependencies, so
an authentication dependency alone comes too late: a caller with no key could make the hub
buffer a body of any size, or parse one nested 100 000 deep. :class:`DoorRoute` runs first:

1. the signature headers (``hub.auth.authenticate.admit``): a caller with no valid
   credentials is refused (401) before a byte of the body is read;
2. the body, read as it streams, refused (413) once it passes the route's limit
   (``TRUC_MAX_BODY_BYTES``, or the chunk size on a chunk upload), hashed as it comes;
3. its hash against the signed one, then replay (``complete``);
4. only then is the JSON parsed, by FastAPI, and only if it is nested at most
   ``TRUC_MAX_JSON_DEPTH`` deep.

A refusal before the body is read closes the connection (``Connection: close``) when the
body is chunked or declared over twice the limit, so the server does not go on reading it;
a smaller one is read and dropped, so that the client reads the refusal (``drainable``).
Slow headers and slow bodies are cut off below, in the HTTP protocol (``api.protocol``).
See docs/operating.md, *Limits and timeouts*.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Coroutine
from itertools import accumulate
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from api.problems import error_response
from api.runtime import Runtime
from hub.auth.authenticate import Principal, admit, complete
from hub.auth.signing import AWS4, EMPTY_SHA256, TRUC4, HttpRequest
from hub.errors import InvalidRequest, TrucError
from infra.settings import Settings

PRINCIPAL = "truc.principal"
"""Where the door leaves the authenticated caller in the ASGI scope for the dependencies."""
F = TypeVar("F", bound=Callable[..., Any])


class TooLarge(TrucError):
    code = "payload_too_large"
    status = 413


def signed(dependency: F) -> F:
    """Marks an authentication dependency: a route that uses it is authenticated by the door."""
    dependency.__truc_signed__ = True  # type: ignore[attr-defined]
    return dependency


def signed_once(dependency: F) -> F:
    """Marks an authentication dependency whose route refuses a signature seen before even
    for a PUT: each call changes something (a new webhook secret), so a replay must not."""
    dependency.__truc_once__ = True  # type: ignore[attr-defined]
    return signed(dependency)


def chunk_upload(endpoint: F) -> F:
    """Marks a route that takes a chunk: its limit is the chunk size, and it accepts
    ``UNSIGNED-PAYLOAD`` (each chunk carries its own SHA-256, which the hub checks)."""
    endpoint.__truc_chunk__ = True  # type: ignore[attr-defined]
    return endpoint


def whole_content(endpoint: F) -> F:
    """Marks a route whose JSON body carries a whole chunk of content in base64 (a small
    package sent in one call): its limit is ``content_limit``, not ``TRUC_MAX_BODY_BYTES``."""
    endpoint.__truc_content__ = True  # type: ignore[attr-defined]
    return endpoint


ENVELOPE_BYTES = 64 * 1024
"""Room for the metadata around base64 content (recipients, title, policy…)."""


def content_limit(settings: Settings) -> int:
    """A chunk in base64 (4 bytes per 3), and its envelope."""
    return 4 * -(-settings.chunk_bytes // 3) + ENVELOPE_BYTES


def body_limit(settings: Settings, chunk: bool, content: bool = False) -> int:
    if chunk:
        return settings.chunk_bytes
    return content_limit(settings) if content else settings.max_body_bytes


def _is_signed(dependant: Dependant) -> bool:
    return _marked(dependant, "__truc_signed__")


def _marked(dependant: Dependant, mark: str) -> bool:
    return getattr(dependant.call, mark, False) or any(
        _marked(d, mark) for d in dependant.dependencies)


class DoorRoute(APIRoute):
    """An ``APIRoute`` that authenticates from the headers, then reads the body bounded,
    before FastAPI's own handler parses anything (see the module's docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler behind the door (``APIRoute.__init__`` calls this last)."""
        handler = super().get_route_handler()
        signed = self.signed = _is_signed(self.dependant)
        chunk = self.chunk = bool(getattr(self.endpoint, "__truc_chunk__", False))
        json_body = self.json_body = self.body_field is not None
        content = self.content = bool(getattr(self.endpoint, "__truc_content__", False))
        once = self.once = _marked(self.dependant, "__truc_once__")

        async def door(request: Request) -> Response:
            try:
                await enter(request, signed=signed, chunk=chunk, json_body=json_body, once=once,
                            content=content)
            except TrucError as exc:
                settings = request.app.state.runtime.settings
                response = error_response(exc, settings.retry_after_seconds)
                if not hasattr(request, "_body") and not drainable(request, chunk, content):
                    response.headers["connection"] = "close"  # do not read the rest
                return response
            except ClientDisconnect:
                return Response(status_code=400)  # nobody is there to read it
            return await handler(request)

        return door


def drainable(request: Request, chunk: bool, content: bool = False) -> bool:
    """Whether the unread rest of a refused request's body is small enough to read and
    drop (uvicorn does, after the answer): then the connection stays open and the client,
    still sending, reads the answer. A client whose connection is closed while it sends
    often sees a reset instead of the 401 or 413 that says what to fix. A chunked body
    (of no known length) or one declared over twice the route's limit is not drained."""
    limit = body_limit(request.app.state.runtime.settings, chunk, content)
    declared = request.headers.get("content-length")
    return (declared is not None and declared.isdigit() and int(declared) <= 2 * limit
            and "transfer-encoding" not in request.headers)


async def enter(request: Request, *, signed: bool, chunk: bool, json_body: bool,
                once: bool = False, content: bool = False) -> None:
    """Steps 1–4 of the module's docstring; the principal goes to ``scope[PRINCIPAL]``."""
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    limit = body_limit(settings, chunk, content)
    req = http_request(request)
    admitted, now = None, runtime.backend.clock.now()
    if signed:
        admitted = await admit(req, registry=runtime.registry, policy=runtime.signing, now=now,
                               allow_unsigned_payload=chunk)
    declared = req.header("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"this request's body has at most {limit} bytes", limit=limit)
    body, digest = await read_body(request, limit, hashed=admitted is not None
                                   and admitted.wants_body_hash)
    if admitted is not None:
        request.scope[PRINCIPAL] = await complete(admitted, digest, replay=runtime.backend.replay,
                                                  policy=runtime.signing, now=now, once=once)
    if json_body:
        check_json_depth(body, settings.max_json_depth)


def http_request(request: Request) -> HttpRequest:
    """The request as signed, without its body (see :func:`scope_request`)."""
    return scope_request(request.scope, request.method)


def scope_request(scope: Scope, method: str) -> HttpRequest:
    """A request or WebSocket handshake as signed, without its body: raw path, query and
    headers from the ASGI scope. ``payload_sha256`` holds the signed content header, when
    sent (see ``admit``); else the hash of an empty body."""
    headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
    raw_path = scope.get("raw_path") or scope["path"].encode()
    req = HttpRequest(
        method=method,
        path=raw_path.decode("utf-8", errors="replace"),
        query=scope.get("query_string", b"").decode("utf-8", errors="replace"),
        headers=headers,
    )
    claimed = req.header(TRUC4.content_header) or req.header(AWS4.content_header)
    return req if claimed is None else req.with_payload(claimed)


async def read_body(request: Request, limit: int, *, hashed: bool) -> tuple[bytes, str]:
    """The body, refused as soon as it passes ``limit``, and its SHA-256 when ``hashed``.

    Kept on the request, so that FastAPI (and the route) read it from there."""
    parts: list[bytes] = []
    size = 0
    sha = hashlib.sha256()
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise TooLarge(f"this request's body has at most {limit} bytes", limit=limit)
        if part:
            parts.append(part)
            if hashed:
                sha.update(part)
    body = parts[0] if len(parts) == 1 else b"".join(parts)
    request._body = body  # Starlette's cache of the body: FastAPI and the route read it
    return body, (sha.hexdigest() if body and hashed else EMPTY_SHA256)


_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH = [0] * 256
for _open in b"[{":
    _DEPTH[_open] = 1
for _close in b"]}":
    _DEPTH[_close] = -1


def check_json_depth(body: bytes, max_depth: int) -> None:
    """Refuses JSON nested deeper than ``max_depth`` (400 ``json_too_deep``) before it is
    parsed: Python's parser recurses, and 100 000 nested arrays end in a RecursionError.

    A body with at most ``max_depth`` brackets cannot be deeper (two counts in C, the
    usual case). Otherwise strings are blanked out and the running depth of the brackets
    left is taken, all in C loops: a few tens of milliseconds for a 1 MiB body of brackets.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    if max(accumulate(map(_DEPTH.__getitem__, brackets)), default=0) > max_depth:
        raise InvalidRequest(f"the JSON body is nested more than {max_depth} levels deep",
                             code="json_too_deep", max_depth=max_depth)


async def principal_of(request: Request) -> Principal:
    """The caller the door authenticated; a route outside the door authenticates here
    (its body, if FastAPI parsed one, came before: every route should be a DoorRoute)."""
    found: Principal | None = request.scope.get(PRINCIPAL)
    if found is None:
        await enter(request, signed=True, chunk=False, json_body=False)
        found = request.scope[PRINCIPAL]
    return found
