"""Presence end to end, on both backends, with a 5 s heartbeat: streams and signed calls
make an agency online, closing or silence makes it offline, and the history shows it.
Also the hub's time: a Date header everywhere, clock-skew problems, a client that corrects."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from openpyxl import load_workbook
from websockets.asyncio.client import connect

from api.client import TrucClient, TrucError
from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import TRUC, RunningHub, wait_healthy

HEARTBEAT = 5.0  # seconds: short, yet pongs may lag 2.5 s on a loaded test machine


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningHub]:
    """A hub whose heartbeat is 5 s, so silence is seen in seconds."""
    with backend_hub(request, tmp_path_factory, "presence", heartbeat_seconds=str(HEARTBEAT),
                     node_missed_heartbeats="2") as running:
        yield running


async def until(check: Callable[[], Any], seconds: float = 30) -> Any:
    """Polls ``check`` (a sync call) until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while True:
        found = await asyncio.to_thread(check)
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {seconds} s; last: {found!r}")
        await asyncio.sleep(0.2)


def ops_presence(hub: RunningHub, code: str) -> dict[str, Any]:
    [row] = [r for r in hub.ops("GET", "/v1/ops/presence") if r["agency_code"] == code]
    return dict(row)


def history(hub: RunningHub, code: str, start: str = "", end: str = ""
            ) -> list[dict[str, Any]]:
    query = urlencode({k: v for k, v in (("from", start), ("to", end)) if v})
    return list(hub.ops("GET", f"/v1/ops/agencies/{code}/connections?{query}"))


async def listen(app: TrucClient, into: list[dict[str, Any]]) -> None:
    """Reads notices (and answers pings) until cancelled, then closes the socket."""
    async with contextlib.aclosing(app.watch()) as stream:
        async for message in stream:
            into.append(message)


async def test_a_websocket_makes_its_agency_online_until_it_closes(hub: RunningHub) -> None:
    key = agency_with_app(hub)
    code = key["code"]
    assert ops_presence(hub, code)["online"] is False
    async with client(hub, key) as app:
        heard: list[dict[str, Any]] = []
        listening = asyncio.create_task(listen(app, heard))
        seen = await until(lambda: (p := ops_presence(hub, code))["online"] and p)
        assert seen["nodes"] and seen["apps_online"] == [key["app_id"]]
        mine = await app.call("GET", f"/v1/directory/{code}/presence")
        [app_row] = mine["apps"]
        assert app_row["channels"] == {"websocket": 1} and mine["online"] is True
        assert app_row["app_id"] == key["app_id"] and app_row["connections"] == 1
        await asyncio.sleep(HEARTBEAT * 2)  # the client's pongs keep it online
        assert ops_presence(hub, code)["online"] is True and not listening.done()
        assert heard[0]["type"] == "hello"
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
    gone = await until(lambda: not (p := ops_presence(hub, code))["online"] and p)
    assert gone["since"] > seen["since"]
    rows = await until(lambda: (h := history(hub, code)) and len(h) >= 2 and h)
    ws = [r for r in rows if r["channel"] == "websocket"]
    assert [r["kind"] for r in ws] == ["connected", "disconnected"], rows
    assert ws[1]["reason"] == "closed" and ws[1]["duration_seconds"] >= HEARTBEAT * 2, rows
    assert ws[1]["connected_at"] == ws[0]["at"]


async def test_a_signed_call_makes_an_app_online_until_it_falls_silent(
        hub: RunningHub) -> None:
    key = agency_with_app(hub)
    code = key["code"]
    async with client(hub, key) as app:
        async def calling() -> dict[str, Any] | None:
            await app.whoami()  # keeps calling until the projection shows it online
            p = await asyncio.to_thread(ops_presence, hub, code)
            return p if p["online"] else None

        online = None
        async with asyncio.timeout(30):
            while online is None:
                online = await calling()
                await asyncio.sleep(0.3)
    assert online["connections"] == 1
    offline = await until(lambda: not (p := ops_presence(hub, code))["online"] and p,
                          seconds=HEARTBEAT * 10)
    assert offline["since"] > online["since"]
    rows = history(hub, code)
    assert [(r["kind"], r["channel"]) for r in rows] == \
        [("connected", "api"), ("disconnected", "api")]
    assert rows[1]["reason"] == "silence"
    assert rows[1]["duration_seconds"] >= HEARTBEAT
    assert history(hub, code, start=rows[0]["at"]) == rows
    assert history(hub, code, end=rows[0]["at"]) == []
    assert history(hub, code, start=rows[1]["at"]) == rows[1:]
    await exported_as_csv_and_xlsx(hub, code, rows)


async def exported_as_csv_and_xlsx(hub: RunningHub, code: str,
                                   rows: list[dict[str, Any]]) -> None:
    """The connection history for a range, as the operators' spreadsheets."""
    assert hub.admin_key is not None
    path = f"/v1/ops/agencies/{code}/connections"
    async with client(hub, hub.admin_key) as ops:
        as_csv = await ops.request("GET", path, params={"format": "csv"})
        as_xlsx = await ops.request("GET", path, params={"format": "xlsx"})
        with pytest.raises(TrucError) as bad:
            await ops.request("GET", path, params={"format": "pdf"})
    assert (bad.value.status, bad.value.code) == (400, "invalid_format")
    assert as_csv.content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [(r["kind"], r["reason"]) for r in lines] == \
        [("connected", ""), ("disconnected", "silence")]
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    header, *values = list(sheet.iter_rows(values_only=True))
    cells = [dict(zip(header, v, strict=True)) for v in values]
    assert [c["kind"] for c in cells] == ["connected", "disconnected"]
    assert cells[1]["duration_seconds"] == rows[1]["duration_seconds"]


