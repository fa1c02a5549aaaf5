"""Live streams end with what authenticated them (issue 10, finding 3), on both backends.

An app's WebSocket and SSE streams are open; the operator revokes the app — through a
*second* API node on the distributed backend, so the end crosses nodes through the
registry topic — or its key expires after a rotation. Each stream gets a last ``revoked``
message and is closed (WebSocket code 1008, SSE after ``event: revoked``), and no
``package.available`` reaches it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.client import TrucClient
from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub

WAIT = 5.0
"""How long a stream may take to end (the hub's aim is a second; the figure is printed)."""


@dataclass
class Nodes:
    hub: RunningHub
    other: str
    """Where the operator acts: another API node when the backend has several."""


@pytest.fixture(scope="module", params=BACKENDS)
def nodes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Nodes]:
    # sends wait longer for the processors than the default 10 s: on a loaded test machine
    # a lagging worker would fail the send (503), which is not what is tested here
    with backend_hub(request, tmp_path_factory, "streams-end",
                     read_your_writes_seconds="60") as hub:
        yield Nodes(hub, hub.start_node() if hub.backend == "distributed" else hub.url)


@dataclass
class Heard:
    """What one stream received, and when and how it ended."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    ended_at: float | None = None
    close: tuple[int | None, str | None] = (None, None)
    last_event: str | None = None

    def types(self) -> list[str]:
        return [m["type"] for m in self.messages]

    def told(self, package_id: str) -> bool:
        return any(m["type"] == "package.available" and m.get("package_id") == package_id
                   for m in self.messages)


def signed(app: TrucClient, path: str) -> tuple[str, dict[str, str]]:
    url = app._http.build_request("GET", path).url
    headers: dict[str, str] = {}
    headers.update(app.sign("GET", url, b"", headers))
    headers.pop("Host", None)
    return str(url), headers


async def websocket(app: TrucClient, heard: Heard) -> None:
    """A raw WebSocket, to see the close code and reason the hub sends."""
    url, headers = signed(app, "/v1/ws")
    async with connect(url.replace("http", "ws", 1), additional_headers=headers) as socket:
        with contextlib.suppress(ConnectionClosed):
            async for raw in socket:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                else:
                    heard.messages.append(message)
        heard.ended_at = time.monotonic()
        heard.close = (socket.close_code, socket.close_reason)


async def server_sent(app: TrucClient, heard: Heard) -> None:
    """A raw SSE stream, to see its event lines and its end."""
    url, headers = signed(app, "/v1/events")
    async with app._http.stream("GET", url, headers=headers, timeout=None) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                heard.last_event = line[7:]
            elif line.startswith("data: "):
                heard.messages.append(json.loads(line[6:]))
    heard.ended_at = time.monotonic()


async def until(check: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not true after {seconds} s"
        await asyncio.sleep(0.05)


async def both_streams(app: TrucClient) -> tuple[Heard, Heard, list[asyncio.Task[None]]]:
    ws, sse = Heard(), Heard()
    tasks = [asyncio.create_task(websocket(app, ws)), asyncio.create_task(server_sent(app, sse))]
    await until(lambda: "hello" in ws.types() and "hello" in sse.types())
    return ws, sse, tasks


async def ended_within(tasks: list[asyncio.Task[None]], since: float,
                       *heard: Heard) -> list[float]:
    """Waits (at most ``WAIT`` s) for the streams to end; how long each took."""
    done, _ = await asyncio.wait(tasks, timeout=WAIT)
    for task in tasks:
        if task not in done:
            task.cancel()
    assert len(done) == len(tasks), f"streams still open {WAIT} s after: " \
        f"{[h.types() for h in heard]}"
    for task in done:
        task.result()
    return [round(h.ended_at - since, 3) for h in heard if h.ended_at is not None]


def a_file(tmp_path: Path) -> Path:
    doc = tmp_path / f"{os.urandom(4).hex()}.bin"
    doc.write_bytes(os.urandom(3000))
    return doc


async def test_revoking_an_app_ends_its_streams_on_every_node(
        nodes: Nodes, tmp_path: Path) -> None:
    hub = nodes.hub
    source, dest = agency_with_app(hub), agency_with_app(hub)
    assert hub.admin_key is not None
    async with client(hub, dest) as dst, client(hub, source) as src, \
            TrucClient(nodes.other, hub.admin_key["access_key"],
                       hub.admin_key["secret_key"]) as operator:
        ws, sse, tasks = await both_streams(dst)
        before = await src.send([dest["code"]], "Trước khi thu hồi", a_file(tmp_path))
        await until(lambda: ws.told(before["package_id"]) and sse.told(before["package_id"]))
        revoked_at = time.monotonic()  # asked: the answer may come after the ends
        await operator.call("POST", f"/v1/ops/apps/{dest['app_id']}/revoke",
                            json_body={"reason": "form 06"})
        after = asyncio.create_task(src.send([dest["code"]], "Sau khi thu hồi",
                                             a_file(tmp_path)))
        took = await ended_within(tasks, revoked_at, ws, sse)
        sent_after = await after
        await asyncio.sleep(1)  # a notice of the later package would have come by now
    print(f"streams ended {took} s after the revoke was asked ({hub.backend})")
    for heard in (ws, sse):
        assert heard.messages[-1] == {"type": "revoked", "code": "app_revoked",
                                      "detail": "this app has been revoked"}
        assert not heard.told(sent_after["package_id"]), heard.types()
    assert ws.close == (1008, "app_revoked")
    assert sse.last_event == "revoked"


async def test_a_stream_ends_when_its_key_expires(nodes: Nodes, tmp_path: Path) -> None:
    hub = nodes.hub
    dest = agency_with_app(hub)
    async with client(hub, dest) as dst:
        ws, sse, tasks = await both_streams(dst)
        overlap = 3.0
        rotated = hub.ops("POST", f"/v1/ops/principals/{dest['app_id']}/keys",
                          {"overlap_hours": overlap / 3600})
        expires = time.monotonic() + overlap
        assert rotated["key"]["access_key"] != dest["access_key"]
        await asyncio.sleep(overlap / 2)
        assert not any(t.done() for t in tasks), "the old key still holds during the overlap"
        took = await ended_within(tasks, expires, ws, sse)
    print(f"streams ended {took} s after the key expired ({hub.backend})")
    for heard in (ws, sse):
        assert heard.messages[-1]["type"] == "revoked"
        assert heard.messages[-1]["code"] == "key_expired"
    assert ws.close == (1008, "key_expired")


async def test_only_the_revoked_app_s_streams_end(nodes: Nodes, tmp_path: Path) -> None:
    """Another app of the same agency keeps its stream, and its notices."""
    hub = nodes.hub
    source, dest = agency_with_app(hub), agency_with_app(hub)
    app = hub.ops("POST", "/v1/ops/apps", {"agency_code": dest["code"], "name": "Một cửa"})
    sibling = {**dest, "app_id": app["app_id"],
               **hub.ops("POST", f"/v1/ops/apps/{app['app_id']}/approve", {})["key"]}
    async with client(hub, dest) as revoked, client(hub, sibling) as kept, \
            client(hub, source) as src:
        gone_ws, gone_sse, gone = await both_streams(revoked)
        kept_ws, kept_sse, alive = await both_streams(kept)
        hub.ops("POST", f"/v1/ops/apps/{dest['app_id']}/revoke", {"reason": "form 07"})
        await ended_within(gone, time.monotonic(), gone_ws, gone_sse)
        sent = await src.send([dest["code"]], "Vẫn nhận", a_file(tmp_path))
        await until(lambda: kept_ws.told(sent["package_id"]) and kept_sse.told(
            sent["package_id"]))
        assert not any(t.done() for t in alive)
        for task in alive:
            task.cancel()
        await asyncio.gather(*alive, return_exceptions=True)
    assert gone_ws.close == (1008, "app_revoked")


def cli_revoke(hub: RunningHub, app_id: str) -> None:
    """The CLI says ``retry later`` when an engine did not answer it (a loaded machine's
    Cassandra, on connecting): it is tried again then, as an operator would."""
    for _ in range(3):
        done = hub.truc("admin", "app", "revoke", app_id, check=False)
        if done.returncode == 0:
            return
        assert "engine_unavailable" in done.stderr, done.stderr
    raise AssertionError(f"the CLI could not revoke: {done.stderr}")


async def test_revoking_an_app_with_the_cli_ends_its_streams(nodes: Nodes) -> None:
    """``truc admin app revoke`` on the hub's machine, a process of its own that records
    the revocation in the log: the node holding the streams learns it from there."""
    hub = nodes.hub
    dest = agency_with_app(hub)
    async with client(hub, dest) as dst:
        ws, sse, tasks = await both_streams(dst)
        await asyncio.to_thread(cli_revoke, hub, dest["app_id"])
        took = await ended_within(tasks, time.monotonic(), ws, sse)
    print(f"streams ended {took} s after the CLI returned ({hub.backend})")
    assert ws.close == (1008, "app_revoked")
    assert sse.last_event == "revoked" and sse.messages[-1]["code"] == "app_revoked"
