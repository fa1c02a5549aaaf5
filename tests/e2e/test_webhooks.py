"""Signed webhooks, end to end: a receiver that fails twice still gets every notice once
it answers, each POST signed with the app's webhook secret."""

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

import pytest

from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub


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
