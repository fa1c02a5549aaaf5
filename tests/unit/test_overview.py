"""The operator overview's reads (api/overview.py): the dashboard's week of per-hour sends
is one range read per agency, not one per day."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import cast

from api.overview import sent_per_hour
from api.runtime import Runtime
from hub.ports import Position, Row, RowRef
from hub.projection import counter_ref
from hub.registry.model import Agency
from hub.statistics.fold import COUNTERS
from hub.statistics.query import DateRange

TODAY = date(2026, 11, 29)


class Counters:
    """The statistics counters of one agency, and the scans made of them."""

    def __init__(self, rows: dict[str, dict[str, int]]) -> None:
        # keyed as the fold writes them: one row per day and source partition
        self.rows = [Row(counter_ref(RowRef(COUNTERS, "a1", day), Position("packages", n, 0)),
                         {"add": add}) for n, (day, add) in enumerate(rows.items())]
        self.scans: list[tuple[str, str, str | None, str | None]] = []

    async def scan(self, view: str, partition: str, start: str | None = None,
                   stop: str | None = None) -> list[Row]:
        self.scans.append((view, partition, start, stop))
        return [r for r in self.rows if r.ref.partition == partition
                and (start is None or r.ref.key >= start) and (stop is None or r.ref.key < stop)]


async def test_a_week_of_sends_per_hour_is_one_read_per_agency() -> None:
    counters = Counters({"2026-11-22": {"08.sent": 1}, "2026-11-23": {"09.sent": 2},
                         "2026-11-29": {"10.sent": 3, "10.received": 5}})
    counters.rows.append(Row(counter_ref(RowRef(COUNTERS, "a1", "2026-11-29"),
                                     Position("packages", 7, 0)), {"add": {"10.sent": 4}}))
    runtime = cast(Runtime, SimpleNamespace(backend=SimpleNamespace(projections=counters)))
    agency = cast(Agency, SimpleNamespace(agency_id="a1"))
    week = await sent_per_hour(runtime, [agency], DateRange(date(2026, 11, 23), TODAY))
    assert sorted(week) == [date(2026, 11, d) for d in range(23, 30)]
    assert week[date(2026, 11, 23)][9] == 2 and week[TODAY][10] == 3 + 4
    assert sum(map(sum, week.values())) == 9  # the 22nd is outside; received is not sent
    assert counters.scans == [(COUNTERS, "a1", "2026-11-23", "2026-11-30")]
