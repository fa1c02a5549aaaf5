"""Reading statistics and history for an agency: the rows a report needs, from the
projections, handed to the pure report functions in ``hub/``."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from hub.history import HISTORY, HistoryQuery
from hub.ports import Projections, Row
from hub.registry.model import Agency, Registry
from hub.registry.succession import lineage
from hub.statistics.fold import COUNTERS, DURATIONS
from hub.statistics.local import months
from hub.statistics.query import DateRange
from hub.statistics.report import buckets, flat, total


class Reports:
    """``registry``: when given, an agency's reports also hold those of the agencies
    merged into it (``hub.registry.succession.lineage``): history and statistics follow
    the agency across its codes. (A re-code keeps the agency's id: nothing to add.)"""

    def __init__(self, projections: Projections, tz: ZoneInfo,
                 registry: Registry | None = None) -> None:
        self._projections = projections
        self.tz = tz
        self._registry = registry

    def _ids(self, agency: Agency) -> list[str]:
        if self._registry is None:
            return [agency.agency_id]
        return [a.agency_id for a in lineage(self._registry, agency)]

    async def _rows(self, agency: Agency, span: DateRange) -> tuple[list[Row], list[Row]]:
        start, stop = span.start.isoformat(), span.stop_key
        counters: list[Row] = []
        durations: list[Row] = []
        for agency_id in self._ids(agency):
            counters += await self._projections.scan(COUNTERS, agency_id, start, stop)
            for month in months(span.start, span.end):
                durations += await self._projections.scan(
                    DURATIONS, f"{agency_id}|{month}", start, stop)
        return counters, durations

    async def statistics(self, agency: Agency, span: DateRange,
                         by_hour: bool = False) -> dict[str, Any]:
        counters, durations = await self._rows(agency, span)
        days = buckets(counters, durations, by_hour=False)
        shown = buckets(counters, durations, by_hour=True) if by_hour else days
        return {"agency": agency.code, "name": agency.name, "from": span.start.isoformat(),
                "to": span.end.isoformat(), "by": "hour" if by_hour else "day",
                "rows": [b.as_row() for b in shown], "total": total(days, span.start, span.end)}

    async def history(self, agency: Agency, query: HistoryQuery) -> list[dict[str, Any]]:
        start, stop = query.start.isoformat(), DateRange(query.start, query.end).stop_key
        found: list[dict[str, Any]] = []
        for agency_id in self._ids(agency):
            for month in months(query.start, query.end):
                rows = await self._projections.scan(HISTORY, f"{agency_id}|{month}",
                                                    start, stop)
                found += [_public(r.body) for r in rows if query.matches(r.body)]
        return sorted(found, key=lambda r: (r["date"], r["requested_at"], r["package_id"]))


def _public(body: Any) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "title_folded"}


def table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One agency's report as spreadsheet rows: its days (or hours), then the total."""
    head = {"agency": report["agency"], "name": report["name"]}
    return [{**head, **flat(row)} for row in (*report["rows"], report["total"])]
