"""The national axis's document operations mapped onto Truc's packages (pure): what a
``sendEdoc`` asks the hub to send, how the inbox and the sent packages read as the axis's
lists, and what an ``updateStatus`` records. ``api/routes/axis.py`` drives them with the
JSON API's own use cases (``api.packages_service.Packages``), so the edXML analysis,
recipients taken from the document, duplicates and the signing policy all apply.

- ``sendEdoc``: the body is the ``.edxml`` file followed by ``\\r\\n`` (the SDK adds it);
  ``XroadVnpt-hash-file`` is its SHA-256 with each byte in hex *without zero-padding*. A
  document (``messagetype: edoc``) and an edXML status package (``status``) are both sent
  as data type ``edxml`` with no recipients: the document's ``To`` names them. A retry of
  the same bytes names the same package (an idempotency key derived from the digest).
- ``updateStatus``: ``done`` is the destination's receipt (the acknowledgement, with the
  digest the hub holds: the destination took the document ``getEdoc`` gave it);
  ``processing`` and ``fail`` record nothing (``getEdoc`` already recorded the fetch; a
  delivery that failed stays open and listed); a national status code (``01``…``16``) is
  the same ``StatusReported`` as ``POST /v1/packages/{id}/status`` (the source's ``13``
  names the delivery it concerns in ``XroadVnpt-to``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hub.auth.authenticate import Forbidden
from hub.axis.signature import PREFIX
from hub.edxml.model import StatusPackage
from hub.edxml.parse import parse
from hub.errors import InvalidRequest, TrucError
from hub.packages.decisions import STATUS_CODES, SendRequest
from hub.packages.model import Package

EDXML = "edxml"
PROTOCOL = "axis/3.0"
MESSAGE_TYPES = ("edoc", "status")
DEFAULT_TITLE = "edXML (sendEdoc)"
TRANSFER = ("done", "processing", "fail")
"""The ``updateStatus`` values the SDK sends: the receiver took the document, is taking
it, or failed to."""


def header(headers: Mapping[str, str], name: str) -> str:
    """An ``XroadVnpt-`` header (lower-cased names), stripped; empty when absent."""
    return headers.get(PREFIX + name.lower(), "").strip()


def sdk_hex(digest: bytes) -> str:
    """A digest as the SDK writes it: each byte in hex, without zero-padding."""
    return "".join(f"{b:x}" for b in digest)


def edxml_content(body: bytes, declared: str) -> bytes:
    """The ``.edxml`` file of a ``sendEdoc`` body: the body without the ``\\r\\n`` the SDK
    appends, checked against ``hash-file`` (the SDK's unpadded hex, or plain hex) when the
    caller sent one. A body without the trailing ``\\r\\n`` is taken as it is."""
    candidates = [body[:-2], body] if body.endswith(b"\r\n") else [body]
    if not declared:
        return candidates[0]
    wanted = declared.strip().lower()
    for content in candidates:
        digest = hashlib.sha256(content).digest()
        if wanted in (sdk_hex(digest), digest.hex()):
            return content
    raise InvalidRequest("XroadVnpt-hash-file is not the SHA-256 of the file sent (the body "
                         "without its trailing CRLF)", code="axis_hash_file")


def send_request(headers: Mapping[str, str], caller_code: str, content: bytes) -> SendRequest:
    """The package a ``sendEdoc`` asks for, from the caller's agency: ``XroadVnpt-from``,
    when sent, must be that agency's code (a system sends for its own agency only)."""
    if not content:
        raise InvalidRequest("sendEdoc carries the .edxml file as its body",
                             code="axis_empty_body")
    sender = header(headers, "from")
    if sender and sender != caller_code:
        raise Forbidden(f"XroadVnpt-from {sender} is not this system's agency ({caller_code})",
                        code="axis_from_mismatch")
    kind = header(headers, "messagetype").lower() or "edoc"
    if kind not in MESSAGE_TYPES:
        raise InvalidRequest(f"XroadVnpt-messagetype must be one of {', '.join(MESSAGE_TYPES)}",
                             code="axis_message_type")
    digest = hashlib.sha256(content).hexdigest()
    return SendRequest([], title_of(content), "normal", EDXML, PROTOCOL, len(content), digest,
                       idempotency_key=f"axis-sendEdoc-{digest}")


def title_of(content: bytes) -> str:
    """The package's title: the document's subject, a status package's code and words;
    a file the hub cannot read gets a plain title (the analysis on seal refuses it with
    every reason)."""
    try:
        read = parse(content)
    except TrucError:
        return DEFAULT_TITLE
    if isinstance(read, StatusPackage):
        words = f" {read.description}" if read.description else ""
        return f"Trạng thái {read.status_code}{words}"[:500] or DEFAULT_TITLE
    return read.subject[:500] or DEFAULT_TITLE


def doc_id(headers: Mapping[str, str]) -> str:
    found = header(headers, "docId")
    if not found:
        raise InvalidRequest("XroadVnpt-docId names the document", code="axis_doc_id")
    return found


GET_EDOC_MAX = 64 * 1024 * 1024
"""``getEdoc`` answers the document whole, in base64 in one JSON string: a package larger
than this (sent in chunks through the JSON API) is fetched there, by ranges."""


class TooLargeForAxis(TrucError):
    code = "axis_document_too_large"
    status = 413


def check_whole(pkg: Package | None) -> None:
    if pkg is not None and pkg.size > GET_EDOC_MAX:
        raise TooLargeForAxis(f"this document has {pkg.size} bytes; getEdoc answers at most "
                              f"{GET_EDOC_MAX}: fetch it with GET /v1/packages/{{id}}/content",
                              limit=GET_EDOC_MAX)


@dataclass(frozen=True)
class Update:
    """What an ``updateStatus`` records: an acknowledgement, a status report, or nothing."""

    action: Literal["ack", "report", "none"]
    code: str = ""
    destination: str | None = None
    """The source's 13 (recall requested): ``XroadVnpt-to``, the delivery it concerns."""


def update(headers: Mapping[str, str]) -> Update:
    status = header(headers, "status").lower()
    if status == "done":
        return Update("ack")
    if status in TRANSFER:
        return Update("none")
    if status in STATUS_CODES:
        return Update("report", status, header(headers, "to") or None)
    raise InvalidRequest("XroadVnpt-status must be done, processing, fail or a national "
                         f"status code ({', '.join(sorted(STATUS_CODES))})",
                         code="axis_status")


def message_type(pkg: Package | None) -> str:
    """``status`` for an edXML status package (its analysis read a status code), else
    ``edoc``."""
    return "status" if pkg is not None and "status_code" in (pkg.document or {}) else "edoc"


def received_item(row: Mapping[str, Any], caller_code: str, kind: str = "edoc"
                  ) -> dict[str, str]:
    """An inbox row as ``getReceivedEdocList`` lists it; ``kind``, its ``messageType``."""
    return {"docId": str(row["package_id"]), "serviceType": "eDoc", "messageType": kind,
            "from": str(row["source"]), "to": caller_code,
            "created_time": str(row["requested_at"]), "updated_time": str(row["requested_at"]),
            "status": str(row["delivery_state"]),
            "status_desc": str(row.get("title", ""))}


def is_edxml(row: Mapping[str, Any]) -> bool:
    """Only edXML packages reach an axis client: it reads every ``getEdoc`` as edXML."""
    return row.get("data_type") == EDXML


def notation(pkg: Package) -> str:
    """A sent document's number and notation (``12/STTTT-VP``), as its analysis read them."""
    doc = pkg.document or {}
    number, notation = doc.get("code_number") or "", doc.get("code_notation") or ""
    return f"{number}/{notation}" if number or notation else ""


def sent_items(pkg: Package) -> list[dict[str, str]]:
    """A sent package as ``getSentEdocList`` lists it: one row per destination, its
    delivery state as ``sendStatus`` and its last national status as ``receiveStatus``."""
    rows = []
    for d in pkg.deliveries.values():
        last = d.statuses[-1] if d.statuses else None
        rows.append({"senderDocId": pkg.package_id, "receiverDocId": pkg.package_id,
                     "fromCode": pkg.source_code, "toCode": d.code, "title": pkg.title,
                     "notation": notation(pkg), "sentTime": str(pkg.requested_at),
                     "receivedTime": str(last[1]) if last else "",
                     "sendStatus": d.state.value, "sendStatusDesc": d.reason or "",
                     "receiveStatus": last[0] if last else "",
                     "receiveStatusDesc": STATUS_CODES.get(last[0], "") if last else ""})
    return rows
