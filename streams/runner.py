"""Drivers of the hub's processors over an event log.

A ``Processor`` handles one recorded event at a time and keeps its own tracking record in
the projections, so redelivered or replayed events are no-ops. In the embedded loop, a
pure projector takes the events that queued up meanwhile together (``handle_batch``): one
transaction for a burst — a directory sync's registry events — rather than one each.
The embedded hub runs every processor as an asyncio task over the SQLite log
(``InProcessProcessors``); the Faust worker calls the very same ``handle`` from its
agents. Both go through
``streams.guard.handle_guarded``: an engine outage retries the same event, a poison
event becomes a dead letter; neither skips an event nor stops the processor.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

from hub.ports import (
    EventLog,
    JSONValue,
    Position,
    Projections,
    Recorded,
    Row,
    RowRef,
    Undecodable,
)
from hub.projection import Fold, Projector, Writes, combined, counter_ref, writes_of
from streams.applied import Applied
from streams.guard import handle_guarded
from streams.tracking import TrackingCache

log = logging.getLogger(__name__)
T = TypeVar("T")


class Processor(Protocol):
    name: str
    topics: tuple[str, ...]

    async def handle(self, recorded: Recorded) -> bool:
        """Applies one event; False when it had been applied before."""
        ...


class ProjectorProcessor:
    """A pure projector, applied with its tracking record."""

    def __init__(self, projector: Projector, projections: Projections,
                 tracking: TrackingCache | None = None) -> None:
        self.projector = projector
        self.name = projector.name
        self.topics = projector.topics
        self._projections = projections
        self._tracking = tracking or TrackingCache(projections)

    async def handle(self, recorded: Recorded) -> bool:
        async def plan() -> tuple[Writes, None]:
            return self.projector.project(recorded.event), None

        applied, _ = await apply_once(self._tracking, self._projections, self.name,
                                      recorded.position, plan)
        return applied

    async def handle_many(self, batch: Sequence[Recorded]) -> None:
        """Events of one partition that queued up (a directory sync's 220,000 registry
        events), in log order, applied together: their combined writes and the last one's
        tracking record in one ``apply`` — all of them or none. Those at or before the
        tracked offset are skipped, as ``handle`` skips one. A pure projector's writes
        only set rows, so the result is the same as one ``apply`` each."""
        last = batch[-1].position
        with self._tracking.handling(self.name, last):
            done = await self._tracking.done(self.name, last)
            fresh = [r for r in batch if r.position.offset > done]
            if not fresh:
                return
            writes = combined([self.projector.project(r.event) for r in fresh])
            applied = await self._projections.apply(self.name, last, writes.upserts,
                                                    writes.deletes, last_applied=done)
        settle(self._tracking, self.name, last, applied)


async def apply_once(tracking: TrackingCache, projections: Projections, tracker: str,
                     position: Position, plan: Callable[[], Awaitable[tuple[Writes, T]]]
                     ) -> tuple[bool, T | None]:
    """The skeleton every tracked processor shares: skip an event handled before, else
    ``plan`` its writes (reads included) and apply them with the tracking record, all
    under ``handling`` so a failure forgets what the cache believed. Returns whether it
    applied, and what ``plan`` returned beside the writes (None when skipped).

    A write that failed may still land, row by row, while the event is tried again (a
    timed-out Cassandra batch is replayed from its batch log; its partitions become visible
    one at a time): planning again would read rows that already hold the event's own
    effect under a tracking record that does not, and count it twice. So the retry of an
    event whose write was attempted sends the very writes planned the first time
    (``TrackingCache.hold``): whatever part of the first try lands, the rows end the same."""
    with tracking.handling(tracker, position):
        done = await tracking.done(tracker, position)
        if position.offset <= done:
            tracking.release(tracker, position)
            return False, None
        held = tracking.held(tracker, position)
        writes, planned = cast(tuple[Writes, T], held) if held is not None else await plan()
        tracking.hold(tracker, position, (writes, planned))
        applied = await projections.apply(tracker, position, writes.upserts, writes.deletes,
                                          last_applied=done)
        tracking.release(tracker, position)
    settle(tracking, tracker, position, applied)
    return applied, planned


def settle(tracking: TrackingCache, tracker: str, position: Position, applied: bool) -> None:
    """After ``apply``: remember the position, or — if the store was ahead of what this
    process believed — forget the stale offset so the next event reads it again."""
    if applied:
        tracking.note(tracker, position)
    else:
        tracking.forget_tracker(tracker, position.topic)


async def apply_recorded(
    projector: Projector, projections: Projections, recorded: Recorded
) -> bool:
    """Applies one event; False when it was applied before (replay or redelivery)."""
    writes = projector.project(recorded.event)
    return await projections.apply(
        projector.name, recorded.position, writes.upserts, writes.deletes
    )


async def resume_positions(
    name: str, topics: Sequence[str], projections: Projections
) -> dict[tuple[str, int], int]:
    """Where to start reading: just after the last event each partition applied."""
    start: dict[tuple[str, int], int] = {}
    for topic in topics:
        for partition, offset in (await projections.tracked(name, topic)).items():
            start[(topic, partition)] = offset + 1
    return start


async def run_processor(processor: Processor, log_: EventLog, projections: Projections,
                        applied: Applied | None = None) -> None:
    """Runs until cancelled, handling every new event in log order — each applied or set
    aside before the next is read (``handle_guarded``); tells ``applied`` each position
    once handled, which wakes whoever waits for it."""
    start = await resume_positions(processor.name, processor.topics, projections)
    events = log_.subscribe(list(processor.topics), start)
    if not isinstance(processor, ProjectorProcessor):
        async for recorded in events:
            await handle_guarded(processor, recorded, projections)
            if applied is not None:
                applied.advance(processor.name, recorded.position)
        return
    async for ready in drained(events, BATCH):
        for batch in by_partition(ready):
            await handle_batch(processor, batch, projections)
            if applied is not None:
                applied.advance(processor.name, batch[-1].position)


BATCH = 1000
"""The most events a projector applies in one transaction (``handle_batch``)."""


async def handle_batch(processor: ProjectorProcessor, batch: Sequence[Recorded],
                       projections: Projections) -> None:
    """Events of one partition that were waiting, in one ``handle_many``; if that fails
    (nothing of it was written: one transaction), or an event does not decode, each is
    handled alone, guarded as ever: retried through an outage, set aside if poison."""
    if len(batch) > 1 and not any(isinstance(r.event, Undecodable) for r in batch):
        try:
            await processor.handle_many(batch)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("%s: %d events together failed (%s: %s); one at a time now",
                     processor.name, len(batch), type(exc).__name__, exc)
    for recorded in batch:
        await handle_guarded(processor, recorded, projections)


def by_partition(ready: Sequence[Recorded]) -> list[list[Recorded]]:
    """Consecutive runs of one (topic, partition): each run is applied in order, the runs
    in the order read."""
    runs: list[list[Recorded]] = []
    for recorded in ready:
        here = (recorded.position.topic, recorded.position.partition)
        if runs and (runs[-1][0].position.topic, runs[-1][0].position.partition) == here:
            runs[-1].append(recorded)
        else:
            runs.append([recorded])
    return runs


async def drained(source: AsyncIterator[T], most: int) -> AsyncIterator[list[T]]:
    """What ``source`` has ready, as lists of up to ``most``: one item waited for, then
    whatever else a reader task has queued meanwhile. While the consumer works on one
    list, the next fills up, so a burst goes by in a few lists and a trickle one by one
    (no added wait). Nothing read but not handed on is lost: the reader is cancelled
    with the consumer, and what it queued was never handled (the log has it)."""
    queue: asyncio.Queue[T | _Ended] = asyncio.Queue(most)

    async def read() -> None:
        try:
            async for item in source:
                await queue.put(item)
        except Exception as exc:  # the consumer raises it, as a plain loop would
            await queue.put(_Ended(exc))
        else:
            await queue.put(_Ended(None))

    reader = asyncio.create_task(read(), name="drained-reader")
    try:
        while True:
            ready = [await queue.get()]
            while len(ready) < most and not queue.empty():
                ready.append(queue.get_nowait())
            ended = ready[-1]
            if isinstance(ended, _Ended):
                if ready[:-1]:
                    yield cast(list[T], ready[:-1])
                if ended.error is not None:
                    raise ended.error
                return
            yield cast(list[T], ready)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


@dataclass(frozen=True)
class _Ended:
    """The reader's last item: the source ended, or failed with ``error``."""

    error: Exception | None


