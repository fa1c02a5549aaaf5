"""Forwarding a delivery to another zone's hub, and bringing its outcome back: the rules.

The forwarder (``streams/forwarder.py``) is the driver: it sends the content to the peer
hub through its public API, as an app registered there, then reads the peer's package
view and records what this function says on the source hub. So the source sees the
delivery as if local: ``DeliveryNotified`` (channel ``zone``) once the peer has sealed
the forwarded package, ``DeliveryFetched`` and ``DeliveryAcknowledged`` when the peer's
destination fetched and acknowledged it, each status the destination reported there, and
``DeliveryExpired`` when the peer refused the package or closed the delivery otherwise.

- **No doubles.** The forwarded send carries an ``Idempotency-Key`` derived from the
  package and the destination code: a retry (after a timeout, a crash, a restart) names
  the same package on the peer. Each event recorded here has an id derived from what it
  mirrors, so recording it twice changes nothing (the package fold skips an id it has).
- **No loops.** The send carries the package's trace plus this hub's name; a hub named
  in a trace refuses the package (``hub.packages.decisions.check_trace``).
- **The source's leg is done when the peer's destination acknowledged** (not when the
  peer sealed the forwarded copy): only then is the delivery closed here, and the content
  shredded by the usual rule (every delivery closed). Until then this hub can send again
  a package the peer lost (its content is still here), and an expiry, a recall or a
  redirect by the source still applies. The peer shreds its copy on its own, when its
  destination acknowledges it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub import events as ev
from hub.packages.model import RECALL_REQUESTED, DeliveryState, Package
from hub.zones.peers import peer_id

_NAMESPACE = uuid.UUID("2f6a8d1e-5b7c-4e3f-9a10-7c4e2b9d0f31")
CHANNEL = "zone"
FINAL_STATUSES = frozenset({"02", "06"})
"""Refused, completed: a destination reports nothing after them."""
PEER_CLOSED = {"expired", "recalled", "redirected"}


@dataclass(frozen=True)
class Forward:
    """What the forwarded send says on the peer hub."""

    recipients: list[str]
    title: str
    data_type: str
    priority: str
    size: int
    sha256: str
    idempotency_key: str
    trace: list[str]
    deadline: str | None
    offline_wait_seconds: int | None


def forward_of(pkg: Package, code: str, hub_name: str) -> Forward:
    """The send that forwards ``pkg`` to ``code`` on its zone's hub, with the delivery's
    deadline as it is now (the source may have extended it before it was forwarded)."""
    delivery = pkg.deliveries.get(peer_id(code))
    deadline = delivery.deadline if delivery is not None else pkg.deadline
    return Forward([code], pkg.title, pkg.data_type, pkg.priority, pkg.size, pkg.sha256,
                   idempotency_key(pkg.package_id, code), [*pkg.trace, hub_name],
                   deadline, pkg.offline_wait_seconds)


@dataclass(frozen=True)
class PeerAction:
    """What the source changed on its delivery, to be done on the peer's copy too:
    ``cancel`` (recalled or redirected here; ``value`` the reason) or ``extend``
    (``value`` the new deadline)."""

    kind: str
    value: str


def source_changes(pkg: Package, code: str, *, told_deadline: str | None,
                   cancelled: bool, recalls_told: int = 0) -> list[PeerAction]:
    """The source's own changes the peer has not been told of: a recall or a redirect
    (the peer's delivery is cancelled), a deadline moved (extended there too), a recall
    request 13 on a document already received (``recall``, ``value`` how many the
    delivery has had: its destination answers 15 or 16 there, and that comes back)."""
    local = pkg.deliveries.get(peer_id(code))
    if local is None:
        return []
    if local.state.withdrawn:
        return [] if cancelled else [PeerAction("cancel", local.reason or local.state.value)]
    actions = []
    asked = sum(status == RECALL_REQUESTED for status, _ in local.statuses)
    if asked > recalls_told:
        actions.append(PeerAction("recall", str(asked)))
    if not local.state.closed and local.deadline and local.deadline != told_deadline:
        actions.append(PeerAction("extend", local.deadline))
    return actions


def idempotency_key(package_id: str, code: str) -> str:
    return f"truc-forward:{package_id}:{code}"


def mirrored_id(package_id: str, code: str, what: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{package_id}/{code}/{what}"))


def _envelope(pkg: Package, code: str, what: str, now: datetime, zone: str) -> ev.Envelope:
    return {"event_id": mirrored_id(pkg.package_id, code, what), "occurred_at": now,
            "actor": f"zone:{zone}", "correlation_id": pkg.package_id}


def forwarded(pkg: Package, code: str, zone: str, now: datetime) -> list[ev.Event]:
    """The peer sealed the forwarded package: the delivery is notified (handed on)."""
    delivery = pkg.deliveries.get(peer_id(code))
    if delivery is None or delivery.state is not DeliveryState.PLANNED:
        return []
    return [ev.DeliveryNotified(**_envelope(pkg, code, "notified", now, zone),
                                package_id=pkg.package_id,
                                destination_agency_id=peer_id(code), app_id=f"zone:{zone}",
                                channel=CHANNEL)]


def refused(pkg: Package, code: str, zone: str, now: datetime, problem: str
            ) -> list[ev.Event]:
    """The peer refused the forwarded package for good (a 4xx that no retry changes)."""
    delivery = pkg.deliveries.get(peer_id(code))
    if delivery is None or delivery.state.closed:
        return []
    return [ev.DeliveryExpired(**_envelope(pkg, code, "refused", now, zone),
                               package_id=pkg.package_id, destination_agency_id=peer_id(code),
                               reason=f"peer_refused: {problem}"[:500])]


def peer_delivery(view: dict[str, Any], code: str) -> dict[str, Any] | None:
    """The peer's delivery of the forwarded package to ``code`` (the source's view lists
    every delivery; a forwarded package has one, perhaps under a successor's code)."""
    deliveries: list[dict[str, Any]] = view.get("deliveries") or []
    named = [d for d in deliveries if d.get("agency_code") == code]
    if named:
        return named[0]
    return deliveries[0] if len(deliveries) == 1 else None


def mirror(pkg: Package, code: str, zone: str, peer: dict[str, Any], *, statuses_seen: int,
           now: datetime) -> list[ev.Event]:
    """The events that bring the peer's delivery (``peer``, as ``peer_delivery`` found
    it) back to the source's: statuses reported there after the first ``statuses_seen``,
    then fetch, acknowledgement or closing. Nothing the source's delivery already shows."""
    agency_id = peer_id(code)
    local = pkg.deliveries.get(agency_id)
    if local is None:
        return []
    found: list[ev.Event] = []
    for index, status in enumerate(peer.get("statuses") or []):
        # a 13 there is the one this hub told for the source (``source_changes``)
        if index >= statuses_seen and str(status["code"]) != RECALL_REQUESTED:
            found.append(ev.StatusReported(
                **_envelope(pkg, code, f"status/{index}", now, zone),
                package_id=pkg.package_id, agency_id=agency_id, agency_code=code,
                status_code=str(status["code"])))
    if local.state.closed:
        return found
    state = peer.get("state")
    order = list(DeliveryState)
    if state in ("fetched", "acknowledged") and \
            order.index(local.state) < order.index(DeliveryState.FETCHED):
        found.append(ev.DeliveryFetched(**_envelope(pkg, code, "fetched", now, zone),
                                        package_id=pkg.package_id,
                                        destination_agency_id=agency_id,
                                        app_id=f"zone:{zone}"))
    if state == "acknowledged":
        found.append(ev.DeliveryAcknowledged(
            **_envelope(pkg, code, "acknowledged", now, zone), package_id=pkg.package_id,
            destination_agency_id=agency_id, app_id=f"zone:{zone}", sha256=pkg.sha256))
    elif state in PEER_CLOSED:
        found.append(ev.DeliveryExpired(
            **_envelope(pkg, code, f"closed/{state}", now, zone), package_id=pkg.package_id,
            destination_agency_id=agency_id,
            reason=f"peer_{state}: {peer.get('reason') or ''}".strip()[:500]))
    return found


def followed_enough(pkg: Package | None, code: str, peer: dict[str, Any] | None,
                    follow_until: datetime | None, now: datetime, *, cancelled: bool) -> bool:
    """Whether to stop following: the source's delivery is closed, and either it never
    reached the peer's destination, a final status came, or the follow-up time is over
    (statuses can come days after the acknowledgement). A delivery recalled or redirected
    here is followed until the peer has been told (``cancelled``): the recall may land
    between the pass's first read, which told the peer nothing, and its last."""
    local = None if pkg is None else pkg.deliveries.get(peer_id(code))
    if local is None or not local.state.closed:
        return False
    if local.state.withdrawn and not cancelled:
        return False
    if local.state is not DeliveryState.ACKNOWLEDGED or peer is None:
        return True
    codes = {str(s["code"]) for s in peer.get("statuses") or []}
    return bool(codes & FINAL_STATUSES) or (follow_until is not None and now >= follow_until)
