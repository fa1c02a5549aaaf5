"""Log formats, request ids and the console's lockout, without a server."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import PlainTextResponse

from api.metrics import REQUESTS
from api.observe import Observe
from hub.auth import lockout as lockouts
from hub.auth.lockout import Lockout
from infra.logs import JsonFormatter, PlainFormatter, formatter


def record(**extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("truc.requests", logging.INFO, __file__, 1, "GET %s", ("/x",),
                             None)
    made.__dict__.update(extra)
    return made


def test_a_json_line_carries_the_context_and_leaves_out_what_is_none() -> None:
    line = json.loads(JsonFormatter().format(record(request_id="r1", package_id=None,
                                                    agency="000.00.11.H53")))
    assert line["msg"] == "GET /x" and line["level"] == "info"
    assert line["request_id"] == "r1" and line["agency"] == "000.00.11.H53"
    assert "package_id" not in line


def test_a_plain_line_ends_with_the_context() -> None:
    assert PlainFormatter().format(record(request_id="r1")).endswith("GET /x request_id=r1")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        formatter("xml")


def _app() -> FastAPI:
    """Observe added as the hub adds it (``api.app``): inside the app, where the router's
    match is seen in the scope."""
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def hello(thing_id: str) -> PlainTextResponse:
        return PlainTextResponse(thing_id)

    app.add_middleware(Observe)
    return app


async def test_requests_are_counted_by_template_and_answered_with_their_id(
        caplog: pytest.LogCaptureFixture) -> None:
    before = REQUESTS.labels("GET", "/things/{thing_id}", "200")._value.get()
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level(logging.INFO, logger="truc.requests"):
            given = await client.get("/things/42", headers={"x-request-id": "abc-1"})
            refused = await client.get("/things/43", headers={"x-request-id": "bad id!"})
    assert given.headers["x-request-id"] == "abc-1"
    assert refused.headers["x-request-id"] != "bad id!", "an unsafe id is replaced"
    after = REQUESTS.labels("GET", "/things/{thing_id}", "200")._value.get()
    assert after - before == 2
    lines = [r for r in caplog.records if r.name == "truc.requests"]
    assert [getattr(r, "route", None) for r in lines] == ["/things/{thing_id}"] * 2
    assert getattr(lines[0], "request_id", None) == "abc-1"


def test_the_lockout_locks_after_the_failures_in_a_row_and_a_success_resets() -> None:
    lockout = Lockout(failures=3, minutes=10)
    lockout.failed("a@x")
    lockout.failed("a@x")
    lockout.passed("a@x")
    lockout.failed("a@x")
    lockout.failed("a@x")
    assert not lockout.locked("a@x"), "a success in between starts the count again"
    lockout.failed("a@x")
    assert lockout.locked("a@x") and not lockout.locked("b@x")


def test_the_lockout_forgets_lapsed_locks_and_counts_a_bounded_number_of_logins(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The logins are whatever strangers post: memory must not grow with them."""
    monkeypatch.setattr(lockouts, "TRACKED", 100)
    now = [0.0]
    lockout = Lockout(failures=2, minutes=1, clock=lambda: now[0])
    lockout.failed("victim@x")
    lockout.failed("victim@x")
    for n in range(1000):
        lockout.failed(f"stranger-{n}@x")
    assert len(lockout.counts) == 100 and lockout.locked("victim@x")
    now[0] = 61.0
    assert not lockout.locked("victim@x")
    lockout.failed("late@x")
    assert "victim@x" not in lockout.until
