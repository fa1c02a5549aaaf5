"""The directory, codes as history and directory sync: pure rules over the registry, and
the streaming reader of national lists."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.errors import Conflict, InvalidRequest
from hub.presence import queries
from hub.presence.model import AgencyPresence
from hub.registry import decisions as decide
from hub.registry import search, succession, sync
from hub.registry.decisions import Context
from hub.registry.model import Registry
from hub.registry.search import DirectoryQuery
from hub.registry.sync import NationalAgency, Summary, row_of
from hub.text import fold
from infra.national_list import BadList, json_rows, read_rows

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CTX = Context(actor="op-test", now=NOW, correlation_id="c-1")
DOMAIN = "hcm.gov.vn"


def registry(*agencies: tuple[str, str]) -> Registry:
    reg = Registry()
    for code, name in agencies:
        reg.apply(decide.register_agency(reg, CTX, code, name, DOMAIN))
    return reg


PROVINCE = registry(("000.00.00.H53", "UBND tỉnh Bà Rịa - Vũng Tàu"),
                    ("000.00.12.H53", "Sở Tư pháp"),
                    ("000.00.11.H53", "Sở Thông tin và Truyền thông"),
                    ("000.01.11.H53", "Trung tâm Công nghệ thông tin"),
                    ("000.00.00.H29", "UBND Thành phố Hồ Chí Minh"))


def codes(page: search.Page) -> list[str]:
    return [a.code for a in page.agencies]


# --- search ----------------------------------------------------------------------------


def test_search_ignores_accents_and_case() -> None:
    assert codes(search.search(PROVINCE, DirectoryQuery("so tu phap"))) == ["000.00.12.H53"]
    assert codes(search.search(PROVINCE, DirectoryQuery("SỞ TƯ PHÁP"))) == ["000.00.12.H53"]
    assert codes(search.search(PROVINCE, DirectoryQuery("cong nghe"))) == ["000.01.11.H53"]


def test_search_by_code_puts_the_exact_agency_first() -> None:
    page = search.search(PROVINCE, DirectoryQuery("000.00.11.h53"))
    assert codes(page)[0] == "000.00.11.H53"
    assert codes(search.search(PROVINCE, DirectoryQuery("H53"))) == [
        "000.00.00.H53", "000.00.11.H53", "000.00.12.H53", "000.01.11.H53"]


def test_pages_are_bounded_and_counted() -> None:
    first = search.search(PROVINCE, DirectoryQuery("", offset=0, limit=2))
    second = search.search(PROVINCE, DirectoryQuery("", offset=2, limit=2))
    assert first.total == second.total == 5
    assert len(first.agencies) == len(second.agencies) == 2
    assert not set(codes(first)) & set(codes(second))
    with pytest.raises(InvalidRequest):
        search.search(PROVINCE, DirectoryQuery("", limit=search.MAX_PAGE + 1))


def test_hierarchy_from_codes() -> None:
    reg = PROVINCE
    sub = reg.agency("000.01.11.H53")
    assert sub is not None
    assert search.level(sub) == 3
    parent = search.parent_of(reg, sub)
    assert parent is not None and parent.code == "000.00.11.H53"
    top = reg.agency("000.00.00.H53")
    assert top is not None and search.child_count(reg, top) == 2
    children = search.search(reg, DirectoryQuery(parent="000.00.00.H53"))
    assert codes(children) == ["000.00.11.H53", "000.00.12.H53"]
    assert codes(search.search(reg, DirectoryQuery(level=1))) == ["000.00.00.H29",
                                                                  "000.00.00.H53"]
    assert [a.code for a in search.ancestors(reg, sub)] == ["000.00.11.H53",
                                                             "000.00.00.H53"]
    assert search.ancestors(reg, top) == []


def test_a_merged_lineage_is_online_when_any_member_is() -> None:
    def state(since: str, connections: int) -> AgencyPresence:
        return AgencyPresence("a", "000.00.12.H53", since, apps={"x": connections}
                              if connections else {})

    assert queries.merged_online([]) == (False, None)
    assert queries.merged_online([state("t2", 0), state("t1", 0)]) == (False, "t2")
    assert queries.merged_online([state("t1", 0), state("t3", 1), state("t2", 2)]) \
        == (True, "t2")


# --- succession ------------------------------------------------------------------------


def test_a_recode_keeps_the_identity_and_the_old_code_resolves() -> None:
    reg = registry(("000.00.12.H53", "Sở Tư pháp"))
    before = reg.agency("000.00.12.H53")
    assert before is not None
    event = succession.succeed(reg, CTX, ["000.00.12.H53"], "000.00.31.H29",
                               effective_at=NOW - timedelta(days=1),
                               reason="QĐ 09/2025/QĐ-TTg", domain=DOMAIN)
    reg.apply(event)
    after = reg.agency("000.00.12.H53")
    assert after is not None
    assert after.agency_id == before.agency_id
    assert after.code == "000.00.31.H29"
    assert after.former_codes == ("000.00.12.H53",)
    assert after.parent_code == "000.00.00.H29"
    assert succession.successor_codes(reg, ["000.00.12.H53", "000.00.31.H29", "junk"]) == {
        "000.00.12.H53": "000.00.31.H29"}
    assert codes(search.search(reg, DirectoryQuery("000.00.12.H53"))) == ["000.00.31.H29"]


def test_a_merge_folds_several_agencies_into_one() -> None:
    reg = registry(("000.00.00.H53", "UBND tỉnh BR-VT"), ("000.00.00.H29", "UBND TP.HCM"),
                   ("000.00.00.H56", "UBND tỉnh Bình Dương"))
    hcm = reg.agency("000.00.00.H29")
    assert hcm is not None
    reg.apply(succession.succeed(reg, CTX, ["000.00.00.H53", "000.00.00.H56"],
                                 "000.00.00.H29", effective_at=NOW, reason="merge",
                                 domain=DOMAIN))
    for old in ("000.00.00.H53", "000.00.00.H56"):
        found = reg.agency(old)
        assert found is not None and found.agency_id == hcm.agency_id
    assert {a.code for a in succession.lineage(reg, hcm)} == {
        "000.00.00.H29", "000.00.00.H53", "000.00.00.H56"}
    assert search.search(reg, DirectoryQuery("")).total == 1


def test_a_closed_code_cannot_close_again_nor_be_given_again() -> None:
    reg = registry(("000.00.12.H53", "Sở Tư pháp"), ("000.00.11.H53", "Sở TT&TT"))
    reg.apply(succession.succeed(reg, CTX, ["000.00.12.H53"], "000.00.31.H29",
                                 effective_at=NOW, reason="r", domain=DOMAIN))
    with pytest.raises(Conflict) as closed:
        succession.succeed(reg, CTX, ["000.00.12.H53"], "000.00.32.H29", effective_at=NOW,
                           reason="r", domain=DOMAIN)
    assert closed.value.code == "code_closed"
    with pytest.raises(Conflict) as given:
        succession.succeed(reg, CTX, ["000.00.11.H53"], "000.00.12.H53", effective_at=NOW,
                           reason="r", domain=DOMAIN)
    assert given.value.code == "code_closed"
    with pytest.raises(Conflict):
        decide.register_agency(reg, CTX, "000.00.12.H53", "again", DOMAIN)


def test_a_succession_in_the_future_is_refused() -> None:
    reg = registry(("000.00.12.H53", "Sở Tư pháp"))
    with pytest.raises(InvalidRequest) as refused:
        succession.succeed(reg, CTX, ["000.00.12.H53"], "000.00.31.H29",
                           effective_at=NOW + timedelta(days=1), reason="r", domain=DOMAIN)
    assert refused.value.extra["field"] == "effective_at"


def test_a_merge_seen_before_the_old_registration_still_resolves() -> None:
    """On Kafka the merge (keyed by the successor) may be folded before the old agency's
    registration (keyed by its own id, another partition)."""
    source = registry(("000.00.00.H53", "BR-VT"), ("000.00.00.H29", "HCM"))
    merge = succession.succeed(source, CTX, ["000.00.00.H53"], "000.00.00.H29",
                               effective_at=NOW, reason="merge", domain=DOMAIN)
    old = decide.register_agency(Registry(), CTX, "000.00.00.H53", "BR-VT", DOMAIN)
    new = decide.register_agency(Registry(), CTX, "000.00.00.H29", "HCM", DOMAIN)
    reg = Registry()
    reg.apply(new.__class__(**{**vars(new), "agency_id": merge.agency_id}))
    reg.apply(merge)
    reg.apply(old.__class__(**{**vars(old), "agency_id": merge.old_agency_ids[0]}))
    found = reg.agency("000.00.00.H53")
    assert found is not None and found.agency_id == merge.agency_id


# --- sync ------------------------------------------------------------------------------


def national(code: str, name: str, nid: str, old: str | None = None) -> NationalAgency:
    return NationalAgency(national_id=nid, code=code, name=name, old_code=old)


def test_sync_diff_finds_added_renamed_recoded_removed_and_invalid() -> None:
    reg = Registry()
    rows = [national("000.00.11.H53", "Sở TT&TT", "1"), national("000.00.12.H53", "Sở TP", "2"),
            national("000.00.13.H53", "Sở GD", "3")]
    for change in sync.changes(reg, rows):
        event = sync.event_of(reg, CTX, change, domain=DOMAIN, reason="r")
        assert event is not None
        reg.apply(event)
    reg.apply(decide.register_agency(reg, CTX, "000.00.20.H53", "by hand", DOMAIN))
    summary = Summary()
    later = [national("000.00.11.H53", "Sở Thông tin và Truyền thông", "1"),
             national("000.00.31.H29", "Sở Tư pháp TP.HCM", "2", old="000.00.12.H53"),
             national("000.00.14.H53", "Sở Y tế", "4"), national("bad", "x", "5"),
             national("000.00.14.H53", "Sở Y tế again", "6")]
    found = {(c.kind, c.code) for c in sync.changes(reg, later, summary)}
    assert found == {("renamed", "000.00.11.H53"), ("recoded", "000.00.31.H29"),
                     ("added", "000.00.14.H53"), ("invalid", "bad"),
                     ("removed", "000.00.13.H53"), ("invalid", "000.00.14.H53")}
    assert summary.unchanged == 0


def test_sync_finds_a_recode_by_national_id_without_old_code() -> None:
    reg = Registry()
    reg.apply(decide.register_agency(reg, CTX, "000.00.12.H53", "Sở TP", DOMAIN,
                                     national_id="77"))
    [change] = sync.changes(reg, [national("000.00.31.H29", "Sở TP", "77")])
    assert (change.kind, change.old_code) == ("recoded", "000.00.12.H53")


def test_an_unchanged_list_changes_nothing() -> None:
    reg = Registry()
    reg.apply(decide.register_agency(reg, CTX, "000.00.12.H53", "Sở TP", DOMAIN,
                                     national_id="2"))
    summary = Summary()
    assert list(sync.changes(reg, [national("000.00.12.H53", "Sở TP", "2")], summary)) == []
    assert summary.unchanged == 1


def test_rows_take_code102_first() -> None:
    row = row_of({"id": 9, "pid": "", "code": "H53.12", "code102": "000.00.12.H53",
                  "name": " Sở Tư pháp ", "mail": "", "oldCode": None})
    assert row == NationalAgency("9", "000.00.12.H53", "Sở Tư pháp", None, None, None)


# --- reading lists ---------------------------------------------------------------------

ROWS = [{"id": str(i), "pid": "0", "code": f"000.00.{i:02d}.H53", "name": f"Sở {i} [x]",
         "mail": "", "oldCode": "", "code102": ""} for i in range(1, 60)]


@pytest.mark.parametrize("wrap", [False, True])
def test_json_lists_stream_in_small_chunks(monkeypatch: pytest.MonkeyPatch, wrap: bool
                                           ) -> None:
    monkeypatch.setattr("infra.national_list.CHUNK", 7)  # objects cut across reads
    doc = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "data": ROWS} if wrap else ROWS
    assert list(json_rows(io.StringIO(json.dumps(doc, ensure_ascii=False, indent=1)))) == ROWS


def test_csv_lists_read_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    lines = ["id,pid,code,name,mail,oldCode,code102"] + [
        f"{r['id']},0,{r['code']},\"{r['name']}\",,," for r in ROWS]
    path.write_text("\n".join(lines), encoding="utf-8-sig")
    assert [r["name"] for r in read_rows(path)] == [r["name"] for r in ROWS]


@pytest.mark.parametrize("text", ['{"nothing": 1}', "[1, 2]", '[{"id": 1}'])
def test_a_list_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(BadList):
        list(json_rows(io.StringIO(text)))


def test_a_delivery_is_named_by_any_code_of_its_agency() -> None:
    reg = registry(("000.00.12.H53", "Sở Tư pháp"), ("000.00.00.H29", "HCM"),
                   ("000.00.00.H53", "BR-VT"))
    tp, brvt = reg.agency("000.00.12.H53"), reg.agency("000.00.00.H53")
    assert tp is not None and brvt is not None
    planned = {tp.agency_id: "000.00.12.H53", brvt.agency_id: "000.00.00.H53"}
    reg.apply(succession.succeed(reg, CTX, ["000.00.12.H53"], "000.00.31.H29",
                                 effective_at=NOW, reason="r", domain=DOMAIN))
    reg.apply(succession.succeed(reg, CTX, ["000.00.00.H53"], "000.00.00.H29",
                                 effective_at=NOW, reason="r", domain=DOMAIN))
    assert succession.delivery_code(reg, planned, "000.00.31.H29") == "000.00.12.H53"
    assert succession.delivery_code(reg, planned, "000.00.00.H29") == "000.00.00.H53"
    assert succession.delivery_code(reg, planned, "000.00.12.H53") == "000.00.12.H53"
    assert succession.delivery_code(reg, planned, "000.00.99.H29") == "000.00.99.H29"


def test_a_session_for_a_closed_code_names_the_successor() -> None:
    from hub.auth.sessions import Caller, session_claims
    from hub.registry.model import Grants, Key, Operation

    reg = registry(("000.00.11.H53", "Sở TT&TT"), ("000.00.12.H53", "Sở Tư pháp"))
    app = decide.register_app(reg, CTX, "000.00.11.H53", "QLVB")
    reg.apply(app)
    grants = Grants(frozenset(op.value for op in Operation), frozenset({"000.00.12.H53"}))
    caller = Caller(reg.apps[app.app_id].__class__(**{**vars(reg.apps[app.app_id]),
                                                      "grants": grants}),
                    Key("k", app.app_id, "AK", "HMAC", NOW), "000.00.11.H53")
    reg.apply(succession.succeed(reg, CTX, ["000.00.12.H53"], "000.00.31.H29",
                                 effective_at=NOW, reason="r", domain=DOMAIN))
    claims = session_claims(reg, caller, "000.00.12.H53", [], now=NOW,
                            ttl=timedelta(minutes=5), issuer="truc")
    assert (claims["dst"], claims["aud"]) == ("000.00.31.H29", "000.00.31.H29")


def test_a_search_after_a_change_sees_it() -> None:
    reg = registry(("000.00.11.H53", "Sở TT&TT"))
    assert search.search(reg, DirectoryQuery("")).total == 1  # the ordered index is made
    reg.apply(decide.register_agency(reg, CTX, "000.00.12.H53", "Sở Tư pháp", DOMAIN))
    assert codes(search.search(reg, DirectoryQuery("tu phap"))) == ["000.00.12.H53"]
    reg.apply(succession.succeed(reg, CTX, ["000.00.12.H53"], "000.00.31.H29",
                                 effective_at=NOW, reason="r", domain=DOMAIN))
    assert codes(search.search(reg, DirectoryQuery("tu phap"))) == ["000.00.31.H29"]


def test_merges_chain_and_the_last_successor_holds_every_history() -> None:
    reg = registry(("000.00.00.H53", "A"), ("000.00.00.H56", "B"), ("000.00.00.H29", "C"))
    reg.apply(succession.succeed(reg, CTX, ["000.00.00.H53"], "000.00.00.H56",
                                 effective_at=NOW, reason="r", domain=DOMAIN))
    reg.apply(succession.succeed(reg, CTX, ["000.00.00.H56"], "000.00.00.H29",
                                 effective_at=NOW, reason="r", domain=DOMAIN))
    last = reg.agency("000.00.00.H53")
    assert last is not None and last.code == "000.00.00.H29"
    assert {a.code for a in succession.lineage(reg, last)} == {
        "000.00.00.H29", "000.00.00.H56", "000.00.00.H53"}
    assert last.former_codes == ("000.00.00.H56", "000.00.00.H53")
    assert codes(search.search(reg, DirectoryQuery("000.00.00.H53"))) == ["000.00.00.H29"]


def test_resolve_is_the_one_lookup_by_code() -> None:
    reg = registry(("000.00.12.H53", "Sở Tư pháp"))
    reg.apply(succession.succeed(reg, CTX, ["000.00.12.H53"], "000.00.31.H29",
                                 effective_at=NOW, reason="r", domain=DOMAIN))
    old = succession.resolve(reg, " 000.00.12.h53 ")
    assert old is not None and (old.named, old.code, old.succeeded) == (
        "000.00.12.H53", "000.00.31.H29", True)
    new = succession.resolve(reg, "000.00.31.H29")
    assert new is not None and not new.succeeded
    assert succession.resolve(reg, "000.00.99.H53") is None
    assert succession.resolve(reg, "not a code") is None


def test_the_axis_lists_live_agencies_by_code_from_the_directory_index() -> None:
    from hub.axis.facade import agencies_list

    reg = registry(("000.00.12.H53", "Sở Tư pháp"), ("000.00.00.H53", "UBND tỉnh"),
                   ("000.00.13.H53", "Sở Nội vụ"))
    reg.apply(succession.succeed(reg, CTX, ["000.00.13.H53"], "000.00.12.H53",
                                 effective_at=NOW, reason="r", domain=DOMAIN))
    rows = agencies_list(reg)
    assert [r["code"] for r in rows] == ["000.00.00.H53", "000.00.12.H53"]
    top, child = rows
    assert (child["pid"], child["oldCode"], top["pid"]) == (top["id"], "000.00.13.H53", "")


def test_fold_drops_marks_and_spacing_a_word_at_a_time_as_it_did_whole() -> None:
    """``fold`` works a word at a time (each distinct word once): a mark alone between
    spaces, a dotted capital I, runs of any white space fold as the whole text did."""
    assert fold("ĐẠI HỌC  Quốc\tgia\u00a0Hà Nội") == "dai hoc quoc gia ha noi"
    assert fold("a \u0301 b") == "a b" and fold(" \u0301x ") == "x"
    assert fold("İstanbul 000.00.12.H53") == "istanbul 000.00.12.h53"
    assert fold("") == "" and fold(" \t ") == ""
