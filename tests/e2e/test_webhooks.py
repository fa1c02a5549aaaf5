"""Signed webhooks, end to end: a receiver that fails twice still gets every notice once
it answers, each POST signed with the app's webhook secret. The hub allows 127.0.0.1
(where the receiver listens) as a webhook target, and nothing else internal; a replayed
``PUT /v1/webhook`` is refused."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from api.client import TrucError
from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.exchange import agency_with_app, client, first, next_code
from tests.e2e.hubs import RunningHub


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningHub]:
    """The operator allows the receivers' address, 127.0.0.1, and only that."""
    with backend_hub(request, tmp_path_factory, "webhooks", webhook_allow_hosts="127.0.0.1",
                     read_your_writes_seconds="60") as running:  # a loaded CI machine
        yield running


class Receiver(http.server.BaseHTTPRequestHandler):
    failures_left = 2
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        cls = type(self)
        if cls.failures_left > 0:
            cls.failures_left -= 1
            self.send_response(503)
        else:
            cls.received.append({"body": body, "signature": self.headers["x-truc-signature"],
                                 "event_id": self.headers["x-truc-event-id"]})
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.failures_left, Receiver.received = 2, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/truc"
    server.shutdown()


def verified(secret: str, delivery: dict[str, Any]) -> dict[str, Any]:
    stamp, mac = (part.split("=", 1)[1] for part in delivery["signature"].split(","))
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + delivery["body"],
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected), "signed with the webhook secret"
    message: dict[str, Any] = json.loads(delivery["body"])
    return message


async def test_notices_reach_a_webhook_signed_and_retried(
    hub: RunningHub, receiver: str, tmp_path: Path
) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    async with client(hub, dest) as dst, client(hub, source) as src:
        hook = await dst.call("PUT", "/v1/webhook", json_body={"url": receiver})
        assert hook["secret"]
        with pytest.raises(Exception) as bad:
            await dst.call("PUT", "/v1/webhook", json_body={"url": "ftp://x"})
        assert "invalid_webhook" in str(bad.value)
        doc = tmp_path / "doc.bin"
        doc.write_bytes(os.urandom(2000))
        sealed = await src.send([dest["code"]], "Giấy mời họp", doc)
        async with asyncio.timeout(60):
            while not Receiver.received:
                await asyncio.sleep(0.1)
    message = verified(hook["secret"], Receiver.received[0])
    assert message["type"] == "package.available"
    assert message["package_id"] == sealed["package_id"]
    assert message["title"] == "Giấy mời họp"
    assert Receiver.received[0]["event_id"] == message["event_id"]
    assert Receiver.failures_left == 0, "the two failures were retried"


@pytest.mark.parametrize("url, code", [
    ("http://127.0.0.2:8080/truc", "webhook_https_required"),
    ("https://127.0.0.2/truc", "webhook_target_refused"),
    ("https://[::1]/truc", "webhook_target_refused"),
    ("https://[::ffff:127.0.0.2]/truc", "webhook_target_refused"),
    ("https://169.254.169.254/latest/meta-data", "webhook_target_refused"),
    ("https://10.1.2.3/truc", "webhook_target_refused"),
    ("https://192.168.1.10/truc", "webhook_target_refused"),
    ("https://localhost/truc", "webhook_target_refused"),
    ("http://hooks.so-tttt.gov.vn/truc", "webhook_https_required"),
])
async def test_internal_targets_are_refused_when_configured(
        hub: RunningHub, url: str, code: str) -> None:
    """Only 127.0.0.1 is allowed: the rest of loopback, the cloud metadata address,
    private ranges and plain http elsewhere are refused with a 400 and a code."""
    dest = agency_with_app(hub)
    async with client(hub, dest) as dst:
        with pytest.raises(TrucError) as refused:
            await dst.call("PUT", "/v1/webhook", json_body={"url": url})
        assert (refused.value.status, refused.value.code) == (400, code)


async def test_a_replayed_webhook_put_issues_no_second_secret(hub: RunningHub,
                                                             receiver: str) -> None:
    """Each PUT issues a new secret: the same signed PUT sent again is refused, so whoever
    captured it gets no live secret."""
    dest = agency_with_app(hub)
    async with client(hub, dest) as dst:
        body = json.dumps({"url": receiver}).encode()
        url = dst._http.build_request("PUT", "/v1/webhook").url
        headers = {"content-type": "application/json"}
        headers.update(dst.sign("PUT", url, body, headers))
        headers.pop("Host", None)
        async with httpx.AsyncClient() as http:
            first = await http.put(str(url), content=body, headers=headers)
            again = await http.put(str(url), content=body, headers=headers)
        assert first.status_code == 200 and first.json()["secret"]
        assert again.status_code == 401, again.text
        assert again.json()["code"] == "replayed_request" and "secret" not in again.json()
        renewed = await dst.call("PUT", "/v1/webhook", json_body={"url": receiver})
        assert renewed["secret"] != first.json()["secret"], "a fresh signature: a new secret"


async def test_the_source_hears_live_of_a_destination_with_no_receiving_app(
    hub: RunningHub, receiver: str, tmp_path: Path
) -> None:
    """Điều 5.9 (issue 12): the source connected by WebSocket, by SSE and with a webhook is
    told ``delivery.no_receiver`` when its package is planned to an agency that has no
    receiving app — it need not poll the package to learn it."""
    source, lonely = agency_with_app(hub), next_code()
    hub.ops("POST", "/v1/ops/agencies", {"code": lonely, "name": "Sở chưa có ứng dụng"})
    doc = tmp_path / "doc.bin"
    doc.write_bytes(os.urandom(500))
    async with client(hub, source) as src:
        hook = await src.call("PUT", "/v1/webhook", json_body={"url": receiver})
        ws, sse = src.watch(), src.events()
        await first(ws, "hello")
        await first(sse, "hello")
        sealed = await src.send([lonely], "Công văn", doc, offline_wait_seconds=3600)
        package_id = sealed["package_id"]
        on_ws = await first(ws, "delivery.no_receiver", package_id)
        on_sse = await first(sse, "delivery.no_receiver", package_id)
        async with asyncio.timeout(60):
            while not any(json.loads(r["body"])["type"] == "delivery.no_receiver"
                          for r in Receiver.received):
                await asyncio.sleep(0.1)
    (posted,) = [m for m in (verified(hook["secret"], r) for r in Receiver.received)
                 if m["type"] == "delivery.no_receiver"]
    until = sealed["deliveries"][0]["no_receiver_until"]
    for message in (on_ws, on_sse, posted):
        assert message["destination"] == lonely and message["until"] == until
        assert message["package_id"] == package_id
        assert "no receiving app yet" in message["detail"]
