"""How alerts reach people: mail through the configured SMTP server, or a POST to a
webhook URL (checked against the same target rule as apps' webhooks, every time).

``send`` raises on any failure (server down, refused, answered non-2xx); the sweep
records the failure and tries again later, so a mail server that is down never stops it.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
from email.message import EmailMessage

import httpx

from hub import events as ev
from hub.alerts.policy import MAILTO
from hub.registry.webhook_targets import TargetPolicy
from infra.settings import Settings
from infra.webhook_targets import Resolver, checked_target, post_pinned, resolve

SUBJECTS = {"unfetched": "gói tin chưa được nhận / package not fetched",
            "expired": "gói tin hết hạn / delivery expired",
            "offline": "đơn vị mất kết nối / agency offline"}


class AlertSender:
    def __init__(self, settings: Settings, policy: TargetPolicy, *,
                 http: httpx.AsyncClient | None = None, resolver: Resolver = resolve) -> None:
        self._settings = settings
        self._policy = policy
        self._http = http or httpx.AsyncClient(timeout=10)
        self._resolver = resolver

    async def send(self, alert: ev.AlertRaised, contact: str, agency_code: str) -> None:
        if contact.startswith(MAILTO):
            await asyncio.to_thread(self._mail, alert, contact.removeprefix(MAILTO),
                                    agency_code)
        else:
            await self._post(alert, contact, agency_code)

    def _mail(self, alert: ev.AlertRaised, to: str, agency_code: str) -> None:
        settings = self._settings
        if not settings.smtp_host:
            raise ConnectionError("no SMTP server configured (TRUC_SMTP_HOST)")
        message = EmailMessage()
        message["From"] = settings.smtp_from or f"truc@{settings.domain}"
        message["To"] = to
        message["Subject"] = f"[Trục {agency_code}] {SUBJECTS.get(alert.kind, alert.kind)}"
        message["Message-ID"] = f"<{alert.alert_id}@{settings.domain}>"
        message.set_content(f"{alert.detail}\n\nalert: {alert.alert_id}\n"
                            f"since: {alert.since.isoformat()}\n")
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                          timeout=settings.smtp_timeout_seconds) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)

    async def _post(self, alert: ev.AlertRaised, url: str, agency_code: str) -> None:
        body = json.dumps({
            "type": f"alert.{alert.kind}", "alert_id": alert.alert_id,
            "agency_id": alert.agency_id, "agency_code": agency_code,
            "package_id": alert.package_id,
            "destination_agency_id": alert.destination_agency_id,
            "since": alert.since.isoformat(), "raised_at": alert.occurred_at.isoformat(),
            "detail": alert.detail}, ensure_ascii=False).encode()
        target, address = await checked_target(self._policy, url, self._resolver)
        response = await post_pinned(self._http, target, address, body, {
            "content-type": "application/json", "x-truc-event-id": alert.alert_id})
        if response.status_code >= 300:
            raise ConnectionError(f"{url} answered {response.status_code}")
