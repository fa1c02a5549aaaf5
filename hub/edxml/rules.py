"""What makes an edXML document or status package acceptable to the hub.

Every problem is listed, not just the first: a sending system fixes them all at once.
Lengths are those of QCVN 102:2016's element tables as the hub enforces them (and as the
national axis refuses longer values); dates are ``yyyy-MM-dd``, timestamps
``yyyy-MM-dd HH:mm:ss`` (or ISO 8601).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime

from hub.edxml.model import Document, Organ, StatusPackage
from hub.registry.codes import AgencyCode, InvalidAgencyCode

STATUS_CODES = frozenset({"01", "02", "03", "04", "05", "06", "13", "15", "16"})
BUSINESS_DOC_TYPES = {"0": "new", "1": "revoke", "2": "update", "3": "replace"}
"""``BussinessDocType``: a new document, or one that revokes, updates or replaces an
earlier one (named by ``ResponseFor``)."""
REPLACING = frozenset({"2", "3"})

ORGAN_LENGTHS = {"organ_id": 13, "name": 200, "in_charge": 200, "address": 250,
                 "email": 100, "telephone": 20, "fax": 20, "website": 100}
DOCUMENT_LENGTHS = {"document_id": 100, "code_number": 11, "code_notation": 30,
                    "promulgation_place": 50, "type_code": 3, "type_name": 100,
                    "subject": 500, "signer_competence": 100, "signer_position": 100,
                    "signer_name": 50, "business_doc_reason": 500, "content": 20_000}
REQUIRED = ("code_number", "code_notation", "promulgation_place", "promulgation_date",
            "type_code", "type_name", "subject")
ATTACHMENT_NAME = 250
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Problem:
    """One thing wrong, with the stable ``code`` of its kind and the ``field`` concerned."""

    code: str
    field: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code} {self.field}: {self.detail}"


def check_document(doc: Document, sender_codes: Collection[str],
                   registered: Callable[[str], bool]) -> list[Problem]:
    """Problems with a document sent by the agency whose codes are ``sender_codes``
    (its code and former codes); ``registered`` says whether a code names an agency the
    hub can route to."""
    problems = _organ(doc.sender, "From")
    if doc.sender.organ_id and doc.sender.organ_id not in sender_codes:
        problems.append(Problem("sender_mismatch", "From.OrganId",
                                f"{doc.sender.organ_id} is not the sending agency"))
    problems += _recipients(doc, registered)
    for name in REQUIRED:
        if not getattr(doc, name):
            problems.append(Problem("missing_field", name, "is required"))
    problems += _lengths(doc, DOCUMENT_LENGTHS, "")
    problems += _dates(doc)
    problems += _choices(doc)
    for i, a in enumerate(doc.attachments):
        if not a.name:
            problems.append(Problem("missing_field", f"attachments[{i}].name", "is required"))
        elif len(a.name) > ATTACHMENT_NAME:
            problems.append(_too_long(f"attachments[{i}].name", ATTACHMENT_NAME))
    return problems


def _organ(organ: Organ, where: str) -> list[Problem]:
    if not organ.organ_id:
        return [Problem("missing_field", f"{where}.OrganId", "is required")]
    problems = _lengths(organ, ORGAN_LENGTHS, f"{where}.")
    try:
        AgencyCode.parse(organ.organ_id)
    except InvalidAgencyCode:
        problems.append(Problem("invalid_agency_code", f"{where}.OrganId",
                                f"{organ.organ_id!r} is not a QCVN 102:2016 agency code"))
    return problems


def _recipients(doc: Document, registered: Callable[[str], bool]) -> list[Problem]:
    if not doc.recipients:
        return [Problem("missing_field", "To", "name at least one recipient agency")]
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, to in enumerate(doc.recipients):
        found = _organ(to, f"To[{i}]")
        problems += found
        if found:
            continue
        if to.organ_id in seen:
            problems.append(Problem("duplicate_recipient", f"To[{i}].OrganId",
                                    f"{to.organ_id} is named twice"))
        elif not registered(to.organ_id):
            problems.append(Problem("unknown_recipient", f"To[{i}].OrganId",
                                    f"{to.organ_id} is not an agency the hub can reach"))
        seen.add(to.organ_id)
    return problems


def _lengths(value: object, limits: dict[str, int], prefix: str) -> list[Problem]:
    return [_too_long(prefix + name, most) for name, most in limits.items()
            if len(getattr(value, name)) > most]


def _too_long(name: str, most: int) -> Problem:
    return Problem("too_long", name, f"has at most {most} characters")


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def parse_timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if 10 < len(text) <= 40 else None
    except ValueError:
        return None


def _dates(doc: Document) -> list[Problem]:
    problems = []
    promulgated = parse_date(doc.promulgation_date)
    if doc.promulgation_date and promulgated is None:
        problems.append(Problem("invalid_date", "promulgation_date", "must be yyyy-MM-dd"))
    due = parse_date(doc.due_date)
    if doc.due_date and due is None:
        problems.append(Problem("invalid_date", "due_date", "must be yyyy-MM-dd"))
    if due and promulgated and due < promulgated:
        problems.append(Problem("invalid_date", "due_date", "is before the promulgation date"))
    for i, r in enumerate(doc.response_for):
        if r.promulgation_date and parse_date(r.promulgation_date) is None:
            problems.append(Problem("invalid_date", f"response_for[{i}].promulgation_date",
                                    "must be yyyy-MM-dd"))
    return problems


def _choices(doc: Document) -> list[Problem]:
    problems = []
    if doc.type_code and not _DIGITS.fullmatch(doc.type_code):
        problems.append(Problem("invalid_value", "type_code", "must be a number"))
    if doc.priority and doc.priority not in ("0", "1", "2", "3", "4"):
        problems.append(Problem("invalid_value", "priority", "must be 0 to 4"))
    if doc.steering_type and doc.steering_type not in ("0", "1", "2"):
        problems.append(Problem("invalid_value", "steering_type", "must be 0, 1 or 2"))
    if doc.business_doc_type and doc.business_doc_type not in BUSINESS_DOC_TYPES:
        problems.append(Problem("invalid_value", "business_doc_type", "must be 0 to 3"))
    if doc.business_doc_type in REPLACING | {"1"} and not doc.response_for:
        problems.append(Problem("missing_field", "response_for",
                                "a revoking, updating or replacing document names the "
                                "document it concerns"))
    return problems


def check_status(status: StatusPackage, sender_codes: Collection[str]) -> list[Problem]:
    """Problems with a status package sent by the agency whose codes are given."""
    problems = _organ(status.sender, "From")
    if status.sender.organ_id and status.sender.organ_id not in sender_codes:
        problems.append(Problem("sender_mismatch", "From.OrganId",
                                f"{status.sender.organ_id} is not the sending agency"))
    if status.status_code not in STATUS_CODES:
        problems.append(Problem("invalid_value", "status_code",
                                f"must be one of {', '.join(sorted(STATUS_CODES))}"))
    if not status.response_for.document_id and not status.response_for.code:
        problems.append(Problem("missing_field", "response_for",
                                "name the document: DocumentId or Code"))
    if status.timestamp and parse_timestamp(status.timestamp) is None:
        problems.append(Problem("invalid_date", "timestamp", "must be yyyy-MM-dd HH:mm:ss"))
    if len(status.description) > 2000:
        problems.append(_too_long("description", 2000))
    return problems


def business_key(doc: Document) -> str:
    """The document's identity among provincial hubs: sender, number/notation, date."""
    return "|".join((doc.sender.organ_id, doc.code_number, doc.code_notation,
                     doc.promulgation_date))
