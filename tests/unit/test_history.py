"""The exchange history fold and its search, accent-insensitive."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hub.history import HISTORY, HistoryQuery, history_fold
from hub.projection import Rebuild
from hub.text import fold
from tests.unit.stats_traffic import Traffic
from tests.unit.test_statistics import HCM, clock_at

SRC, A, B = "src", "dest-a", "dest-b"


def entries(t: Traffic, agency: str) -> list[dict[str, Any]]:
    rebuild = Rebuild(history_fold(HCM))
    for recorded in t.log:
        rebuild.feed(recorded)
    return [dict(body) for ref, body in sorted(rebuild.output().items(), key=lambda i: i[0].key)
            if ref.view == HISTORY and ref.partition.startswith(agency + "|")]


def test_fold_strips_vietnamese_accents_and_d() -> None:
    assert fold("Văn bản  ĐIỀU HÀNH đất đai") == "van ban dieu hanh dat dai"


def test_sent_and_received_rows_with_timelines() -> None:
    clock = clock_at("2026-11-27 09:00")
    t = Traffic(clock)
    pkg = t.send(SRC, {"A": A, "B": B}, title="Văn bản số 7")
    t.ack(pkg, A)
    [sent] = entries(t, SRC)
    assert (sent["direction"], sent["status"], sent["counterparts"]) == ("sent", "sealed",
                                                                       ["A", "B"])
    assert [s["what"] for s in sent["timeline"]] == [
        "PackageRequested", "PackageSealed", "DeliveryPlanned", "DeliveryPlanned",
        "DeliveryAcknowledged"]
    [got_a] = entries(t, A)
    assert (got_a["direction"], got_a["status"], got_a["counterparts"]) == (
        "received", "acknowledged", [f"code-{SRC}"])
    assert [s["what"] for s in got_a["timeline"]] == [
        "PackageRequested", "PackageSealed", "DeliveryPlanned", "DeliveryAcknowledged"]
    [got_b] = entries(t, B)
    assert got_b["status"] == "planned" and got_b["date"] == "2026-11-27"


def test_search_filters() -> None:
    clock = clock_at("2026-11-27 09:00")
    t = Traffic(clock)
    t.send(SRC, {"A": A}, title="Văn bản điều hành", data_type="edxml")
    clock.advance(timedelta(days=1))
    t.send(SRC, {"B": B}, title="Báo cáo đất đai", data_type="pdf")
    found = entries(t, SRC)
    day1, day2 = date(2026, 11, 27), date(2026, 11, 28)

    def titles(**kw: Any) -> list[str]:
        query = HistoryQuery(kw.pop("start", day1), kw.pop("end", day2), **kw)
        return [e["title"] for e in found if query.matches(e)]

    assert titles() == ["Văn bản điều hành", "Báo cáo đất đai"]
    assert titles(text="van ban") == ["Văn bản điều hành"]
    assert titles(text="DAT dai") == ["Báo cáo đất đai"]
    assert titles(text="dieu") == ["Văn bản điều hành"]
    assert titles(text="ban van") == ["Văn bản điều hành"], "any order"
    assert titles(text="van xyz") == []
    assert titles(counterpart="B") == ["Báo cáo đất đai"]
    assert titles(data_type="edxml") == ["Văn bản điều hành"]
    assert titles(status="sealed") == ["Văn bản điều hành", "Báo cáo đất đai"]
    assert titles(status="completed") == []
    assert titles(start=day2) == ["Báo cáo đất đai"]
    assert titles(end=day1) == ["Văn bản điều hành"]


def test_an_event_rewrites_only_the_rows_it_changes() -> None:
    clock = clock_at("2026-11-27 09:00")
    t = Traffic(clock)
    dests = {f"D{i}": f"dest-{i}" for i in range(20)}
    pkg = t.send(SRC, dests)
    t.ack(pkg, "dest-3")
    fold_ = history_fold(HCM)
    rebuild = Rebuild(fold_)
    for recorded in t.log[:-1]:
        rebuild.feed(recorded)
    state = rebuild.rows[fold_.state_of(t.log[-1].event)]  # type: ignore[index]
    change = fold_.step(state, t.log[-1].event)
    assert sorted(r.body["direction"] + r.ref.partition.split("|")[0] for r in change.upserts) \
        == ["receiveddest-3", f"sent{SRC}"]
