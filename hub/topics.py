"""Which log topic each event goes to, and by which key it is partitioned.

Per-package order matters for the lifecycle (keyed by package id); per-agency order
matters for the registry, presence and statistics (keyed by agency). The names here are
logical: the Kafka adapter prefixes them (``truc.packages``), SQLite uses them as is.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub import events as ev
from hub.ports import EventLog, Position

PACKAGES = "packages"
REGISTRY = "registry"
PRESENCE = "presence"
ALL_TOPICS = (PACKAGES, REGISTRY, PRESENCE)


_KEYS: dict[type[ev.Event], tuple[str, str]] = {
    ev.AgencyRegistered: (REGISTRY, "agency_id"),
    ev.AppRegistered: (REGISTRY, "agency_id"),
    ev.AppApproved: (REGISTRY, "agency_id"),
    ev.AppRevoked: (REGISTRY, "agency_id"),
    ev.KeyIssued: (REGISTRY, "app_id"),
    ev.KeyRetired: (REGISTRY, "app_id"),
    ev.KeyRevoked: (REGISTRY, "app_id"),
    ev.OperatorRegistered: (REGISTRY, "operator_id"),
    ev.WebhookConfigured: (REGISTRY, "agency_id"),
    ev.AgencySucceeded: (REGISTRY, "agency_id"),
    ev.AgencyRenamed: (REGISTRY, "agency_id"),
    ev.AgencyRemoved: (REGISTRY, "agency_id"),
    ev.AuditLinked: (REGISTRY, "key"),
    ev.AlertPolicySet: (REGISTRY, "agency_id"),
    ev.AlertRaised: (PRESENCE, "agency_id"),
    ev.AlertSent: (PRESENCE, "agency_id"),
    ev.ZoneConfigured: (REGISTRY, "zone"),
    ev.ZoneRemoved: (REGISTRY, "zone"),
    ev.SigningPolicySet: (REGISTRY, "agency_id"),
    ev.AgencyConnected: (PRESENCE, "agency_id"),
    ev.AgencyDisconnected: (PRESENCE, "agency_id"),
    ev.NodeHeartbeat: (PRESENCE, "node"),
    **{cls: (PACKAGES, "package_id") for cls in (
        ev.PackageRequested, ev.SpaceGranted, ev.ChunkStored, ev.PackageSealed,
        ev.PackageRejected, ev.DeliveryPlanned, ev.DeliveryNotified, ev.DeliveryFetched,
        ev.DeliveryAcknowledged, ev.DeliveryExpired, ev.StatusReported, ev.ContentShredded,
        ev.DeliveryRecalled, ev.DeadlineExtended, ev.DeliveryRedirected, ev.DocumentAnalysed,
        ev.FollowUpsDecided,
    )},
}


def route(event: ev.Event) -> tuple[str, str]:
    """(topic, key) for an event."""
    try:
        topic, attribute = _KEYS[type(event)]
    except KeyError:
        raise TypeError(f"no route for {type(event).__name__}") from None
    return topic, str(getattr(event, attribute))


async def record(log: EventLog, event: ev.Event) -> Position:
    """Appends an event to its topic under its key."""
    topic, key = route(event)
    return await log.append(topic, key, event)


async def record_all(log: EventLog, events: Sequence[ev.Event]) -> list[Position]:
    """Appends events that share one topic and key together, atomically
    (``EventLog.append_batch``): a reader sees all of them or none."""
    routes = {route(e) for e in events}
    if len(routes) != 1:
        raise ValueError(f"one batch is one topic and one key, not {sorted(routes)}")
    ((topic, key),) = routes
    return await log.append_batch(topic, key, events)
