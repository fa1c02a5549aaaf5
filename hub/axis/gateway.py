"""The gateway: this hub as a client of an upstream national axis (issue 15, item 5).

Pure rules; ``streams/gateway.py`` drives them with ``infra/axis_client.py``. The axis is
the routing table's zone of protocol ``axis`` (``hub.zones.model``), the default route.

- **Up.** A delivery planned for a code routed to the axis is sent there with
  ``sendEdoc``: an edXML package only (the axis carries nothing else: any other data
  type closes the delivery, ``peer_refused: axis_edxml_only``), once per package
  whatever the number of its destinations there (the axis delivers to every ``To``).
  The axis's view of it (``getSentEdocList``, one row per destination) is then read and
  brought back as the zone forwarder brings a peer's (``hub.zones.forwarding.mirror``):
  fetched, acknowledged (``sendStatus``), each national status (``receiveStatus``).
- **Down.** What the axis holds for this hub (``getReceivedEdocList``) is fetched
  (``getEdoc``) and sent here as the zone's local app (``local_key``), with an
  idempotency key derived from the axis's ``docId``: a poll repeated after a crash
  names the same package, so nothing comes in twice. Only the ``To`` codes registered
  here get it (``hub.zones.decisions.relayed_codes``); the axis delivers the others.
- **Back up.** The destination's acknowledgement is the axis's ``updateStatus done``;
  each national status it reports, ``updateStatus`` with that code; a document the
  seal refused here (``PackageRejected``), ``updateStatus fail``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hub import events as ev
from hub.axis.edocs import GET_EDOC_MAX
from hub.edxml.model import StatusPackage
from hub.edxml.parse import parse
from hub.errors import TrucError
from hub.packages.model import Package

EDXML = "edxml"
INBOUND = "axis-in:"
NOT_EDXML = "axis_edxml_only"
TOO_LARGE = "axis_document_too_large"
STATES = {"done": "acknowledged", "fail": "expired"}
"""``sendStatus`` words the axis may use for a delivery's end, read as Truc's states
(a Truc facade answers its own state names, taken as they are)."""


def inbound_key(doc_id: str) -> str:
    """The idempotency key of a document brought in from the axis: its ``docId``."""
    return f"{INBOUND}{doc_id}"


def inbound_doc_id(pkg: Package, axis_app_id: str) -> str | None:
    """The axis's ``docId`` of a package brought in from it, else None."""
    key = pkg.idempotency_key or ""
    if pkg.source_app_id != axis_app_id or not key.startswith(INBOUND):
        return None
    return key[len(INBOUND):] or None


def refusal(pkg: Package) -> str | None:
    """Why the axis cannot take this package, or None. ``sendEdoc`` carries the file in
    one body, held whole: beyond what ``getEdoc`` answers, the package is refused here,
    not read into memory."""
    if pkg.data_type != EDXML:
        return NOT_EDXML
    return TOO_LARGE if pkg.size > GET_EDOC_MAX else None


def message_type(content: bytes) -> str:
    """``sendEdoc``'s ``messagetype``: ``status`` for an edXML status package."""
    try:
        return "status" if isinstance(parse(content), StatusPackage) else "edoc"
    except TrucError:
        return "edoc"  # the axis says what it makes of it


def addressed_here(content: bytes, registered: Callable[[str], bool]) -> bool:
    """Whether a document from the axis names an agency registered here in its ``To``
    (a status package: the agency it answers). One that names none is left on the axis;
    one the hub cannot read is brought in, and refused on seal with every reason."""
    try:
        read = parse(content)
    except TrucError:
        return True
    if isinstance(read, StatusPackage):
        return registered(read.response_for.organ_id)
    return any(registered(t.organ_id) for t in read.recipients)


@dataclass(frozen=True)
class Seen:
    """The axis's view of one delivery: its state and the national statuses seen so
    far (``getSentEdocList`` gives the last one only: each new one is appended)."""

    state: str
    reason: str
    statuses: tuple[str, ...]

    def as_peer(self) -> dict[str, Any]:
        """As ``hub.zones.forwarding.mirror`` reads a peer hub's delivery."""
        return {"state": self.state, "reason": self.reason,
                "statuses": [{"code": c} for c in self.statuses]}


def seen(rows: Iterable[Mapping[str, Any]], doc_id: str, code: str,
         before: tuple[str, ...]) -> Seen | None:
    """The row of ``getSentEdocList`` for the document sent (``doc_id``) to ``code``,
    read against the statuses ``before`` already seen; None while it is not listed."""
    for row in rows:
        if str(row.get("senderDocId")) == doc_id and str(row.get("toCode")) == code:
            state = str(row.get("sendStatus") or "")
            last = str(row.get("receiveStatus") or "")
            statuses = (*before, last) if last and (not before or before[-1] != last) \
                else before
            return Seen(STATES.get(state.lower(), state.lower()),
                        str(row.get("sendStatusDesc") or ""), statuses)
    return None


def update_for(event: ev.Event, pkg: Package, axis_app_id: str) -> tuple[str, str] | None:
    """(``docId``, ``status``) to tell the axis about a package it brought in: its
    destination's acknowledgement (``done``), a national status it reported, or the
    seal's refusal (``fail``)."""
    doc_id = inbound_doc_id(pkg, axis_app_id)
    if doc_id is None:
        return None
    if isinstance(event, ev.DeliveryAcknowledged):
        return doc_id, "done"
    if isinstance(event, ev.StatusReported) and event.agency_id in pkg.deliveries:
        return doc_id, event.status_code
    if isinstance(event, ev.PackageRejected):
        return doc_id, "fail"  # refused on seal here: the axis's receiver failed to take it
    return None
