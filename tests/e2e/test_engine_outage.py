"""An engine that goes away mid-life answers 503 ``engine_unavailable``, not 500.

The shared engines are never stopped: the hub reaches Cassandra through a small TCP
relay owned by the test, and "Cassandra goes down" is the relay closing every
connection and its port.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from pathlib import Path

import httpx
import pytest

from api.client import TrucError
from tests.conftest import Engines
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import running_hub
from tests.e2e.test_axis_facade import axis

pytestmark = pytest.mark.engines


class Relay:
    """Forwards 127.0.0.1:<port> to ``target`` until ``cut`` closes everything."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                inbound, _ = self.server.accept()
            except OSError:
                return
            outbound = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [inbound, outbound]
            for a, b in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def cut(self) -> None:
        self.server.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)


async def test_cassandra_gone_answers_503_engine_unavailable(engines: Engines,
                                                             tmp_path: Path) -> None:
    """Cassandra gone for this one hub (its relay cut; the shared Cassandra runs on):
    inbox, status, send, fetch answer 503 with Retry-After naming cassandra, and
    /healthz says cassandra is down while Kafka is up."""
    relay = Relay(engines.cassandra)
    relayed = Engines(engines.kafka, f"127.0.0.1:{relay.port}")
    with running_hub("distributed", tmp_path, relayed) as hub:
        source, dest = agency_with_app(hub), agency_with_app(hub)
        body = {"recipients": [dest["code"]], "title": "x", "data_type": "json", "size": 5,
                "sha256": hashlib.sha256(b"hello").hexdigest()}
        doc = tmp_path / "doc.json"
        doc.write_bytes(b"hello")
        async with client(hub, source) as src, client(hub, dest) as dst:
            pid = (await src.send([dest["code"]], "x", doc, data_type="json"))["package_id"]
            assert [p["package_id"] for p in await dst.inbox()] == [pid]
            relay.cut()
            src.retries = dst.retries = 0  # see each answer, not the client's retries
            calls = {
                "inbox": dst.call("GET", "/v1/inbox"),
                "status": dst.call("GET", f"/v1/packages/{pid}"),
                "send": src.call("POST", "/v1/packages", json_body=body),
                "fetch": dst.fetch(pid, tmp_path / "got.json"),
            }
            refused = {}
            for name, call in calls.items():
                with pytest.raises(TrucError) as down:
                    await call
                refused[name] = down.value
            axis_down = [axis(hub, dest, "getReceivedEdocList"),
                         axis(hub, dest, "getEdoc", docId=pid)]
            async with httpx.AsyncClient(timeout=30) as http:
                health = await http.get(f"{hub.url}/healthz")
    for name, error in refused.items():
        assert (error.status, error.code) == (503, "engine_unavailable"), (name, error)
        assert error.problem["retriable"] is True and error.problem["engine"] == "cassandra"
        assert error.retry_after is not None and error.retry_after > 0, name
    for answer in axis_down:  # the national axis's facade: its own shape, still a 503
        assert (answer.status_code, answer.json()["status"], answer.json()["ErrorCode"]) == \
            (503, "FAIL", "engine_unavailable"), answer.text
        assert int(answer.headers["retry-after"]) > 0
    assert not (tmp_path / "got.json").exists(), "the fetch failed before its first byte"
    assert health.status_code == 503 and "retry-after" in health.headers
    report = health.json()
    assert report["down"] == ["cassandra"] and report["engines"]["kafka"]["ok"] is True
    assert report["engines"]["cassandra"]["error"]