async def test_a_websocket_that_never_answers_is_closed_for_silence(hub: RunningHub) -> None:
    key = agency_with_app(hub)
    async with client(hub, key) as app:
        url = app._http.build_request("GET", "/v1/ws").url
        headers: dict[str, str] = {}
        headers.update(app.sign("GET", url, b"", headers))
        headers.pop("Host", None)
        began = time.monotonic()
        async with connect(str(url).replace("http", "ws", 1),
                           additional_headers=headers) as socket:
            with contextlib.suppress(Exception):
                async for _ in socket:  # never a pong
                    pass
            assert socket.close_code == 4408 and socket.close_reason == "heartbeat_timeout"
        assert time.monotonic() - began >= HEARTBEAT * 0.9
    rows = await until(lambda: (h := history(hub, key["code"])) and len(h) >= 2 and h)
    assert rows[-1]["reason"] == "heartbeat_timeout"


async def test_presence_is_shown_only_to_apps_that_may_send_there(hub: RunningHub) -> None:
    target = agency_with_app(hub)
    sender = agency_with_app(hub, operations=["send"])
    receiver = agency_with_app(hub, operations=["receive"])
    async with client(hub, sender) as app:
        shown = await app.call("GET", f"/v1/directory/{target['code']}/presence")
        assert shown["agency_code"] == target["code"] and "online" in shown
    async with client(hub, receiver) as app:
        with pytest.raises(TrucError) as refused:
            await app.call("GET", f"/v1/directory/{target['code']}/presence")
        assert refused.value.status == 404 and refused.value.code == "agency_not_found"
        own = await app.call("GET", f"/v1/directory/{receiver['code']}/presence")
        assert own["agency_code"] == receiver["code"]  # its own agency: always


def test_the_admin_cli_lists_presence(hub: RunningHub) -> None:
    key = agency_with_app(hub)
    listed = hub.admin("presence")
    [row] = [r for r in listed if r["agency_code"] == key["code"]]
    assert row["online"] is False and row["since"] is None
    table = hub.truc("admin", "presence").stdout
    assert key["code"] in table


def test_history_bounds_must_be_times(hub: RunningHub) -> None:
    key = agency_with_app(hub)
    with pytest.raises(AssertionError, match="invalid_time"):
        hub.ops("GET", f"/v1/ops/agencies/{key['code']}/connections?from=yesterday")


# --- time -----------------------------------------------------------------------------


async def test_every_response_carries_the_hub_date(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as http:
        for path in ("/v1/time", "/healthz", "/v1/whoami", "/v1/nowhere"):
            response = await http.get(path)
            assert "date" in response.headers, path
            assert response.headers["date"].endswith("GMT")


async def test_a_skewed_client_is_told_and_corrects_itself(hub: RunningHub) -> None:
    key = agency_with_app(hub)
    async with client(hub, key) as app:
        assert abs(app.clock_offset) < timedelta(seconds=5)  # measured on entering
        app.clock_offset = timedelta(minutes=10)  # as if its own clock ran 10 min fast
        with pytest.raises(TrucError) as refused:
            await app.whoami()
        problem = refused.value.problem
        assert refused.value.status == 401 and problem["code"] == "clock_skew"
        assert 590 <= problem["skew_seconds"] <= 610 and problem["max_skew_seconds"] == 300
        assert "server_time" in problem and "request_time" in problem
        await app.sync_time()
        assert (await app.whoami())["app"]["app_id"] == key["app_id"]


def test_problem_bodies_are_json(hub: RunningHub) -> None:
    response = httpx.get(f"{hub.url}/v1/whoami")
    assert json.loads(response.text)["code"] == "missing_signature"


# --- a node that crashes ---------------------------------------------------------------


def restart_after_crash(hub: RunningHub) -> None:
    """Kills the hub's API node without a word (SIGKILL) and starts it again."""
    [node] = [p for p in hub.procs if list(p.args)[1:] == ["serve"] and p.poll() is None][:1]
    node.kill()
    node.wait(timeout=30)
    with hub.logs.open("ab") as out:
        again = subprocess.Popen([TRUC, "serve"], env=hub.env, cwd=hub.cwd, stdout=out,
                                 stderr=subprocess.STDOUT)
    hub.procs.append(again)
    wait_healthy(hub.url, again)


async def test_connections_of_a_crashed_node_are_declared_lost(hub: RunningHub) -> None:
    """Last in the module: it restarts the hub's node. The crash records nothing; the
    watchdog sees the node's new run and ends what the old one held."""
    key = agency_with_app(hub)
    code = key["code"]
    async with client(hub, key) as app:
        heard: list[dict[str, Any]] = []
        listening = asyncio.create_task(listen(app, heard))
        await until(lambda: ops_presence(hub, code)["online"])
        await asyncio.to_thread(restart_after_crash, hub)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listening, 10)
    gone = await until(lambda: not (p := ops_presence(hub, code))["online"] and p,
                       seconds=60)
    rows = history(hub, code)
    assert [r["kind"] for r in rows] == ["connected", "disconnected"]
    assert rows[1]["reason"] == "node_lost" and rows[1]["at"] == gone["since"]
