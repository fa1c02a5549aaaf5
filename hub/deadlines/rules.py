"""When an open delivery expires, and the event that says so.

Pure functions of an open delivery, the time, the registry and the destination's presence:
the watchdog asks them every tick and records what they decide. The reasons are stable
codes that sources program against:

- ``unknown_destination``: the destination agency is not in the registry;
- ``no_receiver``: it has no approved app allowed to receive (none yet, or all revoked),
  and none came within the source's offline wait (or :data:`DEFAULT_RECEIVER_WAIT`, or
  before the deadline). Điều 5.9: the source is told at once (the package's view names the
  delivery and until when the hub waits) and decides — wait, redirect or recall; the
  package is not destroyed before then;
- ``deadline``: the deadline passed without acknowledgement;
- ``offline``: it stayed offline longer than the seal's ``offline_wait_seconds`` before
  fetching the package.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub import events as ev
from hub.bounds import MAX_OFFLINE_WAIT_SECONDS
from hub.deadlines.open import OpenDelivery
from hub.packages.model import Package
from hub.registry.model import AppState, Operation, Registry
from hub.zones.decisions import routed_zone
from hub.zones.peers import is_peer, peer_code

PRESENCE = "presence"
"""The presence projection (written by the presence processor): partition = agency id,
key = "", body ``{"agency_id", "agency_code", "online": bool, "since": ISO-8601 UTC}``."""

DEFAULT_RECEIVER_WAIT = timedelta(hours=24)
"""How long a delivery waits for its destination's first receiving app when the source
set no offline wait (``TRUC_RECEIVER_WAIT_SECONDS`` changes it)."""

_NAMESPACE = uuid.UUID("9e3c1a52-6a0e-4d8e-b1d4-2f6d7c4b8e01")


@dataclass(frozen=True)
class Presence:
    online: bool
    since: datetime

    @classmethod
    def from_row(cls, body: Mapping[str, Any] | None) -> Presence | None:
        """None when there is no row (never seen online) or the row is unreadable."""
        if body is None or not isinstance(body.get("since"), str):
            return None
        try:
            since = datetime.fromisoformat(str(body["since"]))
        except ValueError:
            return None
        if since.tzinfo is None:
            return None
        return cls(bool(body.get("online")), since)


def receiving(registry: Registry, agency_id: str) -> str | None:
    """Why the agency cannot receive (a reason code), or None when it can. A destination
    of another zone receives through its hub while a zone still serves its code."""
    remote = peer_code(agency_id)
    if remote is not None:
        return None if routed_zone(registry, remote) is not None else "unknown_destination"
    if agency_id not in registry.agencies:
        return "unknown_destination"
    for app in registry.apps_of(agency_id):
        if app.state is AppState.APPROVED and app.grants and app.grants.allows(
                Operation.RECEIVE):
            return None
    return "no_receiver"


def offline_too_long(delivery: OpenDelivery, presence: Presence | None, now: datetime) -> bool:
    """Only before the destination fetched; offline since the later of its last change and
    the planning (no presence row: offline since the planning). Compared in seconds, never
    as a ``timedelta`` of the wait: a wait recorded before it was bounded (10^17 s) would
    overflow one, on every tick."""
    wait = delivery.offline_wait_seconds
    if is_peer(delivery.agency_id):
        return False  # another zone's presence is its hub's to judge (the wait goes along)
    if wait is None or delivery.fetched or (presence is not None and presence.online):
        return False
    since = max(presence.since, delivery.planned_at) if presence else delivery.planned_at
    return (now - since).total_seconds() >= wait


def receiver_deadline(planned_at: datetime, offline_wait_seconds: int | None,
                      deadline: datetime | None,
                      default: timedelta = DEFAULT_RECEIVER_WAIT) -> datetime:
    """Until when a delivery waits for a receiving app: the source's offline wait (else the
    hub's default) from the planning, and never past the delivery's deadline. A wait stored
    before waits were bounded (10^17 s) is read at the bound: a ``timedelta`` of it would
    overflow on every tick (issue 10, finding 2)."""
    wait = default if offline_wait_seconds is None else timedelta(
        seconds=min(max(offline_wait_seconds, 0), MAX_OFFLINE_WAIT_SECONDS))
    until = planned_at + wait
    return min(until, deadline) if deadline is not None else until


def expiry_reason(delivery: OpenDelivery, now: datetime, cannot_receive: str | None,
                  presence: Presence | None,
                  receiver_wait: timedelta = DEFAULT_RECEIVER_WAIT) -> str | None:
    if cannot_receive == "no_receiver":
        until = receiver_deadline(delivery.planned_at, delivery.offline_wait_seconds,
                                  delivery.deadline, receiver_wait)
        return "no_receiver" if now >= until else None
    if cannot_receive is not None:
        return cannot_receive
    if delivery.deadline is not None and now >= delivery.deadline:
        return "deadline"
    if offline_too_long(delivery, presence, now):
        return "offline"
    return None


def expired(delivery: OpenDelivery, reason: str, now: datetime) -> ev.DeliveryExpired:
    """The id names the delivery and its reopening, so two watchdogs (or one after a crash)
    deciding the same expiry record the very same event, which the fold takes once."""
    return ev.DeliveryExpired(
        event_id=str(uuid.uuid5(_NAMESPACE, f"{delivery.package_id}/{delivery.agency_id}/"
                                            f"{delivery.generation}")),
        occurred_at=now, actor="hub:watchdog", correlation_id=delivery.package_id,
        package_id=delivery.package_id, destination_agency_id=delivery.agency_id,
        reason=reason)


def due(deliveries: list[OpenDelivery], now: datetime, registry: Registry,
        presence: Mapping[str, Presence | None],
        receiver_wait: timedelta = DEFAULT_RECEIVER_WAIT) -> list[ev.DeliveryExpired]:
    """Every expiry due now, flash first (then urgent, normal; oldest first)."""
    found = []
    for delivery in sorted(deliveries, key=lambda d: d.order):
        reason = expiry_reason(delivery, now, receiving(registry, delivery.agency_id),
                               presence.get(delivery.agency_id), receiver_wait)
        if reason is not None:
            found.append(expired(delivery, reason, now))
    return found


def waiting_for_receiver(pkg: Package, registry: Registry,
                         receiver_wait: timedelta = DEFAULT_RECEIVER_WAIT
                         ) -> dict[str, datetime]:
    """The open deliveries whose destination has no receiving app yet, each with until when
    the hub waits for one: what the source is told at once (Điều 5.9)."""
    return {
        d.agency_id: receiver_deadline(
            datetime.fromisoformat(d.planned_at), pkg.offline_wait_seconds,
            datetime.fromisoformat(d.deadline) if d.deadline else None, receiver_wait)
        for d in pkg.deliveries.values()
        if not d.state.closed and d.planned_at
        and receiving(registry, d.agency_id) == "no_receiver"
    }
