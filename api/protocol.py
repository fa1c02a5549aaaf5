"""uvicorn's HTTP protocol (httptools) with read timeouts, which uvicorn does not have.

uvicorn 0.54 closes a connection idle between requests (``timeout_keep_alive``), but
nothing bounds how long a request's headers or body may take to arrive: a client that
sends its headers a byte at a time, or a body at one byte every five seconds, holds a
connection (and its buffers) for as long as it likes. This subclass adds one timer:

- **headers**: the request line and headers must be in within ``header_seconds`` of the
  connection (first request) or of the request's first byte (later ones);
- **body**: a body must make progress at least every ``body_seconds``, and once it has
  taken ``body_seconds``, average at least ``body_min_rate`` bytes per second. While the
  application is not reading (uvicorn pauses the socket), the client is not to blame and
  the clock starts again.

A connection that fails either is answered ``408`` (when no response has begun) and
closed; an application waiting for that body sees a disconnect. The timer is re-armed
lazily (progress is noted, the deadline checked when it fires), so a request costs at
most two timer handles, and a request without a body one.
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from infra.settings import Settings


@dataclass(frozen=True)
class ReadLimits:
    header_seconds: float = 10
    body_seconds: float = 15
    body_min_rate: int = 1024

    @classmethod
    def of(cls, settings: Settings) -> ReadLimits:
        return cls(settings.header_timeout_seconds, settings.body_timeout_seconds,
                   settings.body_min_rate)


def timed_protocol(limits: ReadLimits) -> type[TimedHttpToolsProtocol]:
    """The protocol class to give uvicorn (``http=``), with these limits."""
    return type("TimedHttpToolsProtocol", (TimedHttpToolsProtocol,), {"limits": limits})


def _timeout_response(detail: str) -> bytes:
    body = json.dumps({"type": "https://truc.dev/problems/request_timeout",
                       "title": "Request timeout", "status": 408, "code": "request_timeout",
                       "detail": detail}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
            + body)


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with the header and body timeouts of the module's docstring."""

    limits: ClassVar[ReadLimits] = ReadLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: TimerHandle | None = None
        self._reading = ""  # "head", "body", or "" (between requests)
        self._body_since = self._body_last = 0.0
        self._body_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect("head", self.limits.header_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._reading != "head":  # the first request counts from the connection
            self._expect("head", self.limits.header_seconds)

    def on_headers_complete(self) -> None:
        self._stop()
        super().on_headers_complete()
        if any(name in (b"transfer-encoding", b"content-length") and value != b"0"
               for name, value in self.headers):
            self._body_since = self._body_last = self.loop.time()
            self._body_bytes = 0
            self._expect("body", self.limits.body_seconds)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        self._body_last = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop()
        super().on_message_complete()

    def _expect(self, what: str, seconds: float) -> None:
        self._stop()
        self._reading = what
        self._timer = self.loop.call_later(seconds, self._check)

    def _stop(self) -> None:
        self._reading = ""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        """The timer fired: cut the connection off, or re-arm at the real deadline."""
        self._timer = None
        if self.transport.is_closing():
            return
        if self._reading == "head":
            self._cut("the request's headers did not arrive in time")
            return
        now = self.loop.time()
        if self.flow.read_paused:  # the application is not reading: start the clock again
            self._body_since = self._body_last = now
            self._body_bytes = 0
        deadline = self._body_deadline()
        if deadline > now:
            self._timer = self.loop.call_later(deadline - now, self._check)
        else:
            self._cut("the request's body came too slowly")

    def _body_deadline(self) -> float:
        limits = self.limits
        deadline = self._body_last + limits.body_seconds
        if limits.body_min_rate:
            owed = self._body_since + limits.body_seconds + self._body_bytes / limits.body_min_rate
            deadline = min(deadline, owed)
        return deadline

    def _cut(self, detail: str) -> None:
        self._reading = ""
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(_timeout_response(detail))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the application's later sends go nowhere
            cycle.message_event.set()
        self.logger.info("%s: %s; connection closed", self.client, detail)
        self.transport.close()
