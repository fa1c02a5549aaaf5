"""Statuses both ways: an edXML status package becomes the same ``StatusReported`` as a
status reported through the JSON API, and a reported status can be had back as an edXML
status package (QCVN 102:2016 status codes 01–06, 13, 15, 16)."""

from __future__ import annotations

from hub import events as ev
from hub.auth.sessions import Caller
from hub.edxml.links import key_of
from hub.edxml.model import Organ, ResponseFor, StatusPackage
from hub.edxml.rules import Problem
from hub.errors import TrucError
from hub.packages import decisions as decide
from hub.packages.model import Package
from hub.registry.decisions import Context


def answered_key(status: StatusPackage) -> str | None:
    """The business key of the document the status answers (its ``ResponseFor``: sender,
    ``number/notation``, promulgation date), or None when it does not name one."""
    return key_of(status.response_for)


def reported(ctx: Context, target: Package | None, caller: Caller,
             status: StatusPackage) -> ev.StatusReported | Problem:
    """The status as the caller's report on ``target`` (the package that delivered the
    document to the caller's agency), with the rules of the JSON API; or why it cannot
    be (no such delivery, a recall answer with no recall pending, …)."""
    if target is None:
        return Problem("status_document_not_found", "response_for",
                       "no document delivered to your agency matches ResponseFor")
    try:
        return decide.report_status(ctx, target, caller, status.status_code,
                                    note=status.description or None)
    except TrucError as refused:
        return Problem("status_not_applicable", "status_code", refused.detail)


def status_package(pkg: Package, destination_code: str) -> StatusPackage | None:
    """The latest status the destination reported on an edXML document, as a status
    package for the source; None if it reported none (or the package is no document)."""
    doc = pkg.document or {}
    delivery = next((d for d in pkg.deliveries.values() if d.code == destination_code), None)
    if delivery is None or not delivery.statuses or "sender" not in doc:
        return None
    code, at = delivery.statuses[-1]
    notation = f"{doc.get('code_number', '')}/{doc.get('code_notation', '')}".strip("/")
    return StatusPackage(
        Organ(destination_code),
        ResponseFor(doc["sender"]["organ_id"], notation, doc.get("promulgation_date", ""),
                    doc.get("document_id", "")),
        code, timestamp=at[:19].replace("T", " "))
