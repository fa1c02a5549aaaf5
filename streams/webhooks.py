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
from streams.applied import Applied
from streams.runner import settle
from streams.tracking import TrackingCache

log = logging.getLogger(__name__)
ATTEMPTS = 8
FLUSH_EVERY = 100
"""Events handled without a delivery between two writes of the tracking record."""
SecretLookup = Callable[[str], Awaitable[str | None]]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class WebhookProcessor:
    """Posts each notice to the webhooks of the apps it concerns.

    Most package events concern no webhook (no app has one, or the event tells nobody),
    and writing a tracking record for each of them was one LOGGED batch per event on
    Cassandra. So the tracking record is written only with a delivery, and otherwise
    once every ``FLUSH_EVERY`` events handled without one; in between the position is
    kept in memory (``TrackingCache``). Why that keeps the guarantees:

    - an event that schedules webhooks writes the tracking record *before* they are
      scheduled, so after a restart or a redelivery it is never posted again (at most
      once per event, as before: a retry pending when the process stops is lost);
    - an event skipped without a write is simply handled again after a restart (at most
      ``FLUSH_EVERY`` of them): it concerned no webhook, and still concerns none — unless
      an app configured a webhook in between, which then gets that notice once, late;
      since the position written always covers every event before it, nothing is ever
      posted twice.
    """

    name = "webhooks"
    topics: tuple[str, ...] = (PACKAGES,)

    def __init__(self, projections: Projections, view: RegistryView,
                 secret_of: SecretLookup, base_delay: float = 1.0, *,
                 applied: Applied | None = None, tracking: TrackingCache | None = None
                 ) -> None:
        self._projections = projections
        self._applied = applied or Applied(projections)
        self._tracking = tracking or TrackingCache(projections)
        self._view = view
        self._secret_of = secret_of
        self._base = base_delay
        self._http = httpx.AsyncClient(timeout=10)
        self._pending: set[asyncio.Task[None]] = set()
        self._unwritten = 0

    async def handle(self, recorded: Recorded) -> bool:
        with self._tracking.handling(self.name, recorded.position):
            return await self._handle(recorded)

    async def _handle(self, recorded: Recorded) -> bool:
        pos = recorded.position
        done = await self._tracking.done(self.name, pos)
        if pos.offset <= done:
            return False
        deliveries = await self._deliveries(recorded)
        if not deliveries and self._unwritten < FLUSH_EVERY - 1:
            self._unwritten += 1
            self._tracking.note(self.name, pos)
            return True
        applied = await self._projections.apply(self.name, pos, last_applied=done)
        settle(self._tracking, self.name, pos, applied)
        self._unwritten = 0
        if applied:
            for app, message in deliveries:
                self._schedule(app, message)
        return applied

    async def _deliveries(self, recorded: Recorded) -> list[tuple[App, dict[str, Any]]]:
        """The (app, message) posts the event calls for: none without a hooked app."""
        package_id = getattr(recorded.event, "package_id", None)
        if package_id is None or not self._view.registry.apps or not self._any_hooked():
            return []
        with contextlib.suppress(TimeoutError):  # the package row shows the event first
            await self._applied.wait(TRACKER, recorded.position, seconds=5)
        row = await self._projections.get(package_ref(package_id))
        pkg = None if row is None else Package.from_json(dict(row.body))
        return [(app, {**message, "event_id": recorded.event.event_id})
                for agency_id, message in notices(recorded.event, pkg)
                for app in self._hooked(agency_id)]

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
