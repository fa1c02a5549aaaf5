"""From the header tree the reader kept to ``Document`` or ``StatusPackage``.

Element names are matched by their local name, whatever the prefix or namespace the
sending system used (liberal in what is accepted); what the values must be is
``hub.edxml.rules``' business.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.edxml.model import AttachmentInfo, Document, Organ, ResponseFor, StatusPackage
from hub.edxml.reader import LIMITS, EdxmlRefused, Limits, Node, Payload, Reader


def read(chunks: Iterable[bytes], limits: Limits = LIMITS) -> Document | StatusPackage:
    """The package read from its bytes (any chunking), or ``EdxmlRefused``."""
    reader = Reader(limits)
    for chunk in chunks:
        reader.feed(chunk)
    return interpret(reader.close(), reader.payloads)


def parse(data: bytes) -> Document | StatusPackage:
    return read((data,))


def interpret(root: Node, payloads: list[Payload]) -> Document | StatusPackage:
    if root.name != "edXMLEnvelope":
        raise EdxmlRefused(f"the root element is {root.name}, not edXMLEnvelope",
                           code="edxml_not_edxml")
    header = root.child("edXMLHeader")
    message = header.child("MessageHeader") if header is not None else None
    if header is None or message is None:
        raise EdxmlRefused("no edXMLHeader/MessageHeader", code="edxml_not_edxml")
    signed = header.child("Signature") is not None or root.child("Signature") is not None
    if message.child("StatusCode") is not None:
        return _status(message, signed)
    return _document(root, header, message, payloads, signed)


def _organ(node: Node | None) -> Organ:
    if node is None:
        return Organ("")
    return Organ(node.get("OrganId"), node.get("OrganName"), node.get("OrganizationInCharge"),
                 node.get("OrganAdd"), node.get("Email"), node.get("Telephone"),
                 node.get("Fax"), node.get("Website"))


def _response_for(node: Node) -> ResponseFor:
    return ResponseFor(node.get("OrganId"), node.get("Code"), node.get("PromulgationDate"),
                       node.get("DocumentId"))


def _document(root: Node, header: Node, m: Node, payloads: list[Payload],
              signed: bool) -> Document:
    business = header.child("TraceHeaderList")
    business = business.child("Bussiness") if business is not None else None
    places = m.child("ToPlaces")
    return Document(
        sender=_organ(m.child("From")), recipients=tuple(_organ(t) for t in m.all("To")),
        document_id=m.get("DocumentId"), code_number=m.get("Code", "CodeNumber"),
        code_notation=m.get("Code", "CodeNotation"),
        promulgation_place=m.get("PromulgationInfo", "Place"),
        promulgation_date=m.get("PromulgationInfo", "PromulgationDate"),
        type_code=m.get("DocumentType", "Type"), type_name=m.get("DocumentType", "TypeName"),
        subject=m.get("Subject"), content=m.get("Content"),
        signer_competence=m.get("SignerInfo", "Competence"),
        signer_position=m.get("SignerInfo", "Position"),
        signer_name=m.get("SignerInfo", "FullName"), due_date=m.get("DueDate"),
        priority=m.get("OtherInfo", "Priority"), steering_type=m.get("SteeringType"),
        business_doc_type=business.get("BussinessDocType") if business else "",
        business_doc_reason=business.get("BussinessDocReason") if business else "",
        response_for=tuple(_response_for(r) for r in m.all("ResponseFor")),
        to_places=tuple(p.text for p in places.all("Place")) if places else (),
        attachments=_attachments(root, payloads), signed=signed)


def _attachments(root: Node, payloads: list[Payload]) -> tuple[AttachmentInfo, ...]:
    holder = root.child("AttachmentEncoded")
    body = root.child("edXMLBody")
    if holder is None and body is not None:
        holder = body.child("AttachmentEncoded")
    if holder is None:
        return ()
    found, index = [], 0
    for node in holder.all("Attachment"):
        payload = Payload(0, "")
        if node.child("ContentTransferEncoded") is not None and index < len(payloads):
            payload, index = payloads[index], index + 1
        found.append(AttachmentInfo(node.get("ContentId"), node.get("AttachmentName"),
                                    node.get("ContentType"), node.get("Description"),
                                    payload.size, payload.sha256))
    return tuple(found)


def _status(m: Node, signed: bool) -> StatusPackage:
    response = m.child("ResponseFor")
    return StatusPackage(
        sender=_organ(m.child("From")),
        response_for=_response_for(response) if response else ResponseFor(""),
        status_code=m.get("StatusCode"), description=m.get("Description"),
        timestamp=m.get("Timestamp"), staff_department=m.get("StaffInfo", "Department"),
        staff_name=m.get("StaffInfo", "Staff"), staff_email=m.get("StaffInfo", "Email"),
        staff_mobile=m.get("StaffInfo", "Mobile"), signed=signed)
