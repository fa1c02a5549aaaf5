"""Webhook targets (issue 10, finding 6): https to public addresses only, unless the
operator allows more; checked on the URL, then on every resolved address at delivery,
and the post goes to the address that was checked."""

from __future__ import annotations

import asyncio
import dataclasses
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hub.errors import InvalidRequest
from hub.ports import Position, Row
from hub.registry.model import App, AppState
from hub.registry.view import RegistryView
from hub.registry.webhook_targets import TargetPolicy, WebhookRefused, blocked, parse_policy
from hub.topics import PACKAGES
from infra.sqlite.database import Database
from infra.sqlite.projections import SqliteProjections
from infra.webhook_targets import checked_target
from streams.webhooks import WebhookProcessor, outbox_ref

STRICT = TargetPolicy()
INTERNAL = ["127.0.0.1", "127.8.9.10", "169.254.169.254", "10.1.2.3", "172.16.0.1",
            "192.168.1.1", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
            "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
            "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
            "2002:7f00:1::", "2002:a00:1::", "64:ff9b::a9fe:a9fe", "192.0.2.10"]


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(WebhookRefused) as refused:
        STRICT.check_url(f"https://{host}/hook")
    assert refused.value.code == "webhook_target_refused" and refused.value.status == 400
    assert blocked(__import__("ipaddress").ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2001:4860:4860::8888",
                                     "::ffff:93.184.216.34"])
def test_public_addresses_pass(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    assert STRICT.check_url(f"https://{host}:8443/hook").port == 8443


@pytest.mark.parametrize("url, code", [
    ("http://hooks.example.vn/truc", "webhook_https_required"),
    ("http://93.184.216.34/truc", "webhook_https_required"),
    ("https://localhost/truc", "webhook_target_refused"),
    ("https://api.LOCALHOST./truc", "webhook_target_refused"),
    ("ftp://hooks.example.vn/truc", "invalid_webhook"),
    ("https://:80/truc", "invalid_webhook"),
    ("https://hooks.example.vn:99999/truc", "invalid_webhook"),
])
def test_bad_urls_are_refused_with_a_code(url: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        STRICT.check_url(url)
    assert refused.value.code == code


def test_the_operator_allows_names_and_networks() -> None:
    policy = parse_policy("hooks.so-tttt.gov.vn, 10.20.0.0/16 127.0.0.1")
    assert policy.check_url("http://HOOKS.so-tttt.gov.vn/truc").host == "hooks.so-tttt.gov.vn"
    policy.check_address("hooks.so-tttt.gov.vn", "10.99.0.1")  # an allowed name: anywhere
    assert policy.check_url("http://10.20.3.4:8080/truc").port == 8080
    assert policy.check_url("http://127.0.0.1:9000/truc").port == 9000
    policy.check_address("other.example.vn", "::ffff:10.20.0.9")  # mapped: same network
    with pytest.raises(WebhookRefused):
        policy.check_address("other.example.vn", "10.21.0.1")
    with pytest.raises(WebhookRefused):
        policy.check_url("http://other.example.vn/truc")
    with pytest.raises(ValueError):
        parse_policy("10.0.0.0/33")


class Receiver(http.server.BaseHTTPRequestHandler):
    hosts: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        type(self).hosts.append(self.headers["host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.hosts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


class Rebinding:
    """A name that resolves to a public address when checked at configuration, and to
    loopback afterwards (DNS rebinding)."""

    def __init__(self) -> None:
        self.answers = [["93.184.216.34"]]

    async def __call__(self, host: str, port: int) -> list[str]:
        return self.answers.pop(0) if self.answers else ["93.184.216.34", "127.0.0.1"]


async def test_a_name_is_checked_on_every_address_it_resolves_to() -> None:
    resolver = Rebinding()
    target, address = await checked_target(STRICT, "https://hooks.example.vn/t", resolver)
    assert (target.host, address) == ("hooks.example.vn", "93.184.216.34")
    with pytest.raises(WebhookRefused) as refused:
        await checked_target(STRICT, "https://hooks.example.vn/t", resolver)
    assert "127.0.0.1" in refused.value.detail


async def test_an_unresolvable_name_is_refused() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(WebhookRefused) as refused:
        await checked_target(STRICT, "https://nowhere.invalid/t", nowhere)
    assert refused.value.code == "webhook_unresolvable"


def hooked(url: str) -> RegistryView:
    view = RegistryView()
    view.registry.apps["a1"] = App(app_id="a1", agency_id="g1", name="văn thư",
                                   state=AppState.APPROVED, registered_at=datetime.now(UTC),
                                   webhook_url=url, webhook_key_id="k1")
    return view


async def a_secret(key_id: str) -> str | None:
    return "s3cret"


async def deliver(tmp_path: Path, url: str, policy: TargetPolicy,
                  resolver: Any, view: RegistryView | None = None) -> bool:
    """Posts one notice from the outbox; True once the outbox row is gone."""
    db = await Database(tmp_path / "t.sqlite3").open()
    try:
        projections = SqliteProjections(db)
        ref = outbox_ref(0, "e1", "a1")
        await projections.apply("webhooks", Position(PACKAGES, 0, 0), [Row(ref, {
            "app_id": "a1", "message": {"event_id": "e1", "type": "package.available"},
            "attempt": 0, "next_at": 0.0})])
        hooks = WebhookProcessor(projections, view or hooked(url), a_secret, base_delay=0.05,
                                 policy=policy, resolver=resolver)
        await hooks.resume([0])
        async with asyncio.timeout(10):
            while await projections.get(ref) is not None:
                await asyncio.sleep(0.02)
        await hooks.close()
        return True
    finally:
        await db.close()


async def test_delivery_refuses_a_name_that_now_resolves_inside(
        tmp_path: Path, receiver: int) -> None:
    """Accepted when configured, the name now points at this machine: nothing is posted,
    in every attempt."""
    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    url = f"http://hooks.example.vn:{receiver}/truc"
    assert await deliver(tmp_path, url, parse_policy("10.0.0.0/8"), loopback) is True
    assert Receiver.hosts == []


async def test_delivery_refuses_internal_literals_configured_before_the_rule(
        tmp_path: Path, receiver: int) -> None:
    """A target recorded before this rule existed (or with an allow-list since removed)
    is refused at delivery too."""
    for target in (f"http://127.0.0.1:{receiver}/truc", "http://169.254.169.254/latest",
                   "https://10.1.2.3/hook"):
        assert await deliver(tmp_path, target, STRICT, Rebinding()) is True
    assert Receiver.hosts == []


async def test_delivery_goes_to_the_checked_address_with_the_name_as_host(
        tmp_path: Path, receiver: int) -> None:
    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    url = f"http://hooks.example.vn:{receiver}/truc"
    assert await deliver(tmp_path, url, parse_policy("hooks.example.vn"), loopback)
    assert Receiver.hosts == [f"hooks.example.vn:{receiver}"]


async def test_a_revoked_app_s_webhook_is_posted_nothing(tmp_path: Path, receiver: int) -> None:
    """Like its streams, a revoked app's webhook gets no notice, even one already due."""
    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    url = f"http://hooks.example.vn:{receiver}/truc"
    view = hooked(url)
    view.registry.apps["a1"] = dataclasses.replace(view.registry.apps["a1"],
                                                   state=AppState.REVOKED)
    assert await deliver(tmp_path, url, parse_policy("hooks.example.vn"), loopback, view)
    assert Receiver.hosts == []