class InProcessProcessors:
    """The embedded hub's processors: one asyncio task each."""

    def __init__(self, processors: Sequence[Processor], log_: EventLog,
                 projections: Projections, applied: Applied | None = None) -> None:
        self._processors = processors
        self._log = log_
        self._projections = projections
        self._applied = applied
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for p in self._processors:
            task = asyncio.create_task(self._guarded(p), name=f"processor:{p.name}")
            self._tasks.append(task)

    async def _guarded(self, processor: Processor) -> None:
        """Events never fail the loop (``handle_guarded``); the log itself might (its
        database busy past every wait): then it logs and reads again from the tracked
        position."""
        while True:
            try:
                await run_processor(processor, self._log, self._projections, self._applied)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("processor %s failed; restarting in 1 s", processor.name)
                await asyncio.sleep(1)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


async def follow(log_: EventLog, topics: list[str], apply: Callable[[Recorded], Awaitable[None]]
                 ) -> None:
    """Feeds every event of ``topics``, from the start, to an in-memory view (the
    registry every API node keeps). Runs until cancelled; restarts after a failure. An
    undecodable record is logged and fed like any event of a type the view ignores, so
    the view still reaches the positions after it (the processors dead-letter it)."""
    while True:
        try:
            async for recorded in log_.subscribe(topics):
                if isinstance(recorded.event, Undecodable):
                    log.error("%s: an undecodable record: %s", recorded.position,
                              recorded.event.error)
                await apply(recorded)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following %s failed; restarting in 1 s", topics)
            await asyncio.sleep(1)


