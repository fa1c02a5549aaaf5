"""Alerts to people end to end: a delivery left waiting past its agency's threshold is
mailed, through a real SMTP server (aiosmtpd) the hub is configured with, and posted to
the agency's webhook — each exactly once however many sweeps follow; a mail server that is
down is retried until it is back; the console and the ops API show each alert's state."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port
from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.console_helpers import console_user, csrf_of, logged_in
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub


class Inbox:
    """What an aiosmtpd server received."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], str, str]] = []

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: Envelope) -> str:
        message = message_from_bytes(envelope.original_content or b"", policy=default)
        assert isinstance(message, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), str(message["Subject"]),
                           message.get_content()))
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Hooks.received.append({"event_id": self.headers["x-truc-event-id"],
                               **json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hooks() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        smtp: SmtpServer) -> Iterator[RunningHub]:
    with backend_hub(request, tmp_path_factory, "alerts", smtp_host="127.0.0.1",
                     smtp_port=str(smtp.port), alert_seconds="0.5",
                     alert_retry_seconds="0.5", webhook_allow_hosts="127.0.0.1") as running:
        yield running


def until(found: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s")


def _send_to(hub: RunningHub, dest: dict[str, Any], tmp_path: Path) -> str:
    source = agency_with_app(hub)
    doc = tmp_path / "cong-van.txt"
    doc.write_bytes("Công văn về việc họp giao ban".encode() * 20)

    async def send() -> str:
        async with client(hub, source) as src:
            sent = await src.send([dest["code"]], "Công văn họp giao ban", doc)
        return str(sent["package_id"])

    return asyncio.run(send())


def _alerts(hub: RunningHub, code: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = hub.ops("GET", f"/v1/ops/alerts?agency={code}")
    return found


def test_a_delivery_left_waiting_is_mailed_and_posted_once(
        hub: RunningHub, smtp: SmtpServer, hooks: str, tmp_path: Path) -> None:
    dest = agency_with_app(hub)
    policy = hub.ops("PUT", f"/v1/ops/agencies/{dest['code']}/alerts", {
        "emails": ["vanthu@donvi.gov.vn"], "webhooks": [hooks],
        "unfetched_after_seconds": 2})
    assert policy["active"] and policy["unfetched_after_seconds"] == 2
    package_id = _send_to(hub, dest, tmp_path)

    def mails() -> list[tuple[list[str], str, str]]:
        return [m for m in smtp.inbox.mails if package_id in m[2]]

    (to, subject, body), = until(mails)
    assert to == ["vanthu@donvi.gov.vn"] and dest["code"] in subject
    assert "chưa được nhận" in body
    posted = until(lambda: [h for h in Hooks.received if h["package_id"] == package_id])
    assert posted[0]["type"] == "alert.unfetched" and posted[0]["agency_code"] == dest["code"]
    (alert,) = until(lambda: [a for a in _alerts(hub, dest["code"]) if a["state"] == "sent"])
    assert alert["package_id"] == package_id
    assert {c["outcome"] for c in alert["contacts"]} == {"sent"}
    time.sleep(3)  # six more sweeps: nothing is sent twice
    assert len(mails()) == 1
    assert len([h for h in Hooks.received if h["package_id"] == package_id]) == 1
    assert [a["alert_id"] for a in _alerts(hub, dest["code"])] == [alert["alert_id"]]


def test_a_mail_server_that_is_down_is_retried_until_it_is_back(
        hub: RunningHub, smtp: SmtpServer, tmp_path: Path) -> None:
    dest = agency_with_app(hub)
    hub.ops("PUT", f"/v1/ops/agencies/{dest['code']}/alerts", {
        "emails": ["it@donvi.gov.vn"], "unfetched_after_seconds": 1})
    smtp.stop()
    try:
        package_id = _send_to(hub, dest, tmp_path)
        failed = until(lambda: [a for a in _alerts(hub, dest["code"])
                                if a["state"] == "failed"])
        assert failed[0]["contacts"][0]["attempts"] >= 1
    finally:
        smtp.start()
    until(lambda: [m for m in smtp.inbox.mails if package_id in m[2]])
    (alert,) = until(lambda: [a for a in _alerts(hub, dest["code"]) if a["state"] == "sent"])
    assert alert["contacts"][0]["attempts"] >= 2
    time.sleep(2)
    assert len([m for m in smtp.inbox.mails if package_id in m[2]]) == 1


def test_the_policy_is_an_audited_registry_action_and_refuses_bad_contacts(
        hub: RunningHub) -> None:
    dest = agency_with_app(hub)
    shown = hub.admin("alerts", "set", dest["code"], "--email", "a@donvi.gov.vn",
                      "--offline-hours", "24", "--expired-hours", "0")
    assert shown["offline_after_seconds"] == 86400 and shown["expired_after_seconds"] == 0
    assert hub.admin("alerts", "show", dest["code"])["emails"] == ["a@donvi.gov.vn"]
    refused = hub.truc("admin", "alerts", "set", dest["code"], "--email", "not-mail",
                       check=False)
    assert refused.returncode == 2 and "invalid_alert_contact" in refused.stderr
    verdict = json.loads(hub.truc("admin", "audit", "verify", "--json").stdout)
    assert verdict["intact"]


def test_the_console_lists_alerts_with_their_state_to_whom_may_see_them(
        hub: RunningHub, smtp: SmtpServer, tmp_path: Path) -> None:
    dest, other = agency_with_app(hub), agency_with_app(hub)
    hub.ops("PUT", f"/v1/ops/agencies/{dest['code']}/alerts", {
        "emails": ["tonghop@donvi.gov.vn"], "unfetched_after_seconds": 1})
    package_id = _send_to(hub, dest, tmp_path)
    until(lambda: [a for a in _alerts(hub, dest["code"]) if a["state"] == "sent"])
    console_user(hub, "alerts-admin@truc.local", "admin")
    page = logged_in(hub, "alerts-admin@truc.local").get("/console/alerts").text
    assert package_id in page and "tonghop@donvi.gov.vn: sent" in page
    assert dest["code"] in page.split('id="alert-policies"')[1]
    admin = logged_in(hub, "alerts-admin@truc.local")
    token = csrf_of(admin.get("/console/alerts").text)
    done = admin.post("/console/alerts/policy", data={
        "csrf": token, "agency_code": other["code"], "emails": "a@x.gov.vn, b@x.gov.vn",
        "offline_hours": "1,5", "expired_hours": "0"})
    assert done.status_code == 303
    policy = hub.ops("GET", f"/v1/ops/agencies/{other['code']}/alerts")
    assert policy["emails"] == ["a@x.gov.vn", "b@x.gov.vn"]
    assert (policy["offline_after_seconds"], policy["expired_after_seconds"],
            policy["unfetched_after_seconds"]) == (5400, 0, None)
    assert "AlertPolicySet" in admin.get("/console/audit").text
    console_user(hub, f"{other['code']}@truc.local", "agency-admin", other["code"])
    theirs = logged_in(hub, f"{other['code']}@truc.local").get("/console/alerts").text
    assert "Cảnh báo" in theirs and package_id not in theirs and 'id="set-alerts"' not in theirs
    assert other["code"] in theirs  # its own contacts and thresholds


def test_an_alert_sent_is_not_sent_again_after_a_restart(
        hub: RunningHub, smtp: SmtpServer, tmp_path: Path) -> None:
    dest = agency_with_app(hub)
    hub.ops("PUT", f"/v1/ops/agencies/{dest['code']}/alerts", {
        "emails": ["khoidong@donvi.gov.vn"], "unfetched_after_seconds": 1})
    package_id = _send_to(hub, dest, tmp_path)
    until(lambda: [a for a in _alerts(hub, dest["code"]) if a["state"] == "sent"])
    hub.stop()
    hub.start()
    other = agency_with_app(hub)  # a new alert after the restart: the sweep runs again
    hub.ops("PUT", f"/v1/ops/agencies/{other['code']}/alerts", {
        "emails": ["sau@donvi.gov.vn"], "unfetched_after_seconds": 1})
    later = _send_to(hub, other, tmp_path)
    until(lambda: [m for m in smtp.inbox.mails if later in m[2]])
    time.sleep(2)
    assert len([m for m in smtp.inbox.mails if package_id in m[2]]) == 1
    assert len(_alerts(hub, dest["code"])) == 1
