"""The documents an edXML package concerns, read on seal: what a revoking, updating or
replacing document (``BussinessDocType`` 1, 2, 3) names in its ``ResponseFor``, and what
a recall request (status 13 from the document's own sender) names.

Each is found among the packages the same agency sent: ``Earlier`` pairs each
destination agency with the package that delivered the named document to it (the hub's
``documents`` view, ``hub.packages.processor``). This module decides who a recall
request goes to and what is wrong with a reference; ``hub.edxml.flows`` turns them into
the recall flow's events.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from hub.edxml.model import Document, ResponseFor, StatusPackage
from hub.edxml.rules import Problem
from hub.packages.model import RECALL_REQUESTED, Package
from hub.registry.model import Registry

REVOKE = "1"
Earlier = Sequence[tuple[str, Package]]
"""(destination agency id, the package that delivered the named document to it)."""


def key_of(answered: ResponseFor) -> str | None:
    """The business key (sender, number, notation, date) of the document a
    ``ResponseFor`` names, or None when it does not name one fully."""
    number, _, notation = answered.code.partition("/")
    if not (answered.organ_id and number and answered.promulgation_date):
        return None
    return "|".join((answered.organ_id, number, notation, answered.promulgation_date))


def revoked_keys(view: dict[str, Any]) -> set[str]:
    """The business keys of the documents a document's JSON view (``pkg.document``)
    revokes; none unless it is a revoking document."""
    if view.get("business_doc_type") != REVOKE:
        return set()
    named = (ResponseFor(r.get("organ_id", ""), r.get("code", ""),
                         r.get("promulgation_date", "")) for r in view.get("response_for", ()))
    return {k for k in map(key_of, named) if k}


def recall_request(status: StatusPackage, senders: Collection[str]) -> bool:
    """A status 13 from the sender of the document it names: the source asks its
    destinations to give the document back, as ``POST /v1/packages/{id}/status`` with
    code 13 does."""
    return status.status_code == RECALL_REQUESTED and status.response_for.organ_id in senders


def named_keys(parsed: Document | StatusPackage, senders: Collection[str]) -> list[str]:
    """The business keys of the sender's own documents this package concerns: the one a
    recall request names, or those a revoking, updating or replacing document names."""
    if isinstance(parsed, StatusPackage):
        key = key_of(parsed.response_for) if recall_request(parsed, senders) else None
        return [key] if key else []
    if parsed.business_doc_type not in ("1", "2", "3"):
        return []
    keys = (key_of(r) for r in parsed.response_for if r.organ_id in senders)
    return list(dict.fromkeys(k for k in keys if k))


def recall_destinations(named: Sequence[str], earlier: Earlier,
                        reg: Registry) -> tuple[list[str], list[Problem]]:
    """Who a recall request goes to: the agencies the send names (``named``), each of
    which must have received the document; or, when the send names none, every agency
    that received it. The codes are those the deliveries were made to."""
    held = {agency_id: pkg.deliveries[agency_id].code for agency_id, pkg in earlier
            if agency_id in pkg.deliveries}
    if not named:
        if not held:
            return [], [Problem("status_document_not_found", "response_for",
                                "no document your agency sent matches ResponseFor")]
        return sorted(held.values()), []
    codes, problems = [], []
    for code in named:
        agency = reg.agency(code)
        if agency is None or agency.agency_id not in held:
            problems.append(Problem("status_document_not_found", "To",
                                    f"{code} did not receive the document ResponseFor names"))
        else:
            codes.append(held[agency.agency_id])
    return codes, problems


def check_revoke(doc: Document, earlier: Earlier, destinations: Collection[str]) -> list[Problem]:
    """A revoking document must name a document its sender delivered to at least one of
    its destinations (``destinations``: their agency ids): there is nothing to revoke
    otherwise."""
    if doc.business_doc_type != REVOKE or not doc.response_for:
        return []
    if any(agency_id in destinations for agency_id, _ in earlier):
        return []
    return [Problem("revoked_document_not_found", "response_for",
                    "none of the document's recipients received the document it revokes "
                    "from your agency")]


def linked(earlier: Earlier, destinations: Collection[str]) -> list[str]:
    """The packages this one refers to (the documents it revokes, updates or replaces,
    or whose recall it asks), at the destinations concerned: shown with the document."""
    return sorted({pkg.package_id for agency_id, pkg in earlier if agency_id in destinations})
