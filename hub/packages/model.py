"""A package and its deliveries as state, folded from the package's own events.

One package's events share a partition (keyed by package id), so they are folded in the
order they happened. The fold is idempotent: a derived event seen twice (a processor
re-emitting after a crash gives it the same id) changes nothing the second time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from hub import events as ev


class PackageState(StrEnum):
    UPLOADING = "uploading"
    SEALED = "sealed"
    REJECTED = "rejected"
    COMPLETED = "completed"


class DeliveryState(StrEnum):
    PLANNED = "planned"
    NOTIFIED = "notified"
    FETCHED = "fetched"
    ACKNOWLEDGED = "acknowledged"
    EXPIRED = "expired"
    RECALLED = "recalled"
    REDIRECTED = "redirected"

    @property
    def closed(self) -> bool:
        """Finished for shredding: acknowledged, expired, recalled or redirected."""
        return self in _CLOSED

    @property
    def withdrawn(self) -> bool:
        """Closed by the source: the destination may no longer fetch it."""
        return self in (DeliveryState.RECALLED, DeliveryState.REDIRECTED)


_CLOSED = frozenset({DeliveryState.ACKNOWLEDGED, DeliveryState.EXPIRED, DeliveryState.RECALLED,
                     DeliveryState.REDIRECTED})

RECALL_REQUESTED = "13"
RECALL_ANSWERS = frozenset({"15", "16"})
RECALL_CODES = RECALL_ANSWERS | {RECALL_REQUESTED}

PRIORITIES = ("flash", "urgent", "normal")
"""In the order they are served: flash before urgent before normal."""


@dataclass(frozen=True)
class Step:
    """One line of a timeline: what happened, when, concerning which agency."""

    event_id: str
    at: str
    what: str
    agency_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Delivery:
    agency_id: str
    code: str
    state: DeliveryState
    planned_at: str
    statuses: tuple[tuple[str, str], ...] = ()
    """(national status code, when) in the order reported."""
    deadline: str | None = None
    """When it must be acknowledged by: the seal's deadline, or as the source extended it."""
    generation: int = 0
    """How many times an expired delivery was reopened (names each expiry apart)."""
    reason: str | None = None
    """Why it closed without acknowledgement (expiry reason, recall reason, redirected)."""

    @property
    def recall_pending(self) -> bool:
        """The source asked to recall the document (13) and the destination has not yet
        answered (15 agreed, 16 refused)."""
        recall = [code for code, _ in self.statuses if code in RECALL_CODES]
        return bool(recall) and recall[-1] == RECALL_REQUESTED


