"""The statistics rules, on a manual clock in the hub's time zone (UTC+7)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.clock import ManualClock
from hub.errors import InvalidRequest
from hub.ports import Recorded, Row
from hub.projection import Rebuild
from hub.statistics.fold import COUNTERS, DURATIONS, statistics_fold
from hub.statistics.local import months
from hub.statistics.query import DateRange, date_range
from hub.statistics.report import buckets, median, p95, total
from tests.unit.stats_traffic import Traffic

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SRC, A, B = "src", "dest-a", "dest-b"


def clock_at(local: str) -> ManualClock:
    """A clock at a hub-local time, e.g. "2026-11-27 09:00"."""
    return ManualClock(datetime.fromisoformat(local).replace(tzinfo=HCM).astimezone(UTC))


def fold(log: list[Recorded]) -> Rebuild:
    rebuild = Rebuild(statistics_fold(HCM))
    for recorded in log:
        rebuild.feed(recorded)
    return rebuild


def days_of(rebuild: Rebuild, agency: str, *, by_hour: bool = False) -> list[dict[str, Any]]:
    rows = [Row(r, b) for r, b in rebuild.rows.items()
            if r.view == COUNTERS and r.partition == agency]
    durations = [Row(r, b) for r, b in rebuild.rows.items()
                 if r.view == DURATIONS and r.partition.startswith(agency + "|")]
    return [b.as_row() for b in buckets(rows, durations, by_hour=by_hour)]


def test_sent_received_bytes_and_delivery_times() -> None:
    clock = clock_at("2026-11-27 09:00")
    t = Traffic(clock)
    pkg = t.send(SRC, {"A": A, "B": B}, size=1000)
    clock.advance(timedelta(seconds=2))
    t.ack(pkg, A)
    clock.advance(timedelta(seconds=4))
    t.ack(pkg, B)
    rebuild = fold(t.log)
    [src] = days_of(rebuild, SRC)
    assert (src["date"], src["sent"], src["bytes_sent"], src["delivered"]) == (
        "2026-11-27", 1, 1000, 2)
    assert src["received"] == 0
    assert src["delivery_median_ms"] == 4000 and src["delivery_p95_ms"] == 6000
    [a] = days_of(rebuild, A)
    assert (a["received"], a["bytes_received"], a["sent"]) == (1, 1000, 0)
    assert a["receipt_median_ms"] == 2000 and a["delivery_median_ms"] is None


def test_days_are_hub_local_not_utc() -> None:
    clock = clock_at("2026-11-27 23:59:58")  # 16:59 UTC: still the 27th in UTC too
    t = Traffic(clock)
    pkg = t.send(SRC, {"A": A})  # sealed 23:59:59 local
    clock.advance(timedelta(seconds=2))  # 00:00:01 on the 28th, local
    t.ack(pkg, A)
    rebuild = fold(t.log)
    assert [(d["date"], d["sent"], d["delivered"]) for d in days_of(rebuild, SRC)] == [
        ("2026-11-27", 1, 0), ("2026-11-28", 0, 1)]
    assert [(d["date"], d["received"]) for d in days_of(rebuild, A)] == [("2026-11-28", 1)]


def test_utc_midnight_is_not_a_day_boundary() -> None:
    clock = clock_at("2026-11-28 06:59:59")  # 23:59:59 UTC on the 27th
    t = Traffic(clock)
    t.send(SRC, {"A": A})  # sealed at 07:00:00 local = 00:00 UTC on the 28th
    clock.advance(timedelta(hours=-1))
    t.send(SRC, {"A": A})  # 06:00 local: 23:00 UTC on the 27th, yet the 28th here
    [day] = days_of(fold(t.log), SRC)
    assert (day["date"], day["sent"]) == ("2026-11-28", 2)


def test_hours_split_the_day() -> None:
    clock = clock_at("2026-11-27 08:59:58")
    t = Traffic(clock)
    t.send(SRC, {"A": A}, size=10)  # sealed 08:59:59
    clock.advance(timedelta(seconds=1))
    t.send(SRC, {"A": A}, size=20)  # sealed 09:00:01
    clock.advance(timedelta(hours=1))
    t.send(SRC, {"A": A}, size=40)  # 10:00:02
    hours = days_of(fold(t.log), SRC, by_hour=True)
    assert [(h["hour"], h["sent"], h["bytes_sent"]) for h in hours] == [
        (8, 1, 10), (9, 1, 20), (10, 1, 40)]


def test_rejected_expired_and_only_closed_once() -> None:
    clock = clock_at("2026-11-27 10:00")
    t = Traffic(clock)
    bad = t.request(SRC, {"A": A})
    t.reject(bad)
    t.reject(bad)  # the same fact again (a re-emitted event) counts once
    pkg = t.send(SRC, {"A": A, "B": B})
    t.expire(pkg, A)
    t.expire(pkg, A)
    t.ack(pkg, A)  # too late: the delivery is closed
    t.ack(pkg, B)
    t.ack(pkg, B)
    [day] = days_of(fold(t.log), SRC)
    assert (day["sent"], day["rejected"], day["expired"], day["delivered"]) == (1, 1, 1, 1)
    [a] = days_of(fold(t.log), A) or [{"received": 0}]
    assert a["received"] == 0


def test_redelivery_of_the_same_position_counts_once() -> None:
    clock = clock_at("2026-11-27 10:00")
    t = Traffic(clock)
    pkg = t.send(SRC, {"A": A}, size=5)
    t.ack(pkg, A)
    once = fold(t.log).output()
    twice = fold(t.log + t.log).output()
    shuffled_replay = fold(t.log[:3] + t.log).output()
    assert once == twice == shuffled_replay


def test_counters_are_kept_per_log_partition_and_summed() -> None:
    clock = clock_at("2026-11-27 10:00")
    t = Traffic(clock, partitions=3)
    for _ in range(12):
        t.send(SRC, {"A": A}, size=1)
    rebuild = fold(t.log)
    rows = [r for r in rebuild.output() if r.view == COUNTERS and r.partition == SRC]
    assert len(rows) > 1, "several partitions counted for the same agency and day"
    assert all(r.key.startswith("2026-11-27|packages.") for r in rows)
    [day] = days_of(rebuild, SRC)
    assert day["sent"] == 12


def test_presence_first_connect_last_disconnect() -> None:
    clock = clock_at("2026-11-27 07:30")
    t = Traffic(clock)
    t.connect(A)
    clock.advance(timedelta(hours=2))
    t.disconnect(A)
    clock.advance(timedelta(hours=1))
    t.connect(A)
    clock.advance(timedelta(hours=8))
    t.disconnect(A)  # 18:30 local
    [day] = days_of(fold(t.log), A)
    assert day["connects"] == 2
    assert day["first_connect"] == clock_at("2026-11-27 07:30").now().isoformat()
    assert day["last_disconnect"] == clock.now().isoformat()


def test_events_of_unknown_packages_change_nothing() -> None:
    t = Traffic(clock_at("2026-11-27 10:00"))
    t.ack("no-such-package", A)
    t.seal("no-such-package")
    assert fold(t.log).output() == {}


def test_median_and_p95_are_exact() -> None:
    assert median([]) is None and p95([]) is None
    assert median([5]) == 5 and p95([5]) == 5
    assert median([1, 3]) == 2 and median([1, 2]) == 1.5
    values = list(range(1, 101))  # 1..100
    assert median(values) == 50.5 and p95(values) == 95
    assert p95(list(range(1, 21))) == 19  # nearest rank: ceil(0.95 * 20) = 19th


def test_total_sums_days_and_ranks_all_deliveries() -> None:
    clock = clock_at("2026-11-27 10:00")
    t = Traffic(clock)
    for seconds in (1, 2, 3):
        pkg = t.send(SRC, {"A": A})
        clock.advance(timedelta(seconds=seconds))
        t.ack(pkg, A)
        clock.advance(timedelta(days=1))
    rebuild = fold(t.log)
    rows = [Row(r, b) for r, b in rebuild.rows.items() if r.partition == SRC]
    durations = [Row(r, b) for r, b in rebuild.rows.items()
                 if r.view == DURATIONS and r.partition.startswith(SRC)]
    found = buckets(rows, durations, by_hour=False)
    assert len(found) == 3
    whole = total(found, date(2026, 11, 27), date(2026, 11, 29))
    assert whole["sent"] == 3 and whole["delivery_median_ms"] == 2000
    assert whole["date"] == "2026-11-27..2026-11-29"


def test_months_of_a_range() -> None:
    assert months(date(2026, 11, 27), date(2027, 1, 2)) == ["2026-11", "2026-12", "2027-01"]


def test_date_ranges_default_to_today_and_refuse_nonsense() -> None:
    today = date(2026, 11, 27)
    assert date_range(None, None, today) == DateRange(today, today)
    assert date_range("2026-11-01", None, today) == DateRange(date(2026, 11, 1),
                                                              date(2026, 11, 1))
    assert date_range("2026-11-01", "2026-11-30", today).stop_key == "2026-12-01"
    for start, end, code in (("2026-13-01", None, "invalid_date"),
                             ("2026-11-02", "2026-11-01", "invalid_date_range"),
                             ("2025-01-01", "2026-11-01", "invalid_date_range")):
        with pytest.raises(InvalidRequest) as refused:
            date_range(start, end, today)
        assert refused.value.code == code


def test_recalled_extended_and_redirected_deliveries() -> None:
    clock = clock_at("2026-11-27 10:00")
    t = Traffic(clock)
    pkg = t.send(SRC, {"A": A, "B": B, "C": "dest-c"}, size=10)
    t.recall(pkg, A)
    t.recall(pkg, A)
    t.ack(pkg, A)  # recalled: no longer counts
    t.expire(pkg, B)
    t.extend(pkg, B)  # reopens: the expiry stays counted
    t.ack(pkg, B)
    t.redirect(pkg, "dest-c", "dest-d")
    t.ack(pkg, "dest-c")  # the old destination: closed
    t.ack(pkg, "dest-d")
    [day] = days_of(fold(t.log), SRC)
    assert (day["recalled"], day["expired"], day["delivered"]) == (1, 1, 2)
    assert [d["received"] for d in days_of(fold(t.log), "dest-d")] == [1]
    assert days_of(fold(t.log), "dest-c") == []


def test_documents_are_counted_by_type_sent_and_received() -> None:
    from api.reports import table
    from hub.statistics.report import flat

    clock = clock_at("2026-11-27 09:00")
    t = Traffic(clock)
    sent = []
    for doc_type, kind, problems in (("Công văn", "document", ()),
                                     ("Quyết định", "document", ()),
                                     ("Công văn", "document", ()),
                                     ("", "status", ()),
                                     ("Tờ trình", "document", ("missing_field subject",))):
        package_id = t.request(SRC, {"A": A}, data_type="edxml")
        analysed = t.analyse(package_id, doc_type, kind, problems)
        t.analyse(package_id, "Khác", kind)  # only the first reading counts
        t.add(analysed)  # a redelivered event changes nothing
        if problems:
            t.reject(package_id)
        else:
            t.seal(package_id)
            sent.append(package_id)
    t.send(SRC, {"A": A})  # not edXML: no type
    t.ack(sent[0], A)
    t.ack(sent[1], A)
    t.ack(sent[1], A)
    rebuild = fold(t.log)
    [src] = days_of(rebuild, SRC)
    [a] = days_of(rebuild, A)
    assert src["documents"] == {"Công văn": {"sent": 2, "received": 0},
                                "Quyết định": {"sent": 1, "received": 0}}
    assert (src["sent"], src["rejected"]) == (5, 1)
    assert a["documents"] == {"Công văn": {"sent": 0, "received": 1},
                              "Quyết định": {"sent": 0, "received": 1}}
    assert flat(a)["received: Quyết định"] == 1 and "documents" not in flat(a)
    report = {"agency": "A", "name": "Sở", "rows": [a], "total": a}
    assert table(report)[0]["sent: Công văn"] == 0
