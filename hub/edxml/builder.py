"""Writing edXML: a document (with its attachments, base64-encoded as they stream) or a
status package, in the element order of QCVN 102:2016. ``parse(build(x)) == x``.

Empty values are left out, as the regulation's optional elements are; the reader gives
them back as empty strings. A built document is unsigned: signing is the sending system's
act, with its own key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from xml.sax.saxutils import escape

from hub.edxml.model import NAMESPACE, Document, Organ, ResponseFor, StatusPackage

_LINE = 57 * 1024
"""Bytes encoded at once: a multiple of 3, so the base64 pieces join without padding."""
_ORGAN = (("OrganId", "organ_id"), ("OrganizationInCharge", "in_charge"),
          ("OrganName", "name"), ("OrganAdd", "address"), ("Email", "email"),
          ("Telephone", "telephone"), ("Fax", "fax"), ("Website", "website"))


def _el(name: str, value: str) -> str:
    return f"<edXML:{name}>{escape(value)}</edXML:{name}>" if value else ""


def _group(name: str, *inner: str) -> str:
    body = "".join(inner)
    return f"<edXML:{name}>{body}</edXML:{name}>" if body else ""


def _organ(name: str, organ: Organ) -> str:
    return f"<edXML:{name}>" + "".join(_el(tag, getattr(organ, attr))
                                       for tag, attr in _ORGAN) + f"</edXML:{name}>"


def _response_for(r: ResponseFor) -> str:
    return _group("ResponseFor", _el("OrganId", r.organ_id), _el("Code", r.code),
                  _el("PromulgationDate", r.promulgation_date),
                  _el("DocumentId", r.document_id))


_OPEN = ('<?xml version="1.0" encoding="UTF-8"?>\n'
         f'<edXML:edXMLEnvelope xmlns:edXML="{NAMESPACE}"><edXML:edXMLHeader>')


def _message_header(d: Document) -> str:
    return "".join((
        "<edXML:MessageHeader>", _organ("From", d.sender),
        *(_organ("To", t) for t in d.recipients), _el("DocumentId", d.document_id),
        _group("Code", _el("CodeNumber", d.code_number), _el("CodeNotation", d.code_notation)),
        _group("PromulgationInfo", _el("Place", d.promulgation_place),
               _el("PromulgationDate", d.promulgation_date)),
        _group("DocumentType", _el("Type", d.type_code), _el("TypeName", d.type_name)),
        _el("Subject", d.subject), _el("Content", d.content),
        _group("SignerInfo", _el("Competence", d.signer_competence),
               _el("Position", d.signer_position), _el("FullName", d.signer_name)),
        _el("DueDate", d.due_date),
        _group("ToPlaces", *(_el("Place", p) for p in d.to_places)),
        _group("OtherInfo", _el("Priority", d.priority)),
        *(_response_for(r) for r in d.response_for), _el("SteeringType", d.steering_type),
        "</edXML:MessageHeader>"))


def _trace(d: Document) -> str:
    return _group("TraceHeaderList", _group(
        "Bussiness", _el("BussinessDocType", d.business_doc_type),
        _el("BussinessDocReason", d.business_doc_reason)))


def build_document(doc: Document, contents: Sequence[Iterable[bytes]] = ()) -> Iterator[bytes]:
    """The document's bytes, piece by piece; ``contents[i]`` gives the bytes of
    ``doc.attachments[i]`` (in pieces of any size), encoded as they come."""
    yield (_OPEN + _message_header(doc) + _trace(doc) + "</edXML:edXMLHeader>").encode()
    yield b"<edXML:edXMLBody><edXML:Manifest version=\"1.0\">"
    for a in doc.attachments:
        yield ("<edXML:Reference>" + _el("ContentId", a.content_id)
               + _el("ContentType", a.content_type) + _el("Description", a.description)
               + _el("AttachmentName", a.name) + "</edXML:Reference>").encode()
    yield b"</edXML:Manifest></edXML:edXMLBody>"
    if doc.attachments:
        yield b"<edXML:AttachmentEncoded>"
        for a, content in zip(doc.attachments, contents, strict=True):
            yield ("<edXML:Attachment>" + _el("ContentId", a.content_id)
                   + _el("AttachmentName", a.name) + _el("Description", a.description)
                   + _el("ContentType", a.content_type)
                   + "<edXML:ContentTransferEncoded>").encode()
            yield from _base64(content)
            yield b"</edXML:ContentTransferEncoded></edXML:Attachment>"
        yield b"</edXML:AttachmentEncoded>"
    yield b"</edXML:edXMLEnvelope>"


def _base64(pieces: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for piece in pieces:
        pending += piece
        cut = len(pending) - len(pending) % _LINE
        if cut:
            yield base64.b64encode(pending[:cut])
            pending = pending[cut:]
    if pending:
        yield base64.b64encode(pending)


def build_status(status: StatusPackage) -> bytes:
    s = status
    return (_OPEN + "<edXML:MessageHeader>" + _organ("From", s.sender)
            + _response_for(s.response_for)
            + _group("StaffInfo", _el("Department", s.staff_department),
                     _el("Staff", s.staff_name), _el("Email", s.staff_email),
                     _el("Mobile", s.staff_mobile))
            + f"<edXML:StatusCode>{escape(s.status_code)}</edXML:StatusCode>"
            + _el("Description", s.description) + _el("Timestamp", s.timestamp)
            + "</edXML:MessageHeader></edXML:edXMLHeader></edXML:edXMLEnvelope>").encode()


def build(doc: Document, contents: Sequence[bytes] = ()) -> bytes:
    return b"".join(build_document(doc, [(c,) for c in contents]))
