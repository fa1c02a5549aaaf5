"""Signed webhooks: notices also POSTed to the URL an app configured, retried with backoff.

One consumer delivers them (a Faust worker, or the embedded hub's loop), so each notice is
posted once per app, not once per API node. Each POST carries the notice as JSON and
``X-Truc-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` so the
receiver can check it came from the hub and is fresh; ``X-Truc-Event-Id`` lets it drop a
repeat. Failed deliveries are retried with exponential backoff in the background.

Each post due is first written to the ``webhook_outbox`` view, in the same write as the
event's tracking record, and deleted once the receiver answered 2xx or the attempts ran
out; between attempts the row records how many were made and when the next is due. So a
retry pending when the process stops is not lost: every ``WEBHOOK_RESUME_SECONDS`` (and
at start, embedded) the owner of the packages partition (the embedded hub, or the Faust
worker assigned it) resumes the rows it finds. Delivery is therefore at least once: a
post answered just before a crash, or resumed by a new owner during a rebalance, may
come twice, with the same ``X-Truc-Event-Id``.

Before each attempt the target is checked again (``infra.webhook_targets``): the URL
against the operator's target policy, and every address its name resolves to *now*; the
post then goes to the checked address. A target the rule refuses is dropped at once,
with a warning in the log; a name that does not resolve is retried like a failed post.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx

from hub.deadlines.rules import DEFAULT_RECEIVER_WAIT
from hub.packages.notices import notices
from hub.ports import Projections, Recorded, Row, RowRef
from hub.registry.model import App
from hub.registry.view import RegistryView
from hub.registry.webhook_targets import TargetPolicy, WebhookRefused
from infra.webhook_targets import (
    UNRESOLVABLE,
    Resolver,
    checked_target,
    post_pinned,
    resolve,
)
from streams.applied import Applied
from streams.outbox import Outbox
from streams.shown import package_showing
from streams.tracking import TrackingCache

log = logging.getLogger(__name__)
ATTEMPTS = 8
PATIENCE = 5.0
"""Seconds a post waits for the package's row to show its event (``streams/shown.py``)."""
OUTBOX = "webhook_outbox"
SecretLookup = Callable[[str], Awaitable[str | None]]


def outbox_ref(partition: int, event_id: str, app_id: str) -> RowRef:
    """One row per (notice, app), in the partition of the packages topic it came from."""
    return RowRef(OUTBOX, str(partition), f"{event_id}|{app_id}")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class WebhookProcessor(Outbox):
    """Posts each notice to the webhooks of the apps it concerns: an outbox
    (``streams/outbox.py``) whose rows are posts, one per (notice, app)."""

    name = "webhooks"
    outbox = OUTBOX

    def __init__(self, projections: Projections, view: RegistryView,
                 secret_of: SecretLookup, base_delay: float = 1.0, *,
                 applied: Applied | None = None, tracking: TrackingCache | None = None,
                 http: httpx.AsyncClient | None = None,
                 policy: TargetPolicy | None = None, resolver: Resolver = resolve,
                 receiver_wait: timedelta = DEFAULT_RECEIVER_WAIT) -> None:
        super().__init__(projections, tracking or TrackingCache(projections))
        self._applied = applied or Applied(projections)
        self._view = view
        self._receiver_wait = receiver_wait  # what a delivery.no_receiver notice says
        self._secret_of = secret_of
        self._base = base_delay
        self._http = http or httpx.AsyncClient(timeout=10)
        self._policy = policy or TargetPolicy()
        self._resolver = resolver

    async def rows_for(self, recorded: Recorded) -> list[Row]:
        return [Row(outbox_ref(recorded.position.partition, message["event_id"], app.app_id),
                    {"app_id": app.app_id, "message": message, "attempt": 0, "next_at": 0.0})
                for app, message in await self._deliveries(recorded)]

    async def _deliveries(self, recorded: Recorded) -> list[tuple[App, dict[str, Any]]]:
        """The (app, message) posts the event calls for: none without a hooked app."""
        package_id = getattr(recorded.event, "package_id", None)
        if package_id is None or not self._view.registry.apps or not self._any_hooked():
            return []
        pkg = await package_showing(self._projections, self._applied, recorded, package_id,
                                    PATIENCE)
        return [(app, {**message, "event_id": recorded.event.event_id})
                for agency_id, message in notices(recorded.event, pkg, self._view.registry,
                                                  self._receiver_wait)
                for app in self._hooked(agency_id)]

    def _any_hooked(self) -> bool:
        return any(a.webhook_url for a in self._view.registry.apps.values())

    def _hooked(self, agency_id: str) -> list[App]:
        return [a for a in self._view.registry.apps_of(agency_id) if a.hooked]

    async def work(self, ref: RowRef, post: dict[str, Any]) -> None:
        message: dict[str, Any] = post["message"]
        body = json.dumps(message, ensure_ascii=False).encode()
        attempt = int(post.get("attempt", 0))
        await asyncio.sleep(max(0.0, float(post.get("next_at", 0)) - time.time()))
        while attempt < ATTEMPTS:
            target = await self._target(post["app_id"])
            if target is None:
                break  # the app or its webhook is gone: nobody to tell
            try:
                if await self._post(target, message["event_id"], body):
                    break
            except WebhookRefused as refused:
                log.warning("webhook of app %s not posted: %s", post["app_id"], refused.detail)
                break
            attempt += 1
            if attempt == ATTEMPTS:
                log.warning("webhook %s gave up after %d attempts", target[0], ATTEMPTS)
                break
            delay = self._base * 2 ** (attempt - 1)
            await self._note(ref, {**post, "attempt": attempt, "next_at": time.time() + delay})
            await asyncio.sleep(delay)
        await self._done(ref)

    async def _target(self, app_id: str) -> tuple[str, str] | None:
        """The app's webhook URL and signing secret, as the registry has them now; None
        once the app is revoked (a revoked app is told nothing more, like its streams)."""
        app = self._view.registry.apps.get(app_id)
        if app is None or not app.hooked or app.webhook_url is None \
                or app.webhook_key_id is None:  # (the last two tell mypy what hooked says)
            return None
        secret = await self._secret_of(app.webhook_key_id)
        return None if secret is None else (app.webhook_url, secret)

    async def _post(self, target: tuple[str, str], event_id: str, body: bytes) -> bool:
        url, secret = target
        headers = {"content-type": "application/json", "x-truc-event-id": event_id,
                   "x-truc-signature": signature(secret, int(time.time()), body)}
        try:
            checked, address = await checked_target(self._policy, url, self._resolver)
        except WebhookRefused as refused:
            if refused.code != UNRESOLVABLE:
                raise  # the rule refuses it: no attempt will do better
            log.info("webhook %s failed: %s", url, refused.detail)
            return False
        try:
            response = await post_pinned(self._http, checked, address, body, headers)
        except httpx.HTTPError as exc:
            log.info("webhook %s failed: %s", url, exc)
            return False
        return response.status_code < 300

    async def _note(self, ref: RowRef, post: dict[str, Any]) -> None:
        """Remembers the attempts made, so a restart continues the backoff."""
        try:
            await self._projections.write([Row(ref, post)])
        except Exception:  # the retry goes on in memory; the row still has an older count
            log.warning("could not record a webhook attempt", exc_info=True)

    async def _done(self, ref: RowRef) -> None:
        try:
            await self._projections.write(deletes=[ref])
        except Exception:  # posted again after a restart: receivers drop repeats by id
            log.warning("could not clear a delivered webhook from the outbox", exc_info=True)
