"""Reading the numbers back: counter rows summed, delivery times ranked.

Counter rows hold ``{"add": {"HH.name": n}, "low": {...}, "high": {...}}``, one row per
(agency, day, log partition); a day's figures are the sum over its rows. Percentiles are
exact: median as the middle value (mean of the two middle ones for an even count), p95 by
nearest rank (the smallest value with at least 95 % of values at or below it).
"""

from __future__ import annotations

import math
import statistics as stats
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from hub.ports import Row
from hub.statistics.fold import COUNTED, DOCS_RECEIVED, DOCS_SENT


@dataclass(frozen=True)
class Bucket:
    """One agency's figures for a day, or an hour of it (``hour`` set)."""

    day: str
    hour: int | None
    counts: dict[str, int]
    first_connect: str | None
    last_disconnect: str | None
    out_ms: tuple[int, ...]
    in_ms: tuple[int, ...]

    def as_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"date": self.day}
        if self.hour is not None:
            row["hour"] = self.hour
        row.update({name: self.counts.get(name, 0) for name in COUNTED})
        row["documents"] = documents(self.counts)
        row.update(delivery_median_ms=median(self.out_ms), delivery_p95_ms=p95(self.out_ms),
                   receipt_median_ms=median(self.in_ms), receipt_p95_ms=p95(self.in_ms),
                   first_connect=self.first_connect, last_disconnect=self.last_disconnect)
        return row


def documents(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    """The edXML documents by type name: how many sent and received, types in order."""
    found: dict[str, dict[str, int]] = {}
    for name, n in counts.items():
        for prefix, what in ((DOCS_SENT, "sent"), (DOCS_RECEIVED, "received")):
            if name.startswith(prefix):
                entry = found.setdefault(name[len(prefix):], {"sent": 0, "received": 0})
                entry[what] += n
    return dict(sorted(found.items()))


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """A report row for a spreadsheet: the documents by type as columns of their own
    (``sent: Công văn``, ``received: Công văn``), since a table has no nested values."""
    shown = {k: v for k, v in row.items() if k != "documents"}
    for doc_type, n in (row.get("documents") or {}).items():
        shown[f"sent: {doc_type}"] = n["sent"]
        shown[f"received: {doc_type}"] = n["received"]
    return shown


def median(values: Sequence[int]) -> float | int | None:
    if not values:
        return None
    found = stats.median(values)
    return int(found) if float(found).is_integer() else found


def p95(values: Sequence[int]) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _day_key(row: Row) -> str:
    return row.ref.key.split("|", 1)[0]


def buckets(counter_rows: Iterable[Row], duration_rows: Iterable[Row], *,
            by_hour: bool) -> list[Bucket]:
    """Sums the rows of one agency into per-day (or per-hour) buckets, oldest first."""
    sums: dict[tuple[str, int | None], dict[str, int]] = {}
    low: dict[str, str] = {}
    high: dict[str, str] = {}
    for row in counter_rows:
        day = _day_key(row)
        for name, n in row.body.get("add", {}).items():
            hour, _, counter = name.partition(".")
            bucket = sums.setdefault((day, int(hour) if by_hour else None), {})
            bucket[counter] = bucket.get(counter, 0) + n
        _keep(low, day, row.body.get("low", {}).get("first_connect"), min)
        _keep(high, day, row.body.get("high", {}).get("last_disconnect"), max)
    times: dict[tuple[str, int | None, str], list[int]] = {}
    for row in duration_rows:
        day, hour, _, _, direction = row.ref.key.split("|")
        times.setdefault((day, int(hour) if by_hour else None, direction), []).append(
            int(row.body["ms"]))
    keys = set(sums) | {(d, h) for d, h, _ in times}
    keys |= {(d, None) for d in (*low, *high)} if not by_hour else set()
    return [Bucket(day, hour, sums.get((day, hour), {}),
                   low.get(day) if hour is None else None,
                   high.get(day) if hour is None else None,
                   tuple(times.get((day, hour, "out"), ())),
                   tuple(times.get((day, hour, "in"), ())))
            for day, hour in sorted(keys, key=lambda k: (k[0], k[1] or 0))]


def _keep(into: dict[str, str], day: str, value: str | None, pick: Any) -> None:
    if value is not None:
        into[day] = pick(into.get(day, value), value)


def total(found: Sequence[Bucket], start: date, end: date) -> dict[str, Any]:
    """The whole range as one row: counters summed, percentiles over every delivery."""
    counts: dict[str, int] = {}
    for bucket in found:
        for name, n in bucket.counts.items():
            counts[name] = counts.get(name, 0) + n
    firsts = [b.first_connect for b in found if b.first_connect]
    lasts = [b.last_disconnect for b in found if b.last_disconnect]
    merged = Bucket(f"{start.isoformat()}..{end.isoformat()}", None, counts,
                    min(firsts) if firsts else None, max(lasts) if lasts else None,
                    tuple(ms for b in found for ms in b.out_ms),
                    tuple(ms for b in found for ms in b.in_ms))
    return merged.as_row()
