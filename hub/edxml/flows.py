"""Recall and business document types drive the hub's recall flow, with the very events
the JSON API records (QCVN 102:2016 status codes 13/15/16, ``BussinessDocType``).

- a status 13 from the document's sender: ``StatusReported`` 13 on each delivery asked,
  as ``POST /v1/packages/{id}/status`` with ``destination`` does;
- a status 15/16 (or 01–06) from a destination: ``StatusReported`` on its delivery
  (``hub.edxml.statuses``);
- a revoking document (1), at each of its destinations that received the revoked
  document: not fetched yet, ``DeliveryRecalled`` (as ``POST …/deliveries/{code}/recall``);
  fetched or acknowledged, ``StatusReported`` 13, which the destination answers 15 or 16;
- an updating or replacing document (2, 3): nothing; it passes the duplicate check and
  is linked to the one it replaces (``earlier_package_ids``).

Any rule of the recall flow that refuses (a recall already pending, a delivery closed)
refuses the package, with the rule's reason.
"""

from __future__ import annotations

from collections.abc import Collection

from hub import events as ev
from hub.auth.sessions import Caller
from hub.deadlines import actions
from hub.edxml import links
from hub.edxml.model import Document, StatusPackage
from hub.edxml.rules import Problem
from hub.errors import TrucError
from hub.packages import decisions as decide
from hub.packages.model import RECALL_REQUESTED, Delivery, DeliveryState, Package
from hub.registry.decisions import Context

NOT_FETCHED = frozenset({DeliveryState.PLANNED, DeliveryState.NOTIFIED})
STILL_HELD = frozenset({DeliveryState.FETCHED, DeliveryState.ACKNOWLEDGED})


def recall_requests(ctx: Context, status: StatusPackage, earlier: links.Earlier,
                    caller: Caller, destinations: Collection[str]
                    ) -> list[ev.Event] | Problem:
    """The source's 13 on each delivery of the document to ``destinations`` (agency
    ids), with the JSON API's rules (no second 13 while one waits, none on a closed
    delivery)."""
    made: list[ev.Event] = []
    for agency_id, pkg in earlier:
        if agency_id not in destinations or agency_id not in pkg.deliveries:
            continue
        try:
            made.append(decide.report_status(
                ctx, pkg, caller, RECALL_REQUESTED, note=status.description or None,
                destination=pkg.deliveries[agency_id].code))
        except TrucError as refused:
            return Problem("status_not_applicable", "status_code", refused.detail)
    return made


def revocations(ctx: Context, doc: Document, earlier: links.Earlier, caller: Caller,
                destinations: Collection[str]) -> list[ev.Event] | Problem:
    """A revoking document's effect on each delivery of the document it revokes, at its
    own destinations (agency ids): recalled by the hub if not fetched yet, a recall
    request (13) if the destination holds it; nothing on a delivery already closed."""
    if doc.business_doc_type != links.REVOKE:
        return []
    reason = _reason(doc)
    made: list[ev.Event] = []
    for agency_id, pkg in earlier:
        delivery = pkg.deliveries.get(agency_id)
        if agency_id not in destinations or delivery is None:
            continue
        try:
            made += _revoked(ctx, pkg, delivery, caller, reason)
        except TrucError as refused:
            return Problem("revoke_not_applicable", "response_for",
                           f"{delivery.code}: {refused.detail}")
    return made


def _revoked(ctx: Context, pkg: Package, delivery: Delivery, caller: Caller,
             reason: str) -> list[ev.Event]:
    if delivery.state in NOT_FETCHED:
        return list(actions.recall(ctx, pkg, caller, delivery.code, reason))
    if delivery.state in STILL_HELD and not delivery.recall_pending:
        return [decide.report_status(ctx, pkg, caller, RECALL_REQUESTED, note=reason,
                                     destination=delivery.code)]
    return []


def _reason(doc: Document) -> str:
    said = f": {doc.business_doc_reason}" if doc.business_doc_reason else ""
    return f"revoked by document {doc.code_number}/{doc.code_notation}{said}"[:500]
