"""The national axis's document operations mapped onto packages (hub.axis.edocs), as
docs/national-axis.md describes the SDK's calls."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from hub.auth.authenticate import Forbidden
from hub.axis import edocs
from hub.edxml.builder import build, build_status
from hub.edxml.model import Document, Organ, ResponseFor, StatusPackage
from hub.errors import Conflict, InvalidRequest
from hub.packages.decisions import check_same_request
from hub.packages.model import Delivery, DeliveryState, Package

DOC = build(Document(Organ("000.00.11.H53"), (Organ("000.00.12.H53"),),
                     document_id="000.00.11.H53,2026/11/29,1", subject="Về việc thử trục"), [])


def headers(**fields: str) -> dict[str, str]:
    return {f"xroadvnpt-{k.lower()}": v for k, v in fields.items()}


def test_the_unpadded_hash_file_of_the_sdk_is_checked_without_the_trailing_crlf() -> None:
    content = next(c for c in (DOC + bytes([i]) for i in range(256))
                   if any(b < 16 for b in hashlib.sha256(c).digest()))
    unpadded = edocs.sdk_hex(hashlib.sha256(content).digest())
    assert len(unpadded) < 64
    assert edocs.edxml_content(content + b"\r\n", unpadded) == content
    assert edocs.edxml_content(content + b"\r\n", hashlib.sha256(content).hexdigest()) \
        == content
    assert edocs.edxml_content(content, unpadded) == content  # no CRLF: taken as it is
    assert edocs.edxml_content(content + b"\r\n", "") == content
    with pytest.raises(InvalidRequest) as wrong:
        edocs.edxml_content(content + b"\r\n", "ab" * 32)
    assert wrong.value.code == "axis_hash_file"


def test_a_send_is_edxml_with_recipients_from_the_document_and_a_stable_key() -> None:
    req = edocs.send_request(headers(**{"from": "000.00.11.H53", "messagetype": "edoc"}),
                             "000.00.11.H53", DOC)
    assert (req.recipients, req.data_type, req.title) == ([], "edxml", "Về việc thử trục")
    assert req.sha256 == hashlib.sha256(DOC).hexdigest() and req.size == len(DOC)
    again = edocs.send_request(headers(), "000.00.11.H53", DOC)
    assert again.idempotency_key == req.idempotency_key  # a retry names the same package
    status = build_status(StatusPackage(Organ("000.00.12.H53"),
                                        ResponseFor("000.00.11.H53", "1/X"), "03", "Đã vào sổ"))
    assert edocs.send_request(headers(messagetype="status"), "000.00.12.H53",
                              status).title == "Trạng thái 03 Đã vào sổ"
    assert edocs.send_request(headers(), "000.00.11.H53", b"not xml").title == \
        edocs.DEFAULT_TITLE  # refused on seal, with the analysis's reasons


@pytest.mark.parametrize(("fields", "code"), [
    ({"from": "000.00.99.H53"}, "axis_from_mismatch"),
    ({"messagetype": "fax"}, "axis_message_type"),
])
def test_a_send_for_another_agency_or_of_an_unknown_kind_is_refused(
        fields: dict[str, str], code: str) -> None:
    with pytest.raises((Forbidden, InvalidRequest)) as refused:
        edocs.send_request(headers(**fields), "000.00.11.H53", DOC)
    assert refused.value.code == code
    with pytest.raises(InvalidRequest):
        edocs.send_request(headers(), "000.00.11.H53", b"")


def test_update_status_done_acknowledges_and_a_national_code_is_reported() -> None:
    assert edocs.update(headers(status="done")) == edocs.Update("ack")
    assert edocs.update(headers(status="processing")).action == "none"
    assert edocs.update(headers(status="fail")).action == "none"
    assert edocs.update(headers(status="03")) == edocs.Update("report", "03")
    assert edocs.update(headers(status="13", to="000.00.12.H53")) == \
        edocs.Update("report", "13", "000.00.12.H53")
    with pytest.raises(InvalidRequest) as bad:
        edocs.update(headers(status="99"))
    assert bad.value.code == "axis_status"
    with pytest.raises(InvalidRequest):
        edocs.doc_id(headers())
    assert edocs.doc_id(headers(docId=" p1 ")) == "p1"


def test_lists_have_the_axis_shapes() -> None:
    row = {"package_id": "p1", "source": "000.00.11.H53", "requested_at": "2026-11-29T10:00",
           "delivery_state": "notified", "title": "Về việc", "data_type": "edxml"}
    item = edocs.received_item(row, "000.00.12.H53")
    assert set(item) == {"docId", "serviceType", "messageType", "from", "to", "created_time",
                         "updated_time", "status", "status_desc"}
    assert (item["docId"], item["from"], item["to"]) == ("p1", "000.00.11.H53",
                                                        "000.00.12.H53")
    assert edocs.is_edxml(row) and not edocs.is_edxml({**row, "data_type": "pdf"})
    pkg = Package("p1", "a1", "000.00.11.H53", "app1", ("000.00.12.H53",), "Về việc",
                  "normal", "edxml", "axis/3.0", 1, "00", "2026-11-29T10:00",
                  deliveries={"a2": Delivery("a2", "000.00.12.H53", DeliveryState.ACKNOWLEDGED,
                                             "2026-11-29T10:00",
                                             statuses=(("03", "2026-11-29T11:00"),))},
                  document={"code_number": "12", "code_notation": "STTTT-VP"})
    [sent] = edocs.sent_items(pkg)
    assert set(sent) == {"senderDocId", "receiverDocId", "fromCode", "toCode", "title",
                         "notation", "sentTime", "receivedTime", "sendStatus",
                         "sendStatusDesc", "receiveStatus", "receiveStatusDesc"}
    assert (sent["toCode"], sent["sendStatus"], sent["receiveStatus"], sent["notation"]) == \
        ("000.00.12.H53", "acknowledged", "03", "12/STTTT-VP")
    assert edocs.message_type(pkg) == "edoc" and edocs.message_type(None) == "edoc"
    status = replace(pkg, document={"status_code": "05", "sender": {}})
    assert edocs.message_type(status) == "status"
    assert edocs.received_item(row, "000.00.12.H53", "status")["messageType"] == "status"


def test_a_retried_edxml_send_naming_no_recipients_is_the_same_request() -> None:
    """The document named the recipients on seal: a retry (the same Idempotency-Key,
    the same empty list) is the same request, not ``idempotency_key_reused``."""
    req = edocs.send_request(headers(), "000.00.11.H53", DOC)
    earlier = Package("p1", "a1", "000.00.11.H53", "app1", ("000.00.12.H53",), req.title,
                      "normal", "edxml", edocs.PROTOCOL, req.size, req.sha256, "2026-11-29")
    check_same_request(earlier, req)
    with pytest.raises(Conflict):
        check_same_request(earlier, replace(req, recipients=["000.00.13.H53"]))
    with pytest.raises(Conflict):
        check_same_request(replace(earlier, data_type="pdf"), replace(req, data_type="pdf"))


def test_get_edoc_answers_a_document_whole_only_up_to_its_bound() -> None:
    pkg = Package("p1", "a1", "000.00.11.H53", "app1", (), "t", "normal", "edxml",
                  edocs.PROTOCOL, edocs.GET_EDOC_MAX, "00", "2026-11-29")
    edocs.check_whole(pkg)
    edocs.check_whole(None)  # not found: the fetch says so
    with pytest.raises(edocs.TooLargeForAxis) as big:
        edocs.check_whole(replace(pkg, size=edocs.GET_EDOC_MAX + 1))
    assert big.value.status == 413
