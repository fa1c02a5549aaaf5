"""The package processor: one pure step per package event.

From the package as it was and the next event it gives the package as it is, the rows of
the read models (the package itself, each destination's inbox, the source's outbox), the
events it derives (one ``DeliveryPlanned`` per destination when a package is sealed).
Derived events get ids computed from the event that caused them, so a step replayed after
a crash derives the very same events, and the fold ignores them the second time.

Destroying the content is not this step's job: it can take seconds (1 GiB of chunks), and
the acknowledgement must be visible at once. The shredder (``streams/shredder.py``) acts
on ``needs_shredding`` once the package row shows every delivery closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub import events as ev
from hub.deadlines.open import open_ref, open_row
from hub.deadlines.spaces import space_ref, space_row
from hub.edxml import links
from hub.packages.follow_ups import effects
from hub.packages.ids import derived_id
from hub.packages.model import PRIORITIES, Package, PackageState, evolve
from hub.ports import Row, RowRef
from hub.projection import Writes

PACKAGES = "packages"
INBOX = "inbox"
OUTBOX = "outbox"
DOCUMENTS = "documents"
"""Which destinations received which edXML document: partition = the document's business
key (``hub.edxml.rules.business_key``), key = destination agency id."""
TRACKER = "packages"
SHREDDER = "shredder"


def package_ref(package_id: str) -> RowRef:
    return RowRef(PACKAGES, package_id, "")


def inbox_key(pkg: Package, planned_at: str) -> str:
    return f"{PRIORITIES.index(pkg.priority)}|{planned_at}|{pkg.package_id}"


@dataclass(frozen=True)
class Outcome:
    package: Package | None
    writes: Writes = field(default_factory=Writes)
    derived: tuple[ev.Event, ...] = ()


def step(before: Package | None, event: ev.Event,
         agency_ids: Mapping[str, str] | None = None) -> Outcome:
    """``agency_ids`` maps recipient codes to agency ids for packages requested before the
    request carried them (v1 events); newer packages carry their own. A seal's
    ``FollowUpsDecided`` changes nothing in its package: it derives the status or recall
    it decided on other packages (``follow_ups.effects``)."""
    if isinstance(event, ev.FollowUpsDecided):
        return Outcome(before, derived=effects(event))
    after = evolve(before, event)
    if after is None or after is before:
        return Outcome(before)
    ids = dict(zip(after.recipients, after.recipient_ids, strict=False)) or dict(agency_ids or {})
    derived = _plan(after, event, ids) if isinstance(event, ev.PackageSealed) else \
        _replan(after, event) if isinstance(event, ev.DeliveryRedirected) else ()
    writes = _rows(before, after, event.correlation_id)
    if isinstance(event, ev.PackageSealed) and after.document:
        writes = Writes([*writes.upserts, *_document_rows(after)], writes.deletes)
    return Outcome(after, writes, derived)


def document_ref(business_key: str, agency_id: str) -> RowRef:
    return RowRef(DOCUMENTS, business_key, agency_id)


def _document_rows(pkg: Package) -> list[Row]:
    """A sealed edXML document: each destination now holds it (duplicates are refused).
    A revoking document that repeats the key of the one it revokes does not take its
    place: the recall answers (15/16) name the revoked document, and find it."""
    doc = pkg.document or {}
    key = doc.get("business_key")
    if not key or key in links.revoked_keys(doc):
        return []
    return [Row(document_ref(key, agency_id), {"package_id": pkg.package_id})
            for agency_id in pkg.recipient_ids]


def may_close(event: ev.Event) -> bool:
    """Events after which a package can have every delivery closed: the only ones the
    shredder needs to look at."""
    return isinstance(event, ev.DeliveryAcknowledged | ev.DeliveryExpired
                      | ev.DeliveryRecalled | ev.PackageRejected)


def needs_shredding(pkg: Package) -> bool:
    """Every delivery is closed (acknowledged, expired, recalled, redirected), or the
    package was rejected at its seal, and the content is still there. Derived from the
    package row alone, so a shredder restarted after a crash finds it again."""
    finished = pkg.all_closed or pkg.state is PackageState.REJECTED
    return finished and not pkg.shredded


def shows(pkg: Package | None, event: ev.Event) -> bool:
    """The package row already shows ``event``: folded in (its id is in the timeline), or
    an event that changes nothing in it. A reader that learnt "the package processor has
    applied this position" from its tracking record may still read the row from before
    it: on Cassandra the rows and the tracking record are one logged batch, atomic but
    not isolated, so the tracking record can be read first. Such a reader reads again
    until the row shows the event."""
    return evolve(pkg, event) is pkg


def _plan(pkg: Package, sealed: ev.PackageSealed,
          agency_ids: Mapping[str, str]) -> tuple[ev.Event, ...]:
    return tuple(
        ev.DeliveryPlanned(
            event_id=derived_id(sealed, code), occurred_at=sealed.occurred_at,
            actor="hub:planner", correlation_id=sealed.correlation_id,
            package_id=pkg.package_id, destination_agency_id=agency_ids[code],
            destination_code=code, priority=pkg.priority, deadline=sealed.deadline,
        )
        for code in pkg.recipients if code in agency_ids
    )


def _replan(pkg: Package, redirected: ev.DeliveryRedirected) -> tuple[ev.Event, ...]:
    """A redirect plans the new delivery (the fold already opened it): the new destination
    is told like any other, and counts see one more planned delivery."""
    delivery = pkg.deliveries[redirected.to_agency_id]
    return (ev.DeliveryPlanned(
        event_id=derived_id(redirected, redirected.to_code), occurred_at=redirected.occurred_at,
        actor="hub:planner", correlation_id=redirected.correlation_id,
        package_id=pkg.package_id, destination_agency_id=redirected.to_agency_id,
        destination_code=redirected.to_code, priority=pkg.priority,
        deadline=datetime.fromisoformat(delivery.deadline) if delivery.deadline else None),)


def shredded_event(pkg: Package, cause: ev.Event, chunk_count: int) -> ev.ContentShredded:
    return ev.ContentShredded(
        event_id=derived_id(cause, "shredded"), occurred_at=cause.occurred_at,
        actor="hub:shredder", correlation_id=cause.correlation_id,
        package_id=pkg.package_id, chunk_count=chunk_count, size=pkg.size)


def summary(pkg: Package) -> dict[str, Any]:
    return {"package_id": pkg.package_id, "title": pkg.title, "priority": pkg.priority,
            "data_type": pkg.data_type, "size": pkg.size, "sha256": pkg.sha256,
            "source": pkg.source_code, "recipients": list(pkg.recipients),
            "state": pkg.state.value, "requested_at": pkg.requested_at}


def _rows(before: Package | None, after: Package, correlation_id: str) -> Writes:
    upserts = [Row(package_ref(after.package_id), after.to_json())]
    deletes: list[RowRef] = []
    _space_rows(before, after, correlation_id, upserts, deletes)
    if after.state is not PackageState.UPLOADING:
        upserts.append(Row(RowRef(OUTBOX, after.source_agency_id,
                                  f"{after.requested_at}|{after.package_id}"), summary(after)))
    for agency_id, delivery in after.deliveries.items():
        ref = RowRef(INBOX, agency_id, inbox_key(after, delivery.planned_at))
        old = before.deliveries.get(agency_id) if before else None
        if delivery.state.closed:
            if old is not None and not old.state.closed:
                deletes.extend((ref, open_ref(after.package_id, agency_id)))
        elif old != delivery or before is None or before.state != after.state:
            upserts.append(open_row(after, delivery))
            seen_by_destination = {k: v for k, v in summary(after).items() if k != "recipients"}
            upserts.append(Row(ref, {**seen_by_destination,
                                     "delivery_state": delivery.state.value}))
    return Writes(upserts, deletes)


def _space_rows(before: Package | None, after: Package, correlation_id: str,
                upserts: list[Row], deletes: list[RowRef]) -> None:
    """The open-spaces row lives from the space's grant to the seal or rejection."""
    uploading = after.state is PackageState.UPLOADING
    if uploading and after.space_expires_at and (
            before is None or before.space_expires_at != after.space_expires_at):
        upserts.append(space_row(after, correlation_id))
    elif not uploading and before is not None and before.state is PackageState.UPLOADING:
        deletes.append(space_ref(after.package_id))
