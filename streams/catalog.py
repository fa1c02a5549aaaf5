"""Every processor the hub runs, built once per process for either driver."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from hub.processors import FOLD_TOPICS, PROJECTORS, folds
from hub.registry.view import RegistryView
from hub.registry.webhook_targets import parse_policy
from infra.alert_senders import AlertSender
from infra.axis_client import AxisClient
from infra.bootstrap import Backend
from infra.crypto import MasterKeyWrapper
from infra.leases import fetch_leases
from infra.settings import Settings
from infra.vault import Vault
from streams.alerts import AlertSweep
from streams.applied import Applied
from streams.forwarder import ForwardProcessor
from streams.gateway import Clients, GatewayProcessor
from streams.packages import PackageProcessor
from streams.presence import PresenceProcessor
from streams.relay import Pace
from streams.runner import FoldProcessor, Processor, ProjectorProcessor
from streams.shredder import ShredderProcessor
from streams.tracking import TrackingCache
from streams.watchdog import Watchdog
from streams.webhooks import WebhookProcessor

TOPICS: dict[str, tuple[str, ...]] = {
    **{p.name: p.topics for p in PROJECTORS},
    **FOLD_TOPICS,
    PackageProcessor.name: PackageProcessor.topics,
    ShredderProcessor.name: ShredderProcessor.topics,
    WebhookProcessor.name: WebhookProcessor.topics,
    PresenceProcessor.name: PresenceProcessor.topics,
    ForwardProcessor.name: ForwardProcessor.topics,
    GatewayProcessor.name: GatewayProcessor.topics,
}


def build_processors(backend: Backend, wrapper: MasterKeyWrapper, view: RegistryView,
                     settings: Settings, *, applied: Applied | None = None,
                     tracking: TrackingCache | None = None) -> list[Processor]:
    """``applied`` is what the driver advances as it handles events (the webhook
    processor waits on it for the package row); ``tracking`` the offsets the processors
    remember, which a driver whose partitions can move must be able to ``forget``."""
    tracking = tracking or TrackingCache(backend.projections)
    applied = applied or Applied(backend.projections)

    async def secret_of(key_id: str) -> str | None:
        blob = await backend.keys.get(key_id)
        return None if blob is None else wrapper.unwrap(blob, key_id.encode()).decode()

    vault = Vault(backend.content, backend.keys, wrapper,
                  leases=fetch_leases(backend.projections, backend.clock, settings))
    found: list[Processor] = [ProjectorProcessor(p, backend.projections, tracking)
                              for p in PROJECTORS]
    found.extend(FoldProcessor(f, backend.projections, tracking) for f in folds(settings.tz))
    found.append(PackageProcessor(backend.events, backend.projections, tracking))
    found.append(ShredderProcessor(backend.events, backend.projections, vault,
                                   applied=applied))
    found.append(WebhookProcessor(backend.projections, view, secret_of,
                                  settings.webhook_retry_seconds,
                                  applied=applied,
                                  tracking=tracking,
                                  policy=parse_policy(settings.webhook_allow_hosts),
                                  receiver_wait=timedelta(
                                      seconds=settings.receiver_wait_seconds)))
    found.append(PresenceProcessor(backend.projections, tracking))
    pace = Pace(settings.zone_retry_seconds, settings.zone_poll_seconds,
                settings.zone_poll_max_seconds, timedelta(days=settings.zone_follow_days))
    found.append(ForwardProcessor(
        backend.events, backend.projections, view, vault, secret_of, clock=backend.clock,
        hub_name=settings.hub_name or settings.domain, pace=pace, applied=applied,
        tracking=tracking))
    found.append(GatewayProcessor(
        backend.events, backend.projections, view, vault, axis_clients(backend, secret_of),
        clock=backend.clock, pace=pace, applied=applied, tracking=tracking))
    return found


def axis_clients(backend: Backend, secret_of: Callable[[str], Awaitable[str | None]]
                 ) -> Clients:
    """Clients of the upstream national axis, signing with this hub's account there."""
    return Clients(secret_of, lambda zone, secret: AxisClient(
        zone.url, zone.access_key, secret, now=backend.clock.now))


def secret_lookup(backend: Backend, wrapper: MasterKeyWrapper
                  ) -> Callable[[str], Awaitable[str | None]]:
    """A zone's secret, unwrapped from the key store."""
    async def secret_of(key_id: str) -> str | None:
        blob = await backend.keys.get(key_id)
        return None if blob is None else wrapper.unwrap(blob, key_id.encode()).decode()
    return secret_of


def build_watchdog(backend: Backend, view: RegistryView, settings: Settings,
                   is_leader: Callable[[], bool] = lambda: True) -> Watchdog:
    return Watchdog(backend.events, backend.projections, view, clock=backend.clock,
                    interval=settings.watchdog_seconds, is_leader=is_leader,
                    space_grace=timedelta(minutes=settings.space_sweep_grace_minutes),
                    receiver_wait=timedelta(seconds=settings.receiver_wait_seconds))


def build_alert_sweep(backend: Backend, view: RegistryView, settings: Settings,
                      applied: Applied, is_leader: Callable[[], bool] = lambda: True
                      ) -> AlertSweep:
    """The alert sweep runs where the deadline watchdog runs (same leader)."""
    sender = AlertSender(settings, parse_policy(settings.webhook_allow_hosts))
    return AlertSweep(backend.events, backend.projections, view, applied, sender,
                      clock=backend.clock, interval=settings.alert_seconds,
                      first_delay=timedelta(seconds=settings.alert_retry_seconds),
                      attempts=settings.alert_attempts, is_leader=is_leader)
