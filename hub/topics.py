"""Which log topic each event goes to, and by which key it is partitioned.

Per-package order matters for the lifecycle (keyed by package id); per-agency order
matters for the registry, presence and statistics (keyed by agency). The names here are
logical: the Kafka adapter prefixes them (``truc.packages``), SQLite uses them as is.
"""

from __future__ import annotations

from hub import events as ev
from hub.ports import EventLog, Position

PACKAGES = "packages"
REGISTRY = "registry"
PRESENCE = "presence"
ALL_TOPICS = (PACKAGES, REGISTRY, PRESENCE)


def route(event: ev.Event) -> tuple[str, str]:
    """(topic, key) for an event."""
    match event:
        case ev.AgencyRegistered():
            return REGISTRY, event.agency_id
        case ev.AppRegistered() | ev.AppApproved() | ev.AppRevoked():
            return REGISTRY, event.agency_id
        case ev.KeyIssued() | ev.KeyRevoked():
            return REGISTRY, event.app_id
        case ev.AgencyConnected() | ev.AgencyDisconnected():
            return PRESENCE, event.agency_id
        case ev.StatusReported() | ev.PackageRequested() | ev.SpaceGranted() | ev.ChunkStored():
            return PACKAGES, event.package_id
        case (
            ev.PackageSealed() | ev.PackageRejected() | ev.DeliveryPlanned()
            | ev.DeliveryNotified() | ev.DeliveryFetched() | ev.DeliveryAcknowledged()
            | ev.DeliveryExpired() | ev.ContentShredded()
        ):
            return PACKAGES, event.package_id
    raise TypeError(f"no route for {type(event).__name__}")


async def record(log: EventLog, event: ev.Event) -> Position:
    """Appends an event to its topic under its key."""
    topic, key = route(event)
    return await log.append(topic, key, event)
