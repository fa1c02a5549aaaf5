"""`truc replay`: rebuild a projection from the event log and compare it with the live one.

The fold runs in memory (``hub.projection.Rebuild``, the very rows the live processor
writes), the result is bulk-written into a fresh namespace (views prefixed
``replay-<stamp>/``) and compared, view by view and partition by partition, with the
live rows. Works on either backend: the log is read through the ``EventLog`` port, the
rows through ``Projections``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hub.ports import EventLog, JSONValue, Projections, Recorded, Row, RowRef
from hub.projection import Fold, Rebuild, partition_index

MAX_SHOWN = 20


@dataclass(frozen=True)
class Start:
    """Where the rebuild starts: an offset in every partition, or a time (events that
    occurred before it are skipped). Neither: the beginning of the log."""

    offset: int | None = None
    time: datetime | None = None


@dataclass
class Report:
    projection: str
    namespace: str
    events: int = 0
    """Events of the log range read (those of types the fold ignores are skipped unread)."""
    applied: int = 0
    set_aside: int = 0
    """Events the fold refuses (the live processor set them aside as dead letters):
    skipped here too, so the rebuild still compares equal."""
    read_seconds: float = 0.0
    read_cpu_seconds: float = 0.0
    """This process's CPU time while reading and folding: a figure a busy machine spoils
    less than the wall-clock one."""
    write_seconds: float = 0.0
    compare_seconds: float = 0.0
    rows_rebuilt: int = 0
    rows_live: int = 0
    only_live: int = 0
    only_rebuilt: int = 0
    different: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    log_end: dict[str, dict[int, int]] = field(default_factory=dict)
    live_applied: dict[str, dict[int, int]] = field(default_factory=dict)
    kept: bool = False

    @property
    def equal(self) -> bool:
        return not (self.only_live or self.only_rebuilt or self.different)

    def as_json(self) -> dict[str, Any]:
        rate = self.events / self.read_seconds if self.read_seconds else 0.0
        cpu_rate = self.events / self.read_cpu_seconds if self.read_cpu_seconds else 0.0
        live_caught_up = all(
            self.live_applied.get(t, {}).get(p, -1) >= end - 1
            for t, ends in self.log_end.items() for p, end in ends.items() if end)
        return {**asdict(self), "equal": self.equal, "events_per_second": round(rate),
                "events_per_cpu_second": round(cpu_rate),
                "live_caught_up": live_caught_up,
                "log_end": {t: {str(p): o for p, o in e.items()} for t, e in self.log_end.items()},
                "live_applied": {t: {str(p): o for p, o in e.items()}
                                 for t, e in self.live_applied.items()}}


async def rebuild(log: EventLog, fold: Fold, start: Start, report: Report) -> Rebuild:
    """Folds the log (up to its end when called) in memory.

    Events carry only the fields the fold reads (``Fold.reads``): decoding the others is
    most of what reading costs. The cyclic garbage collector is paused meanwhile: the fold
    only grows a heap of acyclic rows (dicts, strings), which each collection would walk
    again and again, a tenth of the CPU at 100,000 events and more the bigger the heap;
    nothing it could free is lost, it runs again afterwards."""
    began, cpu = time.perf_counter(), time.process_time()
    folded = Rebuild(fold)
    fields = None if fold.reads is None else fold.reads | {"occurred_at"}  # for --from TIME
    collecting = gc.isenabled()
    gc.disable()
    try:
        for topic in fold.topics:
            ends = await log.end_offsets(topic)
            report.log_end[topic] = ends
            first = dict.fromkeys(ends, start.offset or 0)
            report.events += sum(max(0, end - first[p]) for p, end in ends.items())
            async for recorded in log.read(topic, first, fold.types, fields):
                if start.time is None or recorded.event.occurred_at >= start.time:
                    feed(folded, recorded, report)
    finally:
        if collecting:
            gc.enable()
    report.applied = folded.events
    report.read_seconds = time.perf_counter() - began
    report.read_cpu_seconds = time.process_time() - cpu
    return folded


def feed(folded: Rebuild, recorded: Recorded, report: Report) -> None:
    """One event into the rebuild; one the fold refuses is skipped as live skips it (its
    position counts as applied, its rows are not written)."""
    try:
        folded.feed(recorded)
    except Exception:  # the fold is pure: nothing here is an outage
        report.set_aside += 1


async def replay(log: EventLog, projections: Projections, fold: Fold, start: Start, *,
                 keep: bool = False, namespace: str | None = None) -> Report:
    ns = namespace or f"replay-{time.strftime('%Y%m%dT%H%M%S')}"
    report = Report(fold.name, ns, kept=keep)
    folded = await rebuild(log, fold, start, report)
    began = time.perf_counter()
    moved = [Row(RowRef(f"{ns}/{ref.view}", ref.partition, ref.key), body)
             for ref, body in folded.rows.items()]
    await projections.write(moved)
    report.write_seconds = time.perf_counter() - began
    report.live_applied = {t: await projections.tracked(fold.name, t) for t in fold.topics}
    began = time.perf_counter()
    await compare(projections, fold, folded.output(), report)
    report.compare_seconds = time.perf_counter() - began
    if not keep:
        await projections.write(deletes=[row.ref for row in moved])
    return report


async def compare(projections: Projections, fold: Fold,
                  rebuilt: Mapping[RowRef, Mapping[str, JSONValue]], report: Report) -> None:
    """Counts rows only live, only rebuilt, or different, partition by partition."""
    mine: dict[tuple[str, str], dict[str, Mapping[str, JSONValue]]] = {}
    for ref, body in rebuilt.items():
        mine.setdefault((ref.view, ref.partition), {})[ref.key] = body
    report.rows_rebuilt = len(rebuilt)
    for view in fold.views:
        index = partition_index(fold, RowRef(view, "", "")).ref.view
        live_parts = {r.ref.key for r in await projections.scan(index, view)}
        for part in sorted(live_parts | {p for v, p in mine if v == view}):
            live = {r.ref.key: r.body for r in await projections.scan(view, part)}
            _diff(view, part, live, mine.get((view, part), {}), report)


def _diff(view: str, part: str, live: Mapping[str, Mapping[str, JSONValue]],
          rebuilt: Mapping[str, Mapping[str, JSONValue]], report: Report) -> None:
    report.rows_live += len(live)
    for key in sorted(set(live) | set(rebuilt)):
        was, now = live.get(key), rebuilt.get(key)
        if was == now:
            continue
        if was is None:
            report.only_rebuilt += 1
        elif now is None:
            report.only_live += 1
        else:
            report.different += 1
        if len(report.examples) < MAX_SHOWN:
            report.examples.append({"view": view, "partition": part, "key": key,
                                    "live": was, "rebuilt": now})
