"""Signed webhooks: notices also POSTed to the URL an app configured, retried with backoff.

One consumer delivers them (a Faust worker, or the embedded hub's loop), so each notice is
posted once per app, not once per API node. Each POST carries the notice as JSON and
``X-Truc-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` so the
receiver can check it came from the hub and is fresh; ``X-Truc-Event-Id`` lets it drop a
repeat. Failed deliveries are retried with exponential backoff in the background: the
event's position is recorded at once, so a retry still pending when the process stops is
lost (the notice itself stays readable from the package's timeline and the inbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from hub.packages.model import Package
from hub.packages.notices import notices
from hub.packages.processor import TRACKER, package_ref
from hub.ports import Projections, Recorded
from hub.registry.model import App
from hub.registry.view import RegistryView
from hub.topics import PACKAGES
from streams.runner import wait_applied

log = logging.getLogger(__name__)
ATTEMPTS = 8
SecretLookup = Callable[[str], Awaitable[str | None]]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class WebhookProcessor:
    name = "webhooks"
    topics: tuple[str, ...] = (PACKAGES,)

    def __init__(self, projections: Projections, view: RegistryView,
                 secret_of: SecretLookup, base_delay: float = 1.0) -> None:
        self._projections = projections
        self._view = view
        self._secret_of = secret_of
        self._base = base_delay
        self._http = httpx.AsyncClient(timeout=10)
        self._pending: set[asyncio.Task[None]] = set()

    async def handle(self, recorded: Recorded) -> bool:
        pos = recorded.position
        if (await self._projections.tracked(self.name, pos.topic)).get(pos.partition, -1) \
                >= pos.offset:
            return False
        package_id = getattr(recorded.event, "package_id", None)
        if package_id is not None and self._view.registry.apps and self._any_hooked():
            with contextlib.suppress(TimeoutError):  # the package row shows the event first
                await wait_applied(self._projections, TRACKER, pos, seconds=5)
            row = await self._projections.get(package_ref(package_id))
            pkg = None if row is None else Package.from_json(dict(row.body))
            for agency_id, message in notices(recorded.event, pkg):
                for app in self._hooked(agency_id):
                    self._schedule(app, {**message, "event_id": recorded.event.event_id})
        return await self._projections.apply(self.name, pos)

    def _any_hooked(self) -> bool:
        return any(a.webhook_url for a in self._view.registry.apps.values())

    def _hooked(self, agency_id: str) -> list[App]:
        return [a for a in self._view.registry.apps_of(agency_id)
                if a.webhook_url and a.webhook_key_id]

    def _schedule(self, app: App, message: dict[str, Any]) -> None:
        task = asyncio.create_task(self._deliver(app, message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, app: App, message: dict[str, Any]) -> None:
        assert app.webhook_url and app.webhook_key_id
        secret = await self._secret_of(app.webhook_key_id)
        if secret is None:
            return
        body = json.dumps(message, ensure_ascii=False).encode()
        for attempt in range(ATTEMPTS):
            headers = {"content-type": "application/json",
                       "x-truc-event-id": message["event_id"],
                       "x-truc-signature": signature(secret, int(time.time()), body)}
            try:
                response = await self._http.post(app.webhook_url, content=body, headers=headers)
                if response.status_code < 300:
                    return
            except httpx.HTTPError as exc:
                log.info("webhook %s failed: %s", app.webhook_url, exc)
            await asyncio.sleep(self._base * 2**attempt)
        log.warning("webhook %s gave up after %d attempts", app.webhook_url, ATTEMPTS)