@dataclass(frozen=True)
class Package:
    package_id: str
    source_agency_id: str
    source_code: str
    source_app_id: str
    recipients: tuple[str, ...]
    title: str
    priority: str
    data_type: str
    protocol: str
    size: int
    sha256: str
    requested_at: str
    state: PackageState = PackageState.UPLOADING
    chunk_size: int = 0
    chunk_count: int = 0
    space_expires_at: str | None = None
    deadline: str | None = None
    offline_wait_seconds: int | None = None
    rejection: str | None = None
    shredded: bool = False
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    timeline: tuple[Step, ...] = ()
    idempotency_key: str | None = None
    recipient_ids: tuple[str, ...] = ()
    document: dict[str, Any] | None = None
    """The edXML header's JSON view, once the hub analysed it on seal (``DocumentAnalysed``)."""
    problems: tuple[str, ...] = ()
    """What the analysis found wrong: the package was rejected for them."""
    trace: tuple[str, ...] = ()
    """The hubs it crossed before this one (forwarded from another zone), oldest first."""

    @property
    def all_closed(self) -> bool:
        return bool(self.deliveries) and all(d.state.closed for d in self.deliveries.values())

    @property
    def reopenable(self) -> bool:
        """Content still there and meant to stay: a completed package is being shredded, so
        none of its closed deliveries may reopen."""
        return not self.shredded and self.state is not PackageState.COMPLETED

    def to_json(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` gives, built directly: ``asdict`` deep-copies every
        value recursively, and this runs for every package event (it was ≈ 4% of the
        embedded hub's event loop). Every value here is immutable, so none needs a copy."""
        data = {name: getattr(self, name) for name in _PLAIN}
        data["deliveries"] = {k: {name: getattr(d, name) for name in _DELIVERY}
                              for k, d in self.deliveries.items()}
        data["timeline"] = tuple({name: getattr(s, name) for name in _STEP}
                                 for s in self.timeline)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Package:
        deliveries = {k: Delivery(**{**d, "state": DeliveryState(d["state"]),
                                     "statuses": tuple(tuple(s) for s in d["statuses"])})
                      for k, d in data["deliveries"].items()}
        return cls(**{**data, "recipients": tuple(data["recipients"]),
                      "recipient_ids": tuple(data.get("recipient_ids", ())),
                      "problems": tuple(data.get("problems", ())),
                      "trace": tuple(data.get("trace", ())),
                      "state": PackageState(data["state"]), "deliveries": deliveries,
                      "timeline": tuple(Step(**s) for s in data["timeline"])})


_PLAIN = tuple(f.name for f in fields(Package) if f.name not in ("deliveries", "timeline"))
"""The fields ``to_json`` copies as they are (str, int, enum and tuples of str)."""
_DELIVERY = tuple(f.name for f in fields(Delivery))
_STEP = tuple(f.name for f in fields(Step))


def evolve(pkg: Package | None, event: ev.Event) -> Package | None:
    """The package after ``event``; unchanged for an event it has already seen."""
    if pkg is not None and any(s.event_id == event.event_id for s in pkg.timeline):
        return pkg
    if isinstance(event, ev.PackageRequested):
        return _requested(event) if pkg is None else pkg
    if pkg is None:
        return None
    handler = _HANDLERS.get(type(event))
    if handler is None:
        return pkg
    changed: Package = handler(pkg, event)
    if changed is pkg:
        return pkg
    return replace(changed, timeline=(*changed.timeline, _step(event)))


def _step(event: ev.Event) -> Step:
    agency = (getattr(event, "destination_agency_id", None) or getattr(event, "agency_id", None)
              or getattr(event, "from_agency_id", None))
    detail = (getattr(event, "status_code", None) or getattr(event, "reason", None)
              or getattr(event, "channel", None))
    if isinstance(event, ev.DeadlineExtended):
        detail = event.deadline.isoformat()
    elif isinstance(event, ev.DeliveryRedirected):
        detail = f"to {event.to_code}"
    elif isinstance(event, ev.DocumentAnalysed):
        detail = f"{event.kind}: {len(event.problems)} problem(s)" if event.problems \
            else f"{event.kind} {event.code_number}/{event.code_notation}".rstrip("/ ")
    return Step(event.event_id, event.occurred_at.isoformat(), type(event).__name__,
                agency, detail)


def _requested(e: ev.PackageRequested) -> Package:
    return Package(
        e.package_id, e.source_agency_id, e.source_agency_code, e.source_app_id,
        tuple(e.recipients), e.title, e.priority, e.data_type, e.protocol, e.declared_size,
        e.declared_sha256, e.occurred_at.isoformat(), idempotency_key=e.idempotency_key,
        timeline=(_step(e),), recipient_ids=tuple(e.recipient_agency_ids),
        trace=tuple(e.trace),
    )


def _space(p: Package, e: ev.SpaceGranted) -> Package:
    if p.chunk_count:
        return p
    return replace(p, chunk_size=e.chunk_size, chunk_count=e.chunk_count,
                   space_expires_at=e.expires_at.isoformat())


def _sealed(p: Package, e: ev.PackageSealed) -> Package:
    if p.state is not PackageState.UPLOADING:
        return p
    return replace(p, state=PackageState.SEALED, deadline=_iso(e.deadline),
                   offline_wait_seconds=e.offline_wait_seconds)


def _rejected(p: Package, e: ev.PackageRejected) -> Package:
    if p.state is not PackageState.UPLOADING:
        return p
    return replace(p, state=PackageState.REJECTED, rejection=f"{e.reason_code}: {e.reason}")


def _analysed(p: Package, e: ev.DocumentAnalysed) -> Package:
    """The document's header and problems; a send that left its recipients to the
    document gets them from it."""
    if p.state is not PackageState.UPLOADING:
        return p
    changed = replace(p, document=json.loads(e.header), problems=tuple(e.problems))
    if not p.recipients and not e.problems:
        changed = replace(changed, recipients=tuple(e.recipients),
                          recipient_ids=tuple(e.recipient_agency_ids))
    return changed


def _planned(p: Package, e: ev.DeliveryPlanned) -> Package:
    if e.destination_agency_id in p.deliveries:
        return p
    delivery = Delivery(e.destination_agency_id, e.destination_code, DeliveryState.PLANNED,
                        e.occurred_at.isoformat(), deadline=_iso(e.deadline))
    return replace(p, deliveries={**p.deliveries, e.destination_agency_id: delivery})


def _close(p: Package, agency_id: str, state: DeliveryState, reason: str) -> Package:
    current = p.deliveries.get(agency_id)
    if current is None or current.state.closed:
        return p
    return _with(p, replace(current, state=state, reason=reason))


def _with(p: Package, *changed: Delivery) -> Package:
    """The package with these deliveries replaced or added; completed when all closed."""
    deliveries = {**p.deliveries, **{d.agency_id: d for d in changed}}
    done = all(d.state.closed for d in deliveries.values())
    state = PackageState.COMPLETED if done else (
        PackageState.SEALED if p.state is PackageState.COMPLETED else p.state)
    return replace(p, deliveries=deliveries, state=state)


_ORDER = list(DeliveryState)


def _advance(p: Package, agency_id: str, state: DeliveryState) -> Package:
    """Moves a delivery forward; never backward (a late 'notified' after 'fetched')."""
    current = p.deliveries.get(agency_id)
    if current is None or current.state.closed or _ORDER.index(state) <= _ORDER.index(
            current.state):
        return p
    return _with(p, replace(current, state=state))


def _notified(p: Package, e: ev.DeliveryNotified) -> Package:
    return _advance(p, e.destination_agency_id, DeliveryState.NOTIFIED)


def _fetched(p: Package, e: ev.DeliveryFetched) -> Package:
    return _advance(p, e.destination_agency_id, DeliveryState.FETCHED)


def _acknowledged(p: Package, e: ev.DeliveryAcknowledged) -> Package:
    return _advance(p, e.destination_agency_id, DeliveryState.ACKNOWLEDGED)


def _expired(p: Package, e: ev.DeliveryExpired) -> Package:
    return _close(p, e.destination_agency_id, DeliveryState.EXPIRED, e.reason)


def _recalled(p: Package, e: ev.DeliveryRecalled) -> Package:
    return _close(p, e.destination_agency_id, DeliveryState.RECALLED, e.reason)


def _extended(p: Package, e: ev.DeadlineExtended) -> Package:
    """A new deadline; an expired delivery reopens unless the content is gone."""
    current = p.deliveries.get(e.destination_agency_id)
    if current is None or current.state.withdrawn or \
            current.state is DeliveryState.ACKNOWLEDGED:
        return p
    moved = replace(current, deadline=e.deadline.isoformat())
    if current.state is DeliveryState.EXPIRED:
        if not p.reopenable:
            return p
        moved = replace(moved, state=DeliveryState.PLANNED, generation=current.generation + 1,
                        reason=None)
    return _with(p, moved)


def _redirected(p: Package, e: ev.DeliveryRedirected) -> Package:
    """The old delivery closes and the new one opens in one step, so the package never
    looks completed in between (which would shred its content)."""
    current = p.deliveries.get(e.from_agency_id)
    if current is None or current.state.withdrawn or e.to_agency_id in p.deliveries \
            or current.state is DeliveryState.ACKNOWLEDGED or not p.reopenable:
        return p
    closed = replace(current, state=DeliveryState.REDIRECTED, reason=f"redirected to {e.to_code}")
    opened = Delivery(e.to_agency_id, e.to_code, DeliveryState.PLANNED, e.occurred_at.isoformat(),
                      deadline=current.deadline)
    return _with(p, closed, opened)


def _status(p: Package, e: ev.StatusReported) -> Package:
    """Every report counts, even the same code twice (a re-registration is news). A
    source's report (13) goes on the delivery it names."""
    concerned = e.destination_agency_id or e.agency_id
    current = p.deliveries.get(concerned)
    if current is None:
        return p
    updated = replace(current, statuses=(*current.statuses,
                                         (e.status_code, e.occurred_at.isoformat())))
    return replace(p, deliveries={**p.deliveries, concerned: updated})


def _shredded(p: Package, _: ev.ContentShredded) -> Package:
    return replace(p, shredded=True)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


_HANDLERS: dict[type[ev.Event], Any] = {
    ev.SpaceGranted: _space, ev.PackageSealed: _sealed, ev.PackageRejected: _rejected,
    ev.DeliveryPlanned: _planned, ev.DeliveryNotified: _notified,
    ev.DeliveryFetched: _fetched, ev.DeliveryAcknowledged: _acknowledged,
    ev.DeliveryExpired: _expired, ev.StatusReported: _status,
    ev.ContentShredded: _shredded, ev.DeliveryRecalled: _recalled,
    ev.DeadlineExtended: _extended, ev.DeliveryRedirected: _redirected,
    ev.DocumentAnalysed: _analysed,
}
