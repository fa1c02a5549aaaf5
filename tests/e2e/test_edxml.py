"""edXML end to end on both backends (issue 14): the hub reads a sealed edXML package,
takes its recipients from the document, shows its header as JSON and streams each
attachment on its own; a document with problems, hostile XML, recipients that disagree
and a duplicate are refused with every reason."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from api.client import TrucError
from hub.edxml.builder import build, build_status
from hub.edxml.model import AttachmentInfo, Document, Organ, ResponseFor, StatusPackage
from hub.edxml.parse import parse
from tests.e2e.exchange import agency_with_app, client
from tests.e2e.hubs import RunningHub
from tests.signed import new_signer, signed

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "edxml"


def document(source: str, *destinations: str, contents: list[bytes] | None = None,
             **changes: Any) -> Document:
    contents = contents or []
    doc = Document(
        Organ(source, "Sở Thông tin và Truyền thông"),
        tuple(Organ(d, "Sở Tư pháp") for d in destinations),
        document_id=f"{source},2026/11/29,{os.urandom(4).hex()}",
        code_number=str(int.from_bytes(os.urandom(3), "big")), code_notation="STTTT-VP",
        promulgation_place="Vũng Tàu", promulgation_date="2026-11-29", type_code="1",
        type_name="Công văn", subject="Về việc thử nghiệm trục liên thông",
        signer_name="Nguyễn Văn A", priority="0", steering_type="0", business_doc_type="0",
        attachments=tuple(AttachmentInfo(f"cid:{i}", f"tệp {i}.pdf", "application/pdf", "",
                                         len(c), hashlib.sha256(c).hexdigest())
                          for i, c in enumerate(contents)))
    return replace(doc, **changes)


def written(tmp_path: Path, doc: Document, contents: list[bytes], name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(build(doc, contents))
    return path


async def test_a_document_is_read_shown_and_its_attachments_streamed(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest, other = (agency_with_app(hub) for _ in range(3))
    contents = [os.urandom(300_000), b"%PDF-1.4 phu luc" * 1000]
    doc = document(source["code"], dest["code"], other["code"], contents=contents)
    path = written(tmp_path, doc, contents, "cong-van.edxml")
    async with client(hub, source) as app:
        sealed = await app.send([], "Công văn số 12", path, data_type="edxml")
        assert sealed["state"] == "sealed"
        assert sorted(d["agency_code"] for d in sealed["deliveries"]) == sorted(
            [dest["code"], other["code"]])  # the recipients came from the document
        seen = await app.call("GET", f"/v1/packages/{sealed['package_id']}/document")
    assert seen["problems"] == []
    header = seen["document"]
    assert header["code_number"] == doc.code_number
    assert header["sender"]["organ_id"] == source["code"]
    assert [t["organ_id"] for t in header["recipients"]] == [dest["code"], other["code"]]
    assert [(a["name"], a["size"], a["sha256"]) for a in header["attachments"]] == [
        (a.name, a.size, a.sha256) for a in doc.attachments]
    async with client(hub, dest) as app:
        mine = await app.call("GET", f"/v1/packages/{sealed['package_id']}/document")
        assert mine["document"] == header
        got = await app.request("GET", header["attachments"][0]["download_url"])
        second = await app.request("GET", f"/v1/packages/{sealed['package_id']}/attachments/1")
        with pytest.raises(TrucError) as missing:
            await app.request("GET", f"/v1/packages/{sealed['package_id']}/attachments/2")
    assert got.content == contents[0]
    assert got.headers["x-content-sha256"] == hashlib.sha256(contents[0]).hexdigest()
    assert "filename*=UTF-8''t%E1%BB%87p%200.pdf" in got.headers["content-disposition"]
    assert second.content == contents[1]
    assert second.headers["content-type"] == "application/pdf"
    assert missing.value.code == "attachment_not_found"


async def test_every_problem_of_a_document_is_listed_in_the_refusal(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = document(dest["code"], dest["code"], dest["code"], "000.00.98.H99",
                   promulgation_date="29/11/2026", subject="")
    path = written(tmp_path, doc, [], "bad.edxml")
    async with client(hub, source) as app:
        with pytest.raises(TrucError) as refused:
            await app.send([], "Sai", path, data_type="edxml")
        package_id = refused.value.problem["package"]["package_id"]
        shown = await app.call("GET", f"/v1/packages/{package_id}/document")
    assert refused.value.status == 422 and refused.value.code == "package_rejected"
    detail = refused.value.problem["detail"]
    assert detail.startswith("edxml_invalid: 5 problems:")
    for code in ("sender_mismatch From.OrganId", "duplicate_recipient To[1].OrganId",
                 "unknown_recipient To[2].OrganId", "missing_field subject",
                 "invalid_date promulgation_date"):
        assert code in detail
    assert len(shown["problems"]) == 5


@pytest.mark.parametrize("sample", ["billion_laughs.xml", "xxe_file.xml", "deep_nesting.xml"])
async def test_hostile_xml_is_refused_on_seal(hub: RunningHub, sample: str) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    async with client(hub, source) as app:
        with pytest.raises(TrucError) as refused:
            await app.send([dest["code"]], "Độc hại", CORPUS / sample, data_type="edxml")
    assert refused.value.code == "package_rejected"
    expected = "edxml_too_deep" if sample == "deep_nesting.xml" else "edxml_dtd_forbidden"
    assert f"{expected} document:" in refused.value.problem["detail"]


async def test_the_send_and_the_document_must_agree_on_recipients(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest, other = (agency_with_app(hub) for _ in range(3))
    path = written(tmp_path, document(source["code"], dest["code"]), [], "doc.edxml")
    async with client(hub, source) as app:
        with pytest.raises(TrucError) as refused:
            await app.send([other["code"]], "Khác", path, data_type="edxml")
        agreed = await app.send([dest["code"]], "Cùng", path, data_type="edxml")
    assert "recipients_disagree To" in refused.value.problem["detail"]
    assert agreed["state"] == "sealed"


async def test_the_same_document_again_is_refused_unless_it_replaces(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = document(source["code"], dest["code"])
    async with client(hub, source) as app:
        first = await app.send([], "Lần 1", written(tmp_path, doc, [], "a.edxml"),
                               data_type="edxml")
        again = replace(doc, document_id=doc.document_id + "-2")
        with pytest.raises(TrucError) as refused:
            await app.send([], "Lần 2", written(tmp_path, again, [], "b.edxml"),
                           data_type="edxml")
        replacing = replace(again, business_doc_type="3", response_for=(ResponseFor(
            source["code"], f"{doc.code_number}/{doc.code_notation}", doc.promulgation_date,
            doc.document_id),))
        replaced = await app.send([], "Thay thế", written(tmp_path, replacing, [], "c.edxml"),
                                  data_type="edxml")
    assert first["state"] == "sealed" and replaced["state"] == "sealed"
    assert f"duplicate_document To: {dest['code']} already received" in \
        refused.value.problem["detail"]


async def test_a_pdf_is_not_opened_and_sniffed_xml_is(hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes((CORPUS / "billion_laughs.xml").read_bytes())
    async with client(hub, source) as app:
        sealed = await app.send([dest["code"]], "PDF", pdf, data_type="pdf")
        with pytest.raises(TrucError) as missing:
            await app.call("GET", f"/v1/packages/{sealed['package_id']}/document")
        sniffed = await app.send([dest["code"]], "XML", written(
            tmp_path, document(source["code"], dest["code"]), [], "s.xml"), data_type="xml")
        view = await app.call("GET", f"/v1/packages/{sniffed['package_id']}/document")
    assert sealed["state"] == "sealed" and missing.value.code == "not_a_document"
    assert view["document"]["sender"]["organ_id"] == source["code"]


async def statuses_of(app: Any, package_id: str, code: str) -> list[str]:
    view = await app.package(package_id)
    (delivery,) = [d for d in view["deliveries"] if d["agency_code"] == code]
    return [s["code"] for s in delivery["statuses"]]


async def test_statuses_travel_both_ways_as_edxml_and_json(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = document(source["code"], dest["code"])
    async with client(hub, source) as src, client(hub, dest) as dst:
        sent = await src.send([], "Công văn", written(tmp_path, doc, [], "d.edxml"),
                              data_type="edxml")
        answered = ResponseFor(source["code"], f"{doc.code_number}/{doc.code_notation}",
                               doc.promulgation_date, doc.document_id)
        registered = tmp_path / "status-03.edxml"
        registered.write_bytes(build_status(StatusPackage(
            Organ(dest["code"]), answered, "03", "Đã vào sổ", "2026-11-29 10:00:00")))
        notice = await dst.send([], "Trạng thái 03", registered, data_type="edxml")
        assert [d["agency_code"] for d in notice["deliveries"]] == [source["code"]]
        for _ in range(100):  # the StatusReported is applied by the package processor
            if await statuses_of(src, sent["package_id"], dest["code"]) == ["03"]:
                break
            await asyncio.sleep(0.1)
        assert await statuses_of(src, sent["package_id"], dest["code"]) == ["03"]
        path = f"/v1/packages/{sent['package_id']}/status-package"
        as_edxml = await src.request("GET", path, params={"destination": dest["code"]})
        await dst.report_status(sent["package_id"], "05")
        later = await src.request("GET", path, params={"destination": dest["code"]})
        stray = tmp_path / "stray.edxml"
        stray.write_bytes(build_status(StatusPackage(
            Organ(dest["code"]), replace(answered, code="999/KHONG-CO"), "03")))
        with pytest.raises(TrucError) as refused:
            await dst.send([], "Trạng thái lạc", stray, data_type="edxml")
    first, second = parse(as_edxml.content), parse(later.content)
    assert isinstance(first, StatusPackage) and isinstance(second, StatusPackage)
    assert (first.status_code, first.sender.organ_id) == ("03", dest["code"])
    assert first.response_for == answered
    assert second.status_code == "05"
    assert "status_document_not_found response_for" in refused.value.problem["detail"]


async def delivery_of(app: Any, package_id: str, code: str) -> dict[str, Any]:
    view = await app.package(package_id)
    (delivery,) = [d for d in view["deliveries"] if d["agency_code"] == code]
    return dict(delivery)


async def until_statuses(app: Any, package_id: str, code: str, expected: list[str]) -> None:
    """The statuses a sealed edXML package caused, once the package processor shows them."""
    for _ in range(100):
        if await statuses_of(app, package_id, code) == expected:
            return
        await asyncio.sleep(0.1)
    assert await statuses_of(app, package_id, code) == expected


async def test_a_revoking_document_recalls_the_delivery_it_revokes(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = document(source["code"], dest["code"])
    named = ResponseFor(source["code"], f"{doc.code_number}/{doc.code_notation}",
                        doc.promulgation_date, doc.document_id)
    revoke = replace(doc, document_id=doc.document_id + "-thu-hoi", business_doc_type="1",
                     business_doc_reason="Gửi nhầm", response_for=(named,))
    async with client(hub, source) as src, client(hub, dest) as dst:
        sent = await src.send([], "Công văn", written(tmp_path, doc, [], "d.edxml"),
                              data_type="edxml")
        revoking = await src.send([], "Thu hồi", written(tmp_path, revoke, [], "r.edxml"),
                                  data_type="edxml")
        for _ in range(100):  # the DeliveryRecalled is applied by the package processor
            if (await delivery_of(src, sent["package_id"], dest["code"]))["state"] == \
                    "recalled":
                break
            await asyncio.sleep(0.1)
        recalled = await delivery_of(src, sent["package_id"], dest["code"])
        view = await dst.call("GET", f"/v1/packages/{revoking['package_id']}/document")
        with pytest.raises(TrucError) as gone:
            await dst.fetch(sent["package_id"], tmp_path / "gone.edxml")
        stray = replace(revoke, document_id="x", response_for=(replace(named, code="9/X"),))
        with pytest.raises(TrucError) as refused:
            await src.send([], "Thu hồi lạc", written(tmp_path, stray, [], "s.edxml"),
                           data_type="edxml")
    assert revoking["state"] == "sealed"
    assert recalled["state"] == "recalled"
    assert view["document"]["earlier_packages"] == [sent["package_id"]]
    assert gone.value.code == "delivery_recalled"
    assert "revoked_document_not_found response_for" in refused.value.problem["detail"]


async def test_recall_statuses_and_updates_travel_as_edxml(
        hub: RunningHub, tmp_path: Path) -> None:
    """13 from the sender, 15 from the destination, both as edXML status packages: the
    same statuses the JSON API records; then an update linked to what it updates."""
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = document(source["code"], dest["code"])
    named = ResponseFor(source["code"], f"{doc.code_number}/{doc.code_notation}",
                        doc.promulgation_date, doc.document_id)
    async with client(hub, source) as src, client(hub, dest) as dst:
        sent = await src.send([], "Công văn", written(tmp_path, doc, [], "d.edxml"),
                              data_type="edxml")
        await dst.fetch(sent["package_id"], tmp_path / "got.edxml")
        asked = tmp_path / "status-13.edxml"
        asked.write_bytes(build_status(StatusPackage(
            Organ(source["code"]), named, "13", "Gửi nhầm", "2026-11-29 10:00:00")))
        notice = await src.send([], "Thu hồi (13)", asked, data_type="edxml")
        assert [d["agency_code"] for d in notice["deliveries"]] == [dest["code"]]
        await until_statuses(src, sent["package_id"], dest["code"], ["13"])
        with pytest.raises(TrucError) as pending:
            await src.send([], "Lại 13", asked, data_type="edxml")
        agreed = tmp_path / "status-15.edxml"
        agreed.write_bytes(build_status(StatusPackage(
            Organ(dest["code"]), named, "15", "Đồng ý", "2026-11-29 11:00:00")))
        await dst.send([], "Đồng ý (15)", agreed, data_type="edxml")
        await until_statuses(src, sent["package_id"], dest["code"], ["13", "15"])
        update = replace(doc, document_id=doc.document_id + "-2", business_doc_type="2",
                         response_for=(named,))
        updated = await src.send([], "Cập nhật", written(tmp_path, update, [], "u.edxml"),
                                 data_type="edxml")
        view = await src.call("GET", f"/v1/packages/{updated['package_id']}/document")
    assert "status_not_applicable status_code" in pending.value.problem["detail"]
    assert view["document"]["earlier_packages"] == [sent["package_id"]]
    assert view["document"]["business_doc_type_name"] == "update"


async def test_operators_find_documents_by_number_notation_and_type(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    doc = document(source["code"], dest["code"], code_notation="QD-UBND",
                   type_name="Quyết định", subject="Về việc phê duyệt đề án số hóa")
    async with client(hub, source) as app:
        sent = await app.send([], "Tiêu đề khác", written(tmp_path, doc, [], "qd.edxml"),
                              data_type="edxml")
    path = f"/v1/ops/agencies/{dest['code']}/history"
    found: list[Any] = []
    for _ in range(100):  # the history projection follows the log
        found = hub.ops("GET", f"{path}?q={doc.code_number}/qd-ubnd&document_type=quyet+dinh")
        if found:
            break
        await asyncio.sleep(0.1)
    assert [e["package_id"] for e in found] == [sent["package_id"]]
    assert found[0]["document"]["type"] == "Quyết định"
    assert hub.ops("GET", f"{path}?q=phe+duyet+so+hoa")[0]["package_id"] == sent["package_id"]
    assert hub.ops("GET", f"{path}?document_type=cong+van") == []


async def test_a_signature_is_verified_recorded_and_shown(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    good = signed(build(document(source["code"], dest["code"])))
    changed = signed(build(document(source["code"], dest["code"]))).replace(
        "Vũng Tàu".encode(), "Bà Rịa".encode())
    results = []
    async with client(hub, source) as app:
        for name, data in (("good.edxml", good), ("changed.edxml", changed)):
            (tmp_path / name).write_bytes(data)
            sent = await app.send([], "Có chữ ký", tmp_path / name, data_type="edxml")
            assert sent["state"] == "sealed"  # shown, not refused: no policy requires it
            view = await app.call("GET", f"/v1/packages/{sent['package_id']}/document")
            results.append(view["document"]["signature"]["result"])
        plain = await app.send([], "Không ký", written(
            tmp_path, document(source["code"], dest["code"]), [], "p.edxml"), data_type="edxml")
        unsigned = await app.call("GET", f"/v1/packages/{plain['package_id']}/document")
    assert results == ["valid", "invalid"]
    assert unsigned["document"]["signature"] == {"result": "none", "detail": ""}


async def test_an_agency_that_must_sign_has_unsigned_documents_refused(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    signer = new_signer()
    shown = hub.ops("PUT", f"/v1/ops/agencies/{source['code']}/signing",
                    {"signing": "required", "certificates": [signer.sha256]})
    good, stranger = tmp_path / "good.edxml", tmp_path / "stranger.edxml"
    good.write_bytes(signed(build(document(source["code"], dest["code"])), signer))
    stranger.write_bytes(signed(build(document(source["code"], dest["code"]))))
    async with client(hub, source) as app:
        sealed = await app.send([], "Có chữ ký", good, data_type="edxml")
        with pytest.raises(TrucError) as untrusted:
            await app.send([], "Ký bằng chứng thư lạ", stranger, data_type="edxml")
        with pytest.raises(TrucError) as unsigned:
            await app.send([], "Không ký", written(
                tmp_path, document(source["code"], dest["code"]), [], "p.edxml"),
                data_type="edxml")
        pdf = tmp_path / "x.pdf"
        pdf.write_bytes(b"%PDF-1.4 not a document")
        other = await app.send([dest["code"]], "PDF", pdf, data_type="pdf")
    renewed = "AA:" + ":".join(["0b"] * 31)  # as openssl prints a fingerprint
    by_cli = hub.admin("agency", "signing", source["code"], "required", "--certificate",
                       renewed)
    listed: list[Any] = []
    for _ in range(100):  # the CLI recorded it; the hub's registry view follows the log
        listed = [a for a in hub.ops("GET", "/v1/ops/agencies") if a["code"] == source["code"]]
        if listed[0]["certificates"] != [signer.sha256]:
            break
        await asyncio.sleep(0.1)
    cleared = hub.ops("PUT", f"/v1/ops/agencies/{source['code']}/signing",
                      {"signing": "optional"})
    assert shown["signing"] == "required" and shown["certificates"] == [signer.sha256]
    assert "signature_untrusted Signature: signed with a certificate (SHA-256 " in \
        untrusted.value.problem["detail"]
    assert sealed["state"] == "sealed" and other["state"] == "sealed"
    assert unsigned.value.code == "package_rejected"
    assert f"signature_required Signature: {source['code']} must send signed documents; " \
        "the document carries no XML signature" in unsigned.value.problem["detail"]
    assert by_cli["certificates"] == listed[0]["certificates"] == ["aa" + "0b" * 31]
    assert (cleared["signing"], cleared["certificates"]) == ("optional", [])



async def test_an_agency_that_must_sign_has_a_certificate_out_of_its_validity_refused(
        hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    hub.ops("PUT", f"/v1/ops/agencies/{source['code']}/signing", {"signing": "required"})
    day = timedelta(days=1)
    current = new_signer()
    signers = {"current": current, "expired": new_signer((-30 * day, -day)),
               "early": new_signer((day, 30 * day))}
    refused: dict[str, str] = {}
    async with client(hub, source) as app:
        for name, signer in signers.items():
            path = tmp_path / f"{name}.edxml"
            path.write_bytes(signed(build(document(source["code"], dest["code"])), signer))
            try:
                sealed = await app.send([], name, path, data_type="edxml")
            except TrucError as error:
                refused[name] = error.problem["detail"]
        view = await app.call("GET", f"/v1/packages/{sealed['package_id']}/document")
    shown = view["document"]["signature"]["certificate"]
    assert sorted(refused) == ["early", "expired"]
    assert "certificate_expired Signature: the signer's certificate (SHA-256 " \
        f"{signers['expired'].sha256}) expired on " in refused["expired"]
    assert "certificate_not_yet_valid Signature" in refused["early"]
    assert (shown["sha256"], shown["chain_problem"]) == (current.sha256, "")

async def test_statistics_count_documents_by_type(hub: RunningHub, tmp_path: Path) -> None:
    source, dest = agency_with_app(hub), agency_with_app(hub)
    async with client(hub, source) as src, client(hub, dest) as dst:
        sent = [await src.send([], t, written(tmp_path, document(
            source["code"], dest["code"], type_name=t), [], f"{n}.edxml"), data_type="edxml")
            for n, t in enumerate(("Quyết định", "Công văn", "Công văn"))]
        got = await dst.fetch(sent[0]["package_id"], tmp_path / "got.edxml")
        await dst.ack(sent[0]["package_id"], got)
    want = {source["code"]: {"Công văn": {"sent": 2, "received": 0},
                             "Quyết định": {"sent": 1, "received": 0}},
            dest["code"]: {"Quyết định": {"sent": 0, "received": 1}}}
    found: dict[str, Any] = {}
    for _ in range(150):  # the statistics projection follows the log
        found = {code: hub.ops("GET", f"/v1/ops/agencies/{code}/statistics")["total"]
                 ["documents"] for code in want}
        if found == want:
            break
        await asyncio.sleep(0.2)
    by_cli = json.loads(hub.truc("admin", "stats", source["code"], "--json").stdout)
    csv_path = tmp_path / "stats.csv"
    hub.truc("admin", "stats", source["code"], "--format", "csv", "-o", str(csv_path))
    header = csv_path.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    replayed = hub.replay("statistics")
    assert found == want
    assert by_cli["total"]["documents"] == want[source["code"]]
    assert {"sent: Công văn", "received: Công văn", "sent: Quyết định"} <= set(header)
    assert replayed["equal"], replayed["examples"]
