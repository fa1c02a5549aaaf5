"""The national axis's facade end to end, on both backends: two QLVB systems that speak
only the axis's protocol (XroadVnpt-* headers signed with HMAC-SHA256, as the SDK does:
docs/national-axis.md) exchange a document through this hub, and the sender sees the
destination's receipt and status through the axis and through the JSON API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hub.axis import signature
from hub.axis.edocs import sdk_hex
from hub.edxml.builder import build, build_status
from hub.edxml.model import Document, Organ, ResponseFor, StatusPackage
from hub.edxml.parse import parse
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub

pytestmark = pytest.mark.usefixtures("admin_key")


def axis(hub: RunningHub, key: dict[str, Any], operation: str, body: bytes = b"",
         **fields: str) -> httpx.Response:
    """One call as the SDK makes it: the parameters as signed XroadVnpt-* headers."""
    signed = {"systemid": key["access_key"], "servicetype": "eDoc",
              "timestamp": signature.stamp(datetime.now(UTC)),
              "Content-Type": "application/octet-stream" if body else "application/json",
              **fields}
    headers = {f"XroadVnpt-{k}": v for k, v in signed.items()}
    headers.update(signature.sign(signed, key["secret_key"]))
    headers["XroadVnpt-version"] = "3.0.201608"
    return httpx.post(f"{hub.url}/{operation}", headers=headers, content=body, timeout=60)


def ok(answer: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()
    assert (answer.status_code, body["status"], body["ErrorCode"]) == (200, "OK", "0"), \
        answer.text
    return body


def document(source: str, destination: str) -> bytes:
    return build(Document(
        Organ(source, "Sở Thông tin và Truyền thông"), (Organ(destination, "Sở Tư pháp"),),
        document_id=f"{source},2026/11/29,{os.urandom(4).hex()}",
        code_number=str(int.from_bytes(os.urandom(3), "big")), code_notation="STTTT-VP",
        promulgation_place="Vũng Tàu", promulgation_date="2026-11-29", type_code="1",
        type_name="Công văn", subject="Về việc chuyển sang Truc", signer_name="Nguyễn Văn A",
        priority="0", steering_type="0", business_doc_type="0"), [])


async def test_two_axis_clients_exchange_a_document_and_its_statuses(hub: RunningHub) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    edxml = document(source["code"], dest["code"])
    sent = ok(axis(hub, source, "sendEdoc", edxml + b"\r\n", messagetype="edoc",
                   **{"from": source["code"],
                      "hash-file": sdk_hex(hashlib.sha256(edxml).digest())}))
    doc_id = sent["DocId"]
    again = ok(axis(hub, source, "sendEdoc", edxml + b"\r\n", messagetype="edoc"))
    assert again["DocId"] == doc_id  # a retry of the same file names the same document
    listed = ok(axis(hub, dest, "getReceivedEdocList"))["data"]
    [item] = [i for i in listed if i["docId"] == doc_id]
    assert (item["from"], item["to"], item["messageType"]) == \
        (source["code"], dest["code"], "edoc")
    assert ok(axis(hub, dest, "countReceiveEdoc"))["data"] == "1"
    assert ok(axis(hub, dest, "countReceiveStatus"))["data"] == "0"
    fetched = ok(axis(hub, dest, "getEdoc", docId=doc_id, filePath="/tmp/x.edxml"))
    assert base64.b64decode(fetched["data"]) == edxml
    downloaded = ok(axis(hub, dest, "downloadEdoc", docId=doc_id))
    assert base64.b64decode(downloaded["data"]) == edxml
    assert ok(axis(hub, dest, "updateStatus", docId=doc_id, status="done"))["data"] == \
        "acknowledged"
    assert doc_id not in [i["docId"] for i in ok(axis(hub, dest, "getReceivedEdocList"))["data"]]
    ok(axis(hub, dest, "updateStatus", docId=doc_id, status="03"))
    doc = parse(edxml)
    assert isinstance(doc, Document)
    answered = ResponseFor(source["code"], f"{doc.code_number}/{doc.code_notation}",
                           doc.promulgation_date, doc.document_id)
    status = build_status(StatusPackage(Organ(dest["code"]), answered, "05", "Đang xử lý",
                                        "2026-11-29 10:00:00"))
    notice = ok(axis(hub, dest, "sendEdoc", status + b"\r\n", messagetype="status"))["DocId"]
    async with client(hub, source) as src:
        for _ in range(100):  # the status package's StatusReported, once applied
            view = await src.package(doc_id)
            if [s["code"] for s in view["deliveries"][0]["statuses"]] == ["03", "05"]:
                break
            await asyncio.sleep(0.1)
    [delivery] = view["deliveries"]
    assert (delivery["agency_code"], delivery["state"]) == (dest["code"], "acknowledged")
    assert [s["code"] for s in delivery["statuses"]] == ["03", "05"]
    assert ok(axis(hub, source, "countReceiveStatus"))["data"] == "1"
    back = [i for i in ok(axis(hub, source, "getReceivedEdocList"))["data"]
            if i["docId"] == notice]  # the status package reaches the source's QLVB too
    assert [(i["from"], i["status_desc"], i["messageType"]) for i in back] == \
        [(dest["code"], "Trạng thái 05 Đang xử lý", "status")]
    got = ok(axis(hub, source, "getEdoc", docId=notice))
    assert base64.b64decode(got["data"]) == status
    assert view["data_type"] == "edxml" and view["title"] == "Về việc chuyển sang Truc"
    rows = [r for r in ok(axis(hub, source, "getSentEdocList"))["data"]
            if r["senderDocId"] == doc_id]
    assert [(r["toCode"], r["sendStatus"], r["receiveStatus"], r["notation"]) for r in rows] \
        == [(dest["code"], "acknowledged", "05", f"{doc.code_number}/{doc.code_notation}")]


async def test_axis_errors_keep_the_axis_shape(hub: RunningHub) -> None:
    source, dest, stranger = (agency_with_app(hub) for _ in range(3))
    edxml = document(source["code"], dest["code"])
    forged = axis(hub, source, "sendEdoc", edxml, **{"hash-file": "00" * 32})
    assert (forged.status_code, forged.json()["ErrorCode"]) == (400, "axis_hash_file")
    other = axis(hub, source, "sendEdoc", edxml, **{"from": dest["code"]})
    assert (other.status_code, other.json()["ErrorCode"]) == (403, "axis_from_mismatch")
    unknown = axis(hub, source, "sendEdoc", document(source["code"], "000.99.99.H53"))
    assert (unknown.status_code, unknown.json()["status"]) == (422, "FAIL")
    assert unknown.json()["ErrorCode"] == "package_rejected" and unknown.json()["DocId"]
    doc_id = ok(axis(hub, source, "sendEdoc", edxml))["DocId"]
    for caller, fields, code in [
            (stranger, {"docId": doc_id}, "package_not_found"),
            (dest, {"docId": "no-such-doc"}, "package_not_found"),
            (dest, {}, "axis_doc_id")]:
        refused = axis(hub, caller, "getEdoc", **fields)
        assert refused.json() == {"status": "FAIL", "ErrorCode": code,
                                  "ErrorDesc": refused.json()["ErrorDesc"]}
        assert refused.status_code in (400, 404)
    bad = axis(hub, dest, "updateStatus", docId=doc_id, status="finished")
    assert (bad.status_code, bad.json()["ErrorCode"]) == (400, "axis_status")
    ok(axis(hub, dest, "updateStatus", docId=doc_id, status="processing"))
    for _ in range(50):  # `processing` recorded nothing: the delivery is still listed
        listed = ok(axis(hub, dest, "getReceivedEdocList"))["data"]
        if any(i["docId"] == doc_id for i in listed):
            break
        await asyncio.sleep(0.1)
    assert any(i["docId"] == doc_id for i in listed)
    recall = ok(axis(hub, source, "updateStatus", docId=doc_id, status="13",
                     to=dest["code"]))
    assert recall["data"] == "sealed"  # the source's recall request, as the JSON API's
