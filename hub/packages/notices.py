"""What each agency is told, and when: the notices a package event gives rise to.

Notices carry ids and metadata, never content. Destinations hear of packages waiting for
them; sources hear of everything that happens to what they sent.
"""

from __future__ import annotations

from typing import Any

from hub import events as ev
from hub.packages.model import Package

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


def notices(event: ev.Event, pkg: Package | None) -> list[Notice]:
    if pkg is None:
        return []
    if isinstance(event, ev.DeliveryPlanned):
        return [available(pkg, event.destination_agency_id)]
    kind = _SOURCE_NOTICES.get(type(event))
    if kind is None:
        return []
    message = {"type": kind, "package_id": pkg.package_id, "at": event.occurred_at.isoformat()}
    message.update(_details(event, pkg))
    return [(pkg.source_agency_id, message), *_destination_notices(event, message)]


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
