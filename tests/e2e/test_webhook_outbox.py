"""A webhook retry pending when the process that posts it is killed is not lost: the
restarted hub (embedded) or worker (distributed) resumes it from the outbox."""

from __future__ import annotations

import asyncio
import http.server
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import TRUC, RunningHub, wait_healthy


class FlakyReceiver(http.server.BaseHTTPRequestHandler):
    up = False
    refused: ClassVar[list[str]] = []
    received: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        cls = type(self)
        (cls.received if cls.up else cls.refused).append(self.headers["x-truc-event-id"])
        self.send_response(204 if cls.up else 503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[str]:
    FlakyReceiver.up, FlakyReceiver.refused, FlakyReceiver.received = False, [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.fixture(scope="module", params=BACKENDS)
def hooked_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[RunningHub]:
    """Retries 2 s apart and doubling, so one is pending when the poster dies."""
    with backend_hub(request, tmp_path_factory, "outbox", webhook_retry_seconds="2",
                     webhook_resume_seconds="1",
                     webhook_allow_hosts="127.0.0.1") as running:  # the receiver's address
        yield running


def restart_the_poster(hub: RunningHub) -> None:
    """Kills (SIGKILL: no goodbye) what runs the webhook processor and starts it again."""
    if hub.backend == "distributed":
        worker = hub.procs[0]
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
        hub.procs.remove(worker)
        hub.start_worker()
        return
    server = hub.procs[-1]
    server.send_signal(signal.SIGKILL)
    server.wait(30)
    hub.procs.remove(server)
    with hub.logs.open("ab") as out:
        again = subprocess.Popen([TRUC, "serve"], env=hub.env, cwd=hub.cwd, stdout=out,
                                 stderr=subprocess.STDOUT)
    hub.procs.append(again)
    wait_healthy(hub.url, again)


async def test_a_pending_retry_survives_the_poster_s_crash(hooked_hub: RunningHub,
                                                           receiver: str,
                                                           tmp_path: Path) -> None:
    source, dest = agency_with_app(hooked_hub), agency_with_app(hooked_hub)
    async with client(hooked_hub, dest) as dst:
        await dst.call("PUT", "/v1/webhook", json_body={"url": receiver})
    async with client(hooked_hub, source) as src:
        doc = tmp_path / "doc.bin"
        doc.write_bytes(os.urandom(500))
        await src.send([dest["code"]], "Báo cáo tuần", doc)
    async with asyncio.timeout(60):
        while not FlakyReceiver.refused:
            await asyncio.sleep(0.1)
    refused = FlakyReceiver.refused[0]
    restart_the_poster(hooked_hub)
    FlakyReceiver.up = True
    async with asyncio.timeout(90):
        while refused not in FlakyReceiver.received:
            await asyncio.sleep(0.2)
    assert FlakyReceiver.received.count(refused) == 1
