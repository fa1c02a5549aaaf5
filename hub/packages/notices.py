"""What each agency is told, and when: the notices a package event gives rise to.

Notices carry ids and metadata, never content. Destinations hear of packages waiting for
them; sources hear of everything that happens to what they sent — including, the moment a
delivery is planned, that its destination has no receiving app yet (Điều 5.9:
``delivery.no_receiver``), so the source can decide while the hub waits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hub import events as ev
from hub.deadlines.rules import DEFAULT_RECEIVER_WAIT, waiting_for_receiver
from hub.packages.model import Package
from hub.registry.model import Registry

EXPIRY_REASONS = {
    "unknown_destination": "the destination agency is not registered",
    "no_receiver": "the destination agency has no approved app allowed to receive",
    "deadline": "the deadline passed without acknowledgement",
    "offline": "the destination stayed offline longer than the policy allows",
}
"""The watchdog's reasons (``hub.deadlines.rules``) in words, for people reading notices."""

Notice = tuple[str, dict[str, Any]]
"""(agency id to tell, message)."""


def available(pkg: Package, agency_id: str) -> Notice:
    delivery = pkg.deliveries.get(agency_id)
    return agency_id, {
        "type": "package.available", "package_id": pkg.package_id, "title": pkg.title,
        "priority": pkg.priority, "data_type": pkg.data_type, "size": pkg.size,
        "sha256": pkg.sha256, "source": pkg.source_code,
        "deadline": delivery.deadline if delivery else pkg.deadline,
    }


def no_receiver_detail(code: str, until: str) -> str:
    """What the source is told of a destination with no receiving app, in words (the same
    in the package's ``warnings`` and in the ``delivery.no_receiver`` notice)."""
    return (f"{code} has no receiving app yet: the hub keeps the delivery until {until}, "
            "then expires it (no_receiver); you may wait, redirect or recall it")


def notices(event: ev.Event, pkg: Package | None, registry: Registry | None = None,
            receiver_wait: timedelta = DEFAULT_RECEIVER_WAIT) -> list[Notice]:
    """``registry``: when given, a delivery planned to an agency with no receiving app also
    tells the source (``delivery.no_receiver``)."""
    if pkg is None:
        return []
    if isinstance(event, ev.DeliveryPlanned):
        return [available(pkg, event.destination_agency_id),
                *_no_receiver(event, pkg, registry, receiver_wait)]
    kind = _SOURCE_NOTICES.get(type(event))
    if kind is None:
        return []
    message = {"type": kind, "package_id": pkg.package_id, "at": event.occurred_at.isoformat()}
    message.update(_details(event, pkg))
    return [(pkg.source_agency_id, message), *_destination_notices(event, message)]


def _no_receiver(event: ev.DeliveryPlanned, pkg: Package, registry: Registry | None,
                 receiver_wait: timedelta) -> list[Notice]:
    if registry is None:
        return []
    until: datetime | None = waiting_for_receiver(pkg, registry, receiver_wait).get(
        event.destination_agency_id)
    code = _code(pkg, event.destination_agency_id)
    if until is None or code is None:
        return []
    return [(pkg.source_agency_id, {
        "type": "delivery.no_receiver", "package_id": pkg.package_id,
        "at": event.occurred_at.isoformat(), "destination": code, "until": until.isoformat(),
        "detail": no_receiver_detail(code, until.isoformat())})]


def _destination_notices(event: ev.Event, message: dict[str, Any]) -> list[Notice]:
    """What the source changed, told to the destination it concerns."""
    if isinstance(event, ev.DeliveryRecalled | ev.DeadlineExtended):
        return [(event.destination_agency_id, message)]
    if isinstance(event, ev.StatusReported) and event.destination_agency_id:
        return [(event.destination_agency_id, message)]
    if isinstance(event, ev.DeliveryRedirected):
        return [(event.from_agency_id, {**message, "type": "delivery.recalled",
                                        "reason": "redirected"})]
    return []


_SOURCE_NOTICES: dict[type[ev.Event], str] = {
    ev.PackageSealed: "package.sealed", ev.PackageRejected: "package.rejected",
    ev.DeliveryFetched: "delivery.fetched", ev.DeliveryAcknowledged: "delivery.acknowledged",
    ev.DeliveryExpired: "delivery.expired", ev.StatusReported: "package.status",
    ev.ContentShredded: "package.completed", ev.DeliveryRecalled: "delivery.recalled",
    ev.DeadlineExtended: "delivery.extended", ev.DeliveryRedirected: "delivery.redirected",
}


def _details(event: ev.Event, pkg: Package) -> dict[str, Any]:
    if isinstance(event, ev.PackageRejected):
        return {"reason": event.reason, "reason_code": event.reason_code}
    if isinstance(event, ev.StatusReported):
        concerned = event.destination_agency_id
        return {"code": event.status_code, "note": event.note, "reported_by": event.agency_code,
                "destination": _code(pkg, concerned) if concerned else event.agency_code}
    if isinstance(event, ev.DeliveryRedirected):
        return {"from": _code(pkg, event.from_agency_id), "to": event.to_code}
    return _delivery_details(event, pkg)


def _delivery_details(event: ev.Event, pkg: Package) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if isinstance(event, ev.DeliveryExpired):
        details = {"reason": event.reason,
                   "detail": EXPIRY_REASONS.get(event.reason, event.reason)}
    elif isinstance(event, ev.DeliveryRecalled):
        details = {"reason": event.reason}
    elif isinstance(event, ev.DeadlineExtended):
        details = {"deadline": event.deadline.isoformat()}
    destination = getattr(event, "destination_agency_id", None)
    return {"destination": _code(pkg, destination), **details} if destination else details


def _code(pkg: Package, agency_id: str) -> str | None:
    delivery = pkg.deliveries.get(agency_id)
    return delivery.code if delivery else None
