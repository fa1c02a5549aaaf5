"""edXML (QCVN 102:2016) documents and status packages as plain values.

Text stays as the document wrote it (stripped): a parser must not judge, it reports what
it read, and ``hub.edxml.rules`` says what is wrong with it, every problem at once. So a
date is the string ``2026-11-29``, not a ``date``: an invalid one is still shown to the
sender in the refusal that names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


@dataclass(frozen=True)
class Organ:
    """An agency as a document names it (``From``, ``To``, ``ResponseFor``'s sender)."""

    organ_id: str
    name: str = ""
    in_charge: str = ""
    address: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass(frozen=True)
class ResponseFor:
    """The earlier document this one answers (or a status package concerns)."""

    organ_id: str
    code: str = ""
    promulgation_date: str = ""
    document_id: str = ""


@dataclass(frozen=True)
class AttachmentInfo:
    """One attachment as the hub saw it: what the document says, and what the decoded
    bytes were (``size``, ``sha256``) when the hub read them."""

    content_id: str
    name: str
    content_type: str = ""
    description: str = ""
    size: int = 0
    sha256: str = ""


@dataclass(frozen=True)
class Document:
    """An edXML document's header and its attachments' metadata."""

    sender: Organ
    recipients: tuple[Organ, ...]
    document_id: str = ""
    code_number: str = ""
    code_notation: str = ""
    promulgation_place: str = ""
    promulgation_date: str = ""
    type_code: str = ""
    type_name: str = ""
    subject: str = ""
    content: str = ""
    signer_competence: str = ""
    signer_position: str = ""
    signer_name: str = ""
    due_date: str = ""
    priority: str = ""
    steering_type: str = ""
    business_doc_type: str = ""
    business_doc_reason: str = ""
    response_for: tuple[ResponseFor, ...] = ()
    to_places: tuple[str, ...] = ()
    attachments: tuple[AttachmentInfo, ...] = field(default=())
    signed: bool = False


@dataclass(frozen=True)
class StatusPackage:
    """An edXML status package: the receiving agency tells where a document stands."""

    sender: Organ
    response_for: ResponseFor
    status_code: str
    description: str = ""
    timestamp: str = ""
    staff_department: str = ""
    staff_name: str = ""
    staff_email: str = ""
    staff_mobile: str = ""
    signed: bool = False