class FoldProcessor:
    """A stateful fold (statistics, history): loads the event's state row and the counter
    rows it touches, steps, writes everything with the tracking record in one batch. Only
    the handler of a log partition writes that partition's counter rows (and a package's
    state row: its events share a partition), so the read-then-write is safe even with
    several workers — and, like the package processor, the fold may answer those reads
    from what it last wrote (``TrackingCache.remember``): on Cassandra that was two
    tracking reads and two to four row reads per event and fold. A rebalance, a failed
    handling or an ``apply`` answering False forgets it all."""

    def __init__(self, fold: Fold, projections: Projections,
                 tracking: TrackingCache | None = None) -> None:
        self.fold = fold
        self.name = fold.name
        self.topics = fold.topics
        self._projections = projections
        self._tracking = tracking or TrackingCache(projections)

    async def handle(self, recorded: Recorded) -> bool:
        async def plan() -> tuple[Writes, Sequence[Row]]:
            ref = self.fold.state_of(recorded.event)
            state = None if ref is None else await self._row(ref)
            change = self.fold.step(state, recorded.event)
            counters: dict[RowRef, Mapping[str, JSONValue]] = {}
            for count in change.counts:
                cref = counter_ref(count.ref, recorded.position)
                if cref not in counters:
                    counters[cref] = await self._row(cref) or {}
            rows = writes_of(self.fold, recorded, ref, change, counters)
            return Writes(rows), rows

        applied, rows = await apply_once(self._tracking, self._projections, self.name,
                                         recorded.position, plan)
        for row in rows if applied and rows else ():  # as a read gives it: lists, not tuples
            self._tracking.remember(self.name, _memo_key(row.ref),
                                    json.loads(json.dumps(row.body)))
        return applied

    async def _row(self, ref: RowRef) -> Mapping[str, JSONValue] | None:
        """A row's body as this fold last wrote it, else as stored."""
        known = self._tracking.recall(self.name, _memo_key(ref))
        if isinstance(known, Mapping):
            return known
        found = await self._projections.get(ref)
        return None if found is None else found.body


def _memo_key(ref: RowRef) -> str:
    return f"{ref.view}\x1f{ref.partition}\x1f{ref.key}"


async def repeat(tick: Callable[[], Awaitable[object]], seconds: float, what: str) -> None:
    """Runs ``tick`` every ``seconds`` until cancelled (the watchdogs' timers). A failed
    tick is logged and the next one tries again: a timer must outlive an engine hiccup."""
    while True:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; next try in %s s", what, seconds)
        await asyncio.sleep(seconds)
