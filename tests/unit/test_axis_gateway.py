"""The gateway's rules (``hub.axis.gateway``) and the national axis's client
(``infra.axis_client``): what goes up, how the axis's lists read back, what comes down
and what is told back up, each once; the client's calls signed as the facade checks."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hub import events as ev
from hub.axis import gateway as rules
from hub.axis import signature
from hub.axis.edocs import GET_EDOC_MAX, sdk_hex
from hub.edxml import analysis
from hub.edxml.builder import build, build_status
from hub.edxml.model import Document, Organ, ResponseFor, StatusPackage
from hub.edxml.parse import parse
from hub.packages.model import Package, evolve
from hub.zones import decisions as zones
from infra.axis_client import AxisClient, AxisError
from tests.unit.test_axis_routes import FAR, HCM
from tests.unit.test_packages import CTX, DEST, DIGEST, NOW, OTHER, SOURCE, world

AXIS_APP = "app-axis"


def brought_in(key: str | None = "axis-in:D-1", app: str = AXIS_APP,
               data_type: str = "edxml") -> Package:
    pkg = evolve(None, ev.PackageRequested(
        event_id="r", occurred_at=NOW, actor=app, correlation_id="c", package_id="p",
        source_agency_id="axis", source_agency_code="000.00.00.A01", source_app_id=app,
        recipients=[DEST], title="Công văn", priority="normal", data_type=data_type,
        protocol="axis/3.0", declared_size=10, declared_sha256=DIGEST, idempotency_key=key,
        recipient_agency_ids=["dest"]))
    for event in (
        ev.PackageSealed(event_id="s", occurred_at=NOW, actor="a", correlation_id="c",
                         package_id="p", size=10, sha256=DIGEST),
        ev.DeliveryPlanned(event_id="d", occurred_at=NOW, actor="a", correlation_id="c",
                           package_id="p", destination_agency_id="dest",
                           destination_code=DEST, priority="normal"),
    ):
        pkg = evolve(pkg, event)
    assert pkg is not None
    return pkg


def document(source: str, *destinations: str) -> bytes:
    return build(Document(
        Organ(source, "Sở gửi"), tuple(Organ(d, "Sở nhận") for d in destinations),
        document_id=f"{source},2026/11/29,1", code_number="12", code_notation="STP-VP",
        promulgation_place="Vũng Tàu", promulgation_date="2026-11-29", type_code="1",
        type_name="Công văn", subject="Về việc", signer_name="Nguyễn Văn A", priority="0",
        steering_type="0", business_doc_type="0"), [])


def status(source: str, answered: str) -> bytes:
    return build_status(StatusPackage(Organ(source), ResponseFor(answered, "12/STP-VP",
                                                                 "2026-11-29", "x"), "03"))


def test_what_comes_down_is_named_by_the_axis_document_id() -> None:
    assert rules.inbound_key("D-1") == "axis-in:D-1"
    assert rules.inbound_doc_id(brought_in(), AXIS_APP) == "D-1"
    assert rules.inbound_doc_id(brought_in(app="other"), AXIS_APP) is None
    assert rules.inbound_doc_id(brought_in(key="k"), AXIS_APP) is None
    assert rules.inbound_doc_id(brought_in(key=None), AXIS_APP) is None


def test_only_edxml_goes_up_and_a_status_package_as_a_status() -> None:
    assert rules.refusal(brought_in(data_type="pdf")) == rules.NOT_EDXML
    assert rules.refusal(brought_in()) is None
    huge = replace(brought_in(), size=GET_EDOC_MAX + 1)
    assert rules.refusal(huge) == rules.TOO_LARGE, "never read whole into memory"
    assert rules.message_type(document(SOURCE, HCM)) == "edoc"
    assert rules.message_type(status(SOURCE, HCM)) == "status"
    assert rules.message_type(b"not xml") == "edoc"


def test_a_document_naming_nobody_here_is_left_on_the_axis() -> None:
    here = {DEST}.__contains__
    assert rules.addressed_here(document(FAR, HCM, DEST), here)
    assert not rules.addressed_here(document(FAR, HCM), here)
    assert rules.addressed_here(status(FAR, DEST), here)
    assert rules.addressed_here(b"unreadable: refused on seal, with its reasons", here)


def test_the_sent_list_reads_back_one_destination_and_each_status_once() -> None:
    rows = [{"senderDocId": "D-1", "toCode": "X", "sendStatus": "notified"},
            {"senderDocId": "D-2", "toCode": HCM, "sendStatus": "notified"},
            {"senderDocId": "D-1", "toCode": HCM, "sendStatus": "acknowledged",
             "receiveStatus": "03"}]
    assert rules.seen(rows, "D-1", FAR, ()) is None
    first = rules.seen(rows, "D-1", HCM, ())
    assert first == rules.Seen("acknowledged", "", ("03",))
    assert rules.seen(rows, "D-1", HCM, ("03",)) == first  # the same 03: not again
    later = rules.seen([{**rows[2], "receiveStatus": "06"}], "D-1", HCM, ("03",))
    assert later is not None and later.statuses == ("03", "06")
    assert later.as_peer()["statuses"] == [{"code": "03"}, {"code": "06"}]
    done = rules.seen([{**rows[2], "sendStatus": "Done"}], "D-1", HCM, ())
    assert done is not None and done.state == "acknowledged"


def test_the_destinations_receipt_and_statuses_go_back_up() -> None:
    pkg = brought_in()
    ack = ev.DeliveryAcknowledged(event_id="a", occurred_at=NOW, actor="d",
                                  correlation_id="c", package_id="p",
                                  destination_agency_id="dest", app_id="x", sha256=DIGEST)
    assert rules.update_for(ack, pkg, AXIS_APP) == ("D-1", "done")
    reported = ev.StatusReported(event_id="s", occurred_at=NOW, actor="d",
                                 correlation_id="c", package_id="p", agency_id="dest",
                                 agency_code=DEST, status_code="03")
    assert rules.update_for(reported, pkg, AXIS_APP) == ("D-1", "03")
    by_source = ev.StatusReported(event_id="t", occurred_at=NOW, actor="s",
                                  correlation_id="c", package_id="p", agency_id="axis",
                                  agency_code="000.00.00.A01", status_code="13",
                                  destination_agency_id="dest")
    assert rules.update_for(by_source, pkg, AXIS_APP) is None
    assert rules.update_for(ack, brought_in(app="other"), AXIS_APP) is None
    rejected = ev.PackageRejected(event_id="x", occurred_at=NOW, actor="hub",
                                  correlation_id="c", package_id="p", reason_code="edxml",
                                  reason="1 problem")
    assert rules.update_for(rejected, pkg, AXIS_APP) == ("D-1", "fail")


def test_a_relaying_app_sends_for_its_zone_and_never_back_to_it() -> None:
    reg, callers = world()
    axis_app = callers[OTHER]
    reg.apply(zones.configure_zone(reg, CTX, "quoc-gia", "https://axis.example", "SYS",
                                   new_secret=True, protocol="axis",
                                   local_key=axis_app.key.access_key))
    assert zones.relays_sender(reg, axis_app.app.app_id, FAR)
    assert not zones.relays_sender(reg, axis_app.app.app_id, SOURCE)  # registered here
    assert not zones.relays_sender(reg, callers[SOURCE].app.app_id, FAR)
    reg.apply(zones.configure_zone(reg, CTX, "hcm", "https://hcm.example", "AK",
                                   provinces=["H29"], new_secret=True))
    assert zones.relays_sender(reg, axis_app.app.app_id, HCM)  # the axis carries it too
    assert zones.relayed_codes(reg, axis_app.app.app_id, [FAR, SOURCE]) == [SOURCE]
    assert zones.relayed_codes(reg, callers[SOURCE].app.app_id, [FAR]) == [FAR]
    other, others = world()
    holder = others[DEST]
    other.apply(zones.configure_zone(other, CTX, "brvt", "", "", provinces=["H29"],
                                     new_secret=False, protocol="held",
                                     local_key=holder.key.access_key))
    other.apply(zones.configure_zone(other, CTX, "ha-noi", "https://hn.example", "AK",
                                     provinces=["H01"], new_secret=True))
    assert zones.relayed_codes(other, holder.app.app_id, [HCM, FAR, SOURCE]) == \
        [FAR, SOURCE]  # not back to its own zone; on to another zone, or here
    assert zones.relays_sender(other, holder.app.app_id, HCM)
    assert not zones.relays_sender(other, holder.app.app_id, FAR)  # not its zone's


async def test_the_client_signs_each_call_as_the_facade_checks_it() -> None:
    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        signature.check(signature.signed_part(headers), headers, "SK", now,
                        timedelta(seconds=5))
        op = request.url.path.rsplit("/", 1)[-1]
        body: dict[str, object] = {"status": "OK", "ErrorCode": "0", "ErrorDesc": ""}
        if op == "sendEdoc":
            body["DocId"] = "D-9"
        elif op == "getEdoc":
            body["data"] = base64.b64encode(b"<edXMLEnvelope/>").decode()
        elif op == "getReceivedEdocList":
            body["data"] = [{"docId": "D-9"}, "junk"]
        elif op == "updateStatus":
            return httpx.Response(404, json={"status": "FAIL", "ErrorCode": "package_not_found",
                                             "ErrorDesc": "no such package"})
        return httpx.Response(200, json=body)

    async with AxisClient("http://axis.test/", "AK", "SK", now=lambda: now,
                          transport=httpx.MockTransport(answer)) as axis:
        assert await axis.send_edoc(b"<edXMLEnvelope/>", "status") == "D-9"
        sent = seen[-1]
        assert sent.content == b"<edXMLEnvelope/>\r\n"
        assert sent.headers["XroadVnpt-messagetype"] == "status"
        assert sent.headers["XroadVnpt-hash-file"] == sdk_hex(
            hashlib.sha256(b"<edXMLEnvelope/>").digest())
        assert await axis.get_edoc("D-9") == b"<edXMLEnvelope/>"
        assert json.loads(seen[-1].headers["XroadVnpt-sign-header"])["XroadVnpt-docId"] == \
            "D-9"
        assert await axis.received() == [{"docId": "D-9"}]
        with pytest.raises(AxisError) as refused:
            await axis.update_status("D-9", "done")
        assert (refused.value.code, refused.value.retriable) == ("package_not_found", False)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with AxisClient("http://axis.test", "AK", "SK", now=lambda: now,
                          transport=httpx.MockTransport(down)) as axis:
        with pytest.raises(AxisError) as unreachable:
            await axis.sent()
        assert unreachable.value.retriable


def test_the_seal_reads_a_relayed_document_for_the_agencies_here_only() -> None:
    reg, callers = world()
    axis_app = callers[OTHER]
    reg.apply(zones.configure_zone(reg, CTX, "quoc-gia", "https://axis.example", "SYS",
                                   new_secret=True, protocol="axis",
                                   local_key=axis_app.key.access_key))
    pkg = evolve(None, ev.PackageRequested(
        event_id="r", occurred_at=NOW, actor="a", correlation_id="c", package_id="p",
        source_agency_id=axis_app.app.agency_id, source_agency_code=OTHER,
        source_app_id=axis_app.app.app_id, recipients=[], title="t", priority="normal",
        data_type="edxml", protocol="axis/3.0", declared_size=10, declared_sha256=DIGEST))
    assert pkg is not None
    relayed = analysis.analyse(CTX, pkg, parse(document(FAR, DEST, HCM)), reg, axis_app)
    assert relayed.problems == []
    assert relayed.recipients == [DEST]  # HCM: the axis delivers it, not this hub
    own = analysis.analyse(CTX, pkg, parse(document(FAR, DEST)), reg, callers[SOURCE])
    assert any(p.startswith("sender_mismatch") for p in own.problems)
