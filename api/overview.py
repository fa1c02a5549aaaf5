"""What an operator looks at: one read of the hub's state for ``/metrics`` and the
console's dashboard, from the log's end offsets and the projections — so it is the same on
the embedded hub and on any node of a distributed one.

Package counts come from the exchange history rows of the current and previous hub-local
month (each agency's, ``hub/history.py``): a bounded read, which covers every delivery
still open (a deadline or an offline wait is hours or days, never months).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from api.runtime import Runtime
from hub.history import HISTORY
from hub.ports import Position
from hub.presence.model import ALL, INDEX
from hub.presence.queries import listing
from hub.registry.model import Agency
from hub.statistics.fold import COUNTERS
from hub.statistics.local import months
from hub.statistics.query import DateRange
from hub.statistics.report import buckets
from streams.catalog import TOPICS
from streams.dead_letters import summary

OPEN_DELIVERY = frozenset({"planned", "notified", "fetched"})
HOLDING = frozenset({"uploading", "sealed"})
"""Package states whose content the hub still holds (a completed one is being shredded)."""


@dataclass
class Lag:
    processor: str
    topic: str
    partition: int
    applied: int
    end: int

    @property
    def behind(self) -> int:
        return max(0, self.end - self.applied)


@dataclass
class Overview:
    appended: dict[tuple[str, int], int] = field(default_factory=dict)
    lags: list[Lag] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)
    agencies: int = 0
    online: int = 0
    connections: int = 0
    packages: Counter[str] = field(default_factory=Counter)
    deliveries: Counter[str] = field(default_factory=Counter)
    bytes_held: int = 0


SPARSE = frozenset({"shredder", "webhooks", "forwarder", "gateway"})
"""Processors that write a tracking record only for the events they act on (a package to
shred, an app to call back, a delivery to forward to another zone): their records say
nothing of the events they passed over. Their progress is known where they run (the
embedded hub: ``Runtime.applied``); a node of a distributed hub, where the worker runs
them, leaves them out rather than report a lag that is not there."""


async def log_positions(runtime: Runtime) -> tuple[dict[tuple[str, int], int], list[Lag]]:
    """Per topic partition, how many events the log holds; per processor, how far it got."""
    local = runtime.processors is not None
    ends: dict[str, dict[int, int]] = {}
    lags: list[Lag] = []
    for name, topics in sorted(TOPICS.items()):
        if name in SPARSE and not local:
            continue
        for topic in topics:
            if topic not in ends:
                ends[topic] = await runtime.backend.events.end_offsets(topic)
            tracked = await runtime.backend.projections.tracked(name, topic)
            for partition, end in sorted(ends[topic].items()):
                known = runtime.applied.known(name, Position(topic, partition, 0)) \
                    if local else -1
                done = max(tracked.get(partition, -1), known) + 1
                lags.append(Lag(name, topic, partition, done, end))
    appended = {(t, p): end for t, by in ends.items() for p, end in by.items()}
    return appended, lags


async def presence(runtime: Runtime, agencies: list[Agency]) -> list[dict[str, Any]]:
    index = {r.ref.key: r.body for r in await runtime.backend.projections.scan(INDEX, ALL)}
    return listing(agencies, index)


async def recent_history(runtime: Runtime, agency: Agency, today: date
                         ) -> list[dict[str, Any]]:
    """The agency's history rows of this month and the last."""
    start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    rows: list[dict[str, Any]] = []
    for month in months(start, today):
        found = await runtime.backend.projections.scan(HISTORY, f"{agency.agency_id}|{month}")
        rows.extend(dict(r.body) for r in found)
    return rows


def today_of(runtime: Runtime) -> date:
    return runtime.backend.clock.now().astimezone(runtime.settings.tz).date()


async def overview(runtime: Runtime, agencies: list[Agency] | None = None) -> Overview:
    """The whole hub (``agencies`` None) or the agencies an operator may see."""
    shown = agencies if agencies is not None else list(runtime.view.registry.agencies.values())
    found = Overview()
    found.appended, found.lags = await log_positions(runtime)
    found.dead_letters = (await summary(runtime.backend.projections))["processors"]
    found.agencies = len(shown)
    for item in await presence(runtime, shown):
        found.online += bool(item.get("online"))
        found.connections += int(item.get("connections") or 0)
    today = today_of(runtime)
    for agency in shown:
        for row in await recent_history(runtime, agency, today):
            if row["direction"] == "sent":
                found.packages[row["status"]] += 1
                found.bytes_held += int(row.get("size") or 0) if row["status"] in HOLDING else 0
            else:
                found.deliveries[row["status"]] += 1
    return found


async def sent_per_hour(runtime: Runtime, agencies: list[Agency], span: DateRange
                        ) -> dict[date, list[int]]:
    """Packages sealed in each hub-local hour of each day of ``span``, summed over the
    agencies: one range read of the statistics counters per agency for the whole span,
    summed by the reports' own rule (``buckets``: a day's counters may span several rows)."""
    days = {span.start + timedelta(days=n): [0] * 24
            for n in range((span.end - span.start).days + 1)}
    for agency in agencies:
        rows = await runtime.backend.projections.scan(
            COUNTERS, agency.agency_id, span.start.isoformat(), span.stop_key)
        for bucket in buckets(rows, (), by_hour=True):
            hours = days.get(date.fromisoformat(bucket.day))
            if hours is not None and bucket.hour is not None:
                hours[bucket.hour] += bucket.counts.get("sent", 0)
    return days
