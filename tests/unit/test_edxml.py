"""edXML: the hardened reader refuses hostile input, the builder and the parser agree on
every valid document and status package, and the rules list every problem."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.edxml.analysis import analyse, header_view
from hub.edxml.builder import build, build_document, build_status
from hub.edxml.model import AttachmentInfo, Document, Organ, ResponseFor, StatusPackage
from hub.edxml.parse import parse, read
from hub.edxml.reader import EdxmlRefused, Reader
from hub.edxml.rules import Problem, business_key, check_document, check_status
from hub.history import HistoryQuery, entry
from hub.packages.decisions import Limits as PackageLimits
from hub.packages.decisions import request_package
from hub.packages.model import Package, evolve

LIMITS = PackageLimits(max_package_bytes=10 * 2**20, chunk_bytes=2**20,
                       space_ttl=timedelta(hours=1))
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "edxml"
REFUSED: dict[str, str] = json.loads((CORPUS / "refused.json").read_text(encoding="utf-8"))
SRC, DST = "000.00.11.H53", "000.00.12.H53"


def sample(**changes: object) -> Document:
    base = Document(
        Organ(SRC, "Sở Thông tin và Truyền thông"), (Organ(DST, "Sở Tư pháp"),),
        document_id=f"{SRC},2026/11/29,1", code_number="12", code_notation="STTTT-VP",
        promulgation_place="Vũng Tàu", promulgation_date="2026-11-29", type_code="1",
        type_name="Công văn", subject="Về việc thử nghiệm trục", priority="0",
        steering_type="0", business_doc_type="0", due_date="2026-12-15")
    return replace(base, **changes)  # type: ignore[arg-type]


# --- the hostile and invalid corpus -----------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_hostile_or_broken_sample_is_refused_with_its_reason(name: str) -> None:
    with pytest.raises(EdxmlRefused) as refused:
        parse((CORPUS / name).read_bytes())
    assert refused.value.code == REFUSED[name]


def test_the_corpus_lists_every_sample_it_holds() -> None:
    assert {p.name for p in CORPUS.glob("*.xml")} == set(REFUSED)


@pytest.mark.parametrize("name", ["xxe_file.xml", "billion_laughs.xml", "quadratic_blowup.xml"])
def test_refused_in_one_byte_chunks_before_any_entity_is_read(name: str) -> None:
    """The DOCTYPE stops the reader as soon as it is seen, however the bytes arrive."""
    data = (CORPUS / name).read_bytes()
    reader = Reader()
    with pytest.raises(EdxmlRefused) as refused:
        for i in range(len(data)):
            reader.feed(data[i:i + 1])
        reader.close()
    assert refused.value.code == "edxml_dtd_forbidden"
    assert reader.root is None  # not one element was opened


def test_an_xxe_payload_never_reaches_the_parsed_text() -> None:
    with pytest.raises(EdxmlRefused):
        parse((CORPUS / "xxe_file.xml").read_bytes())


# --- streaming attachments ----------------------------------------------------------------


def test_attachments_are_decoded_as_they_stream_and_counted() -> None:
    first, second = b"%PDF-1.4 " * 1000, bytes(range(256)) * 300
    doc = sample(attachments=(
        AttachmentInfo("cid:a", "a.pdf", "application/pdf", "", len(first),
                       hashlib.sha256(first).hexdigest()),
        AttachmentInfo("cid:b", "b.bin", "application/octet-stream", "", len(second),
                       hashlib.sha256(second).hexdigest())))
    data = build(doc, [first, second])
    reader = Reader(wanted=1)
    got = []
    for i in range(0, len(data), 777):  # odd chunks: base64 groups split across feeds
        reader.feed(data[i:i + 777])
        got.append(reader.take())
    root = reader.close()
    got.append(reader.take())
    assert b"".join(got) == second
    assert [p.size for p in reader.payloads] == [len(first), len(second)]
    assert root.child("AttachmentEncoded") is not None
    assert read([data[i:i + 100] for i in range(0, len(data), 100)]) == doc


def test_the_header_tree_keeps_no_attachment_text() -> None:
    payload = b"z" * 200_000
    doc = sample(attachments=(AttachmentInfo("cid:a", "a.bin", "", "", len(payload),
                                             hashlib.sha256(payload).hexdigest()),))
    reader = Reader()
    reader.feed(build(doc, [payload]))
    root = reader.close()
    holder = root.child("AttachmentEncoded")
    assert holder is not None
    assert holder.all("Attachment")[0].get("ContentTransferEncoded") == ""


# --- parse(build(x)) == x --------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"),
                              exclude_characters="\ufeff\ufffe\uffff"), max_size=40
                ).map(str.strip)
_CODE = st.from_regex(r"\A000\.00\.[0-9]{2}\.[A-Z][0-9]{2}\Z")
_ORGAN = st.builds(Organ, _CODE, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT)
_RESPONSE = st.builds(ResponseFor, _CODE, _TEXT, _TEXT, _TEXT)


@st.composite
def documents(draw: st.DrawFn) -> tuple[Document, list[bytes]]:
    contents = draw(st.lists(st.binary(max_size=300), max_size=3))
    attachments = tuple(
        AttachmentInfo(draw(_TEXT), draw(_TEXT), draw(_TEXT), draw(_TEXT), len(c),
                       hashlib.sha256(c).hexdigest()) for c in contents)
    texts = {name: draw(_TEXT) for name in (
        "document_id", "code_number", "code_notation", "promulgation_place",
        "promulgation_date", "type_code", "type_name", "subject", "content",
        "signer_competence", "signer_position", "signer_name", "due_date", "priority",
        "steering_type", "business_doc_type", "business_doc_reason")}
    doc = replace(Document(draw(_ORGAN), tuple(draw(st.lists(_ORGAN, min_size=1, max_size=3))),
                           response_for=tuple(draw(st.lists(_RESPONSE, max_size=2))),
                           to_places=tuple(draw(st.lists(_TEXT.filter(bool), max_size=2))),
                           attachments=attachments), **texts)  # type: ignore[arg-type]
    return doc, contents


@settings(max_examples=150, deadline=None)
@given(documents())
def test_parse_of_build_is_the_document(case: tuple[Document, list[bytes]]) -> None:
    doc, contents = case
    assert parse(build(doc, contents)) == doc


@settings(max_examples=150, deadline=None)
@given(st.builds(StatusPackage, _ORGAN, _RESPONSE, st.sampled_from(
    ["01", "02", "03", "04", "05", "06", "13", "15", "16"]), _TEXT, _TEXT, _TEXT, _TEXT,
    _TEXT, _TEXT))
def test_parse_of_build_is_the_status_package(status: StatusPackage) -> None:
    assert parse(build_status(status)) == status


def test_build_streams_attachments_in_pieces() -> None:
    pieces = [b"a" * 100_000, b"b" * 7, b"c" * 60_000]
    whole = b"".join(pieces)
    doc = sample(attachments=(AttachmentInfo("cid:x", "x.bin", "", "", len(whole),
                                             hashlib.sha256(whole).hexdigest()),))
    assert parse(b"".join(build_document(doc, [pieces]))) == doc


# --- the rules ----------------------------------------------------------------------------


def registered(code: str) -> bool:
    return code in {SRC, DST, "000.00.13.H53"}


def codes(problems: list[Problem]) -> set[tuple[str, str]]:
    return {(p.code, p.field) for p in problems}


def test_a_good_document_has_no_problem() -> None:
    assert check_document(sample(), {SRC}, registered) == []


def test_every_problem_is_listed_at_once() -> None:
    doc = sample(sender=Organ("000.00.13.H53"), recipients=(
        Organ(DST), Organ(DST), Organ("000.00.99.H53"), Organ("bad code"), Organ("")),
        code_number="123456789012", subject="", promulgation_date="29/11/2026",
        due_date="2026-02-30", priority="9", steering_type="x", business_doc_type="7",
        type_code="A")
    found = codes(check_document(doc, {SRC}, registered))
    assert found == {
        ("sender_mismatch", "From.OrganId"), ("duplicate_recipient", "To[1].OrganId"),
        ("unknown_recipient", "To[2].OrganId"), ("invalid_agency_code", "To[3].OrganId"),
        ("missing_field", "To[4].OrganId"), ("too_long", "code_number"),
        ("missing_field", "subject"), ("invalid_date", "promulgation_date"),
        ("invalid_date", "due_date"), ("invalid_value", "priority"),
        ("invalid_value", "steering_type"), ("invalid_value", "business_doc_type"),
        ("invalid_value", "type_code")}


def test_a_document_with_no_recipient_and_no_sender_is_refused() -> None:
    found = codes(check_document(sample(sender=Organ(""), recipients=()), {SRC}, registered))
    assert found == {("missing_field", "From.OrganId"), ("missing_field", "To")}


def test_due_date_before_promulgation_and_long_organ_fields() -> None:
    doc = sample(due_date="2026-11-01", sender=Organ(SRC, "x" * 201))
    assert codes(check_document(doc, {SRC}, registered)) == {
        ("invalid_date", "due_date"), ("too_long", "From.name")}


def test_a_replacing_document_names_what_it_replaces() -> None:
    assert codes(check_document(sample(business_doc_type="3"), {SRC}, registered)) == {
        ("missing_field", "response_for")}
    ok = sample(business_doc_type="3", response_for=(ResponseFor(SRC, "11/STTTT-VP",
                                                                 "2026-11-01", "d1"),))
    assert check_document(ok, {SRC}, registered) == []


def test_attachment_names_are_required() -> None:
    doc = sample(attachments=(AttachmentInfo("cid:a", ""),))
    assert codes(check_document(doc, {SRC}, registered)) == {
        ("missing_field", "attachments[0].name")}


def test_status_package_rules() -> None:
    good = StatusPackage(Organ(DST), ResponseFor(SRC, "12/STTTT-VP", "2026-11-29", "d1"),
                         "03", "registered", "2026-11-29 10:00:00")
    assert check_status(good, {DST}) == []
    bad = StatusPackage(Organ(SRC), ResponseFor(""), "99", "", "yesterday")
    assert codes(check_status(bad, {DST})) == {
        ("sender_mismatch", "From.OrganId"), ("invalid_value", "status_code"),
        ("missing_field", "response_for"), ("invalid_date", "timestamp")}


def test_business_key_is_sender_number_notation_and_date() -> None:
    assert business_key(sample()) == f"{SRC}|12|STTTT-VP|2026-11-29"


# --- search by document -------------------------------------------------------------------


def test_history_finds_a_document_by_number_notation_subject_and_type() -> None:
    pkg = Package("p1", "src-id", SRC, "app", (DST,), "Công văn gửi Sở", "normal", "edxml",
                  "truc/1", 10, "0" * 64, "2026-11-29T09:00:00+00:00",
                  document=header_view(sample()))
    plain = replace(pkg, package_id="p2", data_type="pdf", document=None)
    items = [entry(p, "sent", "src-id", ZoneInfo("Asia/Ho_Chi_Minh")) for p in (pkg, plain)]
    assert items[0]["document"] == {"code": "12/STTTT-VP", "type": "Công văn",
                                    "subject": "Về việc thử nghiệm trục",
                                    "promulgation_date": "2026-11-29"}

    def found(**kw: Any) -> list[str]:
        query = HistoryQuery(date(2026, 11, 1), date(2026, 11, 30), **kw)
        return [i["package_id"] for i in items if query.matches(i)]

    assert found(text="12/STTTT-VP") == ["p1"]
    assert found(text="stttt") == ["p1"]
    assert found(text="thu nghiem truc") == ["p1"]
    assert found(text="cong van gui") == ["p1", "p2"]  # the title, as before
    assert found(document_type="cong van") == ["p1"]
    assert found(document_type="Quyết định") == []


# --- a refused document's event stays small -----------------------------------------------


def test_a_document_with_huge_values_is_refused_with_a_small_event() -> None:
    from infra.avro import default_codec
    from tests.unit.test_packages import CTX, send, world

    reg, callers = world()
    requested, _ = request_package(reg, callers[SRC], CTX, send(), LIMITS)
    pkg = evolve(None, requested)
    assert pkg is not None
    huge = sample(subject="x" * 1_500_000, recipients=tuple(
        Organ(f"{i:03d}." + "9" * 50_000) for i in range(5)))
    event = analyse(CTX, pkg, parse(build(huge)), reg, callers[SRC])
    assert len(event.problems) == 11 and all(len(p) <= 501 for p in event.problems)
    assert len(event.subject) == 501 and all(len(c) <= 61 for c in event.recipients)
    assert json.loads(event.header)["truncated"] is True
    assert len(default_codec().encode(event)) < 300_000


def test_a_document_to_a_code_closed_twice_is_delivered_to_the_last_successor() -> None:
    """A → B, then B → C: the document naming A goes to C, as a JSON send would
    (``Registry.agency``), not to B, merged and gone (``agency_by_code`` still says B)."""
    from hub.registry import decisions as registry
    from hub.registry.succession import succeed
    from tests.unit.test_packages import CTX, send, world

    reg, callers = world()
    for code in ("000.00.00.H56", "000.00.00.H29"):
        reg.apply(registry.register_agency(reg, CTX, code, code, "d"))
    reg.apply(succeed(reg, CTX, [DST], "000.00.00.H56", effective_at=CTX.now, reason="r",
                      domain="d"))
    reg.apply(succeed(reg, CTX, ["000.00.00.H56"], "000.00.00.H29", effective_at=CTX.now,
                      reason="r", domain="d"))
    last = reg.agency(DST)
    assert last is not None and last.code == "000.00.00.H29"
    requested, _ = request_package(reg, callers[SRC], CTX,
                                   replace(send(data_type="edxml"), recipients=[]), LIMITS)
    pkg = evolve(None, requested)
    assert pkg is not None
    event = analyse(CTX, pkg, parse(build(sample())), reg, callers[SRC])
    assert event.problems == []
    assert event.recipient_agency_ids == [last.agency_id]


def test_a_document_naming_an_old_code_agrees_with_a_send_naming_the_new_one() -> None:
    """The document's recipients are read as the JSON send reads its own: by the agency a
    code reaches today, granted by any of its codes, each agency once."""
    from hub.registry.model import Grants
    from hub.registry.succession import succeed
    from tests.unit.test_packages import CTX, send, world

    reg, callers = world()
    reg.apply(succeed(reg, CTX, [DST], "000.00.00.H29", effective_at=CTX.now, reason="r",
                      domain="d"))
    caller = callers[SRC]
    app = replace(caller.app, grants=Grants(frozenset(caller.app.grants.operations),
                                            destinations=frozenset({"000.00.00.H29"})))
    caller = replace(caller, app=app)
    requested, _ = request_package(reg, caller, CTX, send(["000.00.00.H29"],
                                                          data_type="edxml"), LIMITS)
    pkg = evolve(None, requested)
    assert pkg is not None and pkg.recipients == ("000.00.00.H29",)
    event = analyse(CTX, pkg, parse(build(sample())), reg, caller)  # To: DST, the old code
    assert event.problems == []
    both = sample(recipients=(Organ(DST, "Sở Tư pháp"), Organ("000.00.00.H29", "Sở")))
    twice = analyse(CTX, pkg, parse(build(both)), reg, caller)
    assert [p.split(" ")[0] for p in twice.problems] == ["duplicate_recipient"]
