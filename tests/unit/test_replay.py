"""The live fold driver and `truc replay` agree, on the embedded adapters; a live row that
went wrong is found."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from hub.history import history_fold
from hub.ports import Position, Row, RowRef
from hub.projection import Rebuild
from hub.statistics.fold import COUNTERS, statistics_fold
from hub.topics import record
from infra.avro import default_codec
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from streams.replay import Start, replay
from streams.runner import FoldProcessor
from tests.unit.stats_traffic import Traffic
from tests.unit.test_statistics import HCM, clock_at


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "t.sqlite3").open()
    yield database
    await database.close()


async def scripted(log: SqliteEventLog) -> None:
    clock = clock_at("2026-11-27 08:00")
    t = Traffic(clock)
    for i in range(30):
        pkg = t.send(f"ag{i % 4}", {"X": f"ag{(i + 1) % 4}", "Y": f"ag{(i + 2) % 4}"}, size=i)
        clock.advance(timedelta(minutes=7))
        t.ack(pkg, f"ag{(i + 1) % 4}")
        if i % 5 == 0:
            t.expire(pkg, f"ag{(i + 2) % 4}")
        t.connect(f"ag{i % 4}")
        t.disconnect(f"ag{i % 4}")
    every_rule(t)
    for recorded in t.log:
        await record(log, recorded.event)


def every_rule(t: Traffic) -> None:
    """Rejection, recall, extension after expiry, redirection: the rules the loop above
    leaves out, so a field the statistics fold reads but does not declare in ``reads``
    (a replay decodes only those) makes the rebuild differ from the live rows."""
    rejected = t.request("ag0", {"X": "ag1"}, size=5)
    t.reject(rejected)
    pkg = t.send("ag1", {"X": "ag2", "Y": "ag3", "Z": "ag0"}, size=11)
    t.recall(pkg, "ag2")
    t.expire(pkg, "ag3")
    t.extend(pkg, "ag3")
    t.ack(pkg, "ag3")
    t.redirect(pkg, "ag0", "ag2")
    t.ack(pkg, "ag2")


async def test_the_statistics_fold_reads_only_what_it_declares() -> None:
    """The rows a rebuild makes from events carrying only ``fold.reads`` (as a replay
    decodes them) equal those from whole events, for every rule."""
    clock = clock_at("2026-11-27 08:00")
    t = Traffic(clock)
    every_rule(t)
    fold = statistics_fold(HCM)
    assert fold.reads is not None
    codec, whole, partial = default_codec(), Rebuild(fold), Rebuild(fold)
    read = codec.partial(fold.reads)
    for recorded in t.log:
        whole.feed(recorded)
        partial.feed(replace(recorded, event=read(codec.encode(recorded.event))))
    assert partial.rows == whole.rows
    counted = {name.split(".")[1] for body in whole.output().values()
               for name in body.get("add", {})}  # type: ignore[union-attr]
    assert {"rejected", "recalled", "expired", "delivered", "received"} <= counted


@pytest.mark.parametrize("make", [statistics_fold, history_fold])
async def test_replay_equals_the_live_projection(db: Database, make: object) -> None:
    log, projections = SqliteEventLog(db), SqliteProjections(db)
    await scripted(log)
    fold = make(HCM)  # type: ignore[operator]
    processor = FoldProcessor(fold, projections)
    for topic in fold.topics:
        async for recorded in log.read(topic):
            assert await processor.handle(recorded)
            assert not await processor.handle(recorded), "redelivery changes nothing"
    report = await replay(log, projections, fold, Start())
    result = report.as_json()
    assert result["equal"], result["examples"]
    assert result["live_caught_up"] and report.rows_live == report.rows_rebuilt > 0
    assert report.events == sum([(await log.end_offsets(t))[0] for t in fold.topics])
    left = [r for r in await projections.scan(f"{report.namespace}/{fold.views[0]}", "ag0")]
    assert left == [], "the rebuilt namespace is dropped unless kept"


async def test_replay_finds_a_wrong_live_row(db: Database) -> None:
    log, projections = SqliteEventLog(db), SqliteProjections(db)
    await scripted(log)
    fold = statistics_fold(HCM)
    processor = FoldProcessor(fold, projections)
    for topic in fold.topics:
        async for recorded in log.read(topic):
            await processor.handle(recorded)
    [victim, *_] = await projections.scan(COUNTERS, "ag1")
    await projections.apply("vandal", Position("x", 0, 0),
                            [Row(victim.ref, {"add": {"08.sent": 999}})])
    report = await replay(log, projections, fold, Start(), keep=True)
    assert not report.equal and report.different == 1
    assert report.examples[0]["key"] == victim.ref.key
    kept = await projections.scan(f"{report.namespace}/{COUNTERS}", "ag1")
    assert [r.body for r in kept if r.ref.key == victim.ref.key] == [victim.body]


async def test_replay_from_an_offset_reads_less(db: Database) -> None:
    log, projections = SqliteEventLog(db), SqliteProjections(db)
    await scripted(log)
    report = await replay(log, projections, statistics_fold(HCM), Start(offset=100))
    ends = [(await log.end_offsets(t))[0] for t in ("packages", "presence")]
    assert report.events == sum(max(0, end - 100) for end in ends) > 0
    assert not report.equal, "a partial rebuild is not the live projection"


class Counting(SqliteProjections):
    """Counts the tracking and row reads the live fold makes."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.tracked_reads = 0
        self.row_reads: list[str] = []

    async def tracked(self, tracker: str, topic: str) -> dict[int, int]:
        self.tracked_reads += 1
        return await super().tracked(tracker, topic)

    async def get(self, ref: RowRef) -> Row | None:
        self.row_reads.append(f"{ref.view}/{ref.partition}/{ref.key}")
        return await super().get(ref)


async def test_the_live_fold_reads_tracking_once_and_each_row_at_most_once(
        db: Database) -> None:
    """It remembers its offsets and the rows it wrote (it is their only writer): what it
    reads from the store is what it has not written yet, and the result is unchanged."""
    log, projections = SqliteEventLog(db), Counting(db)
    await scripted(log)
    fold = statistics_fold(HCM)
    processor = FoldProcessor(fold, projections)
    handled = 0
    for topic in fold.topics:
        async for recorded in log.read(topic):
            assert await processor.handle(recorded)
            handled += 1
    assert projections.tracked_reads == len(fold.topics), "once per topic's partition"
    assert len(projections.row_reads) == len(set(projections.row_reads)) < handled
    report = await replay(log, projections, fold, Start())
    assert report.equal, report.as_json()["examples"]


class LandingLate(SqliteProjections):
    """A store whose first write of each event fails *after* its rows landed but before its
    tracking record did — as a timed-out Cassandra batch, replayed from its batch log, shows
    its partitions one at a time while the processor already tries again."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.failed: set[Position] = set()

    async def apply(self, tracker: str, position: Position, upserts: Sequence[Row] = (),
                    deletes: Sequence[RowRef] = (), *, last_applied: int | None = None
                    ) -> bool:
        if position not in self.failed:
            self.failed.add(position)
            await self.write(upserts, deletes)
            raise TimeoutError("the batch timed out; its rows landed anyway")
        return await super().apply(tracker, position, upserts, deletes,
                                   last_applied=last_applied)


@pytest.mark.parametrize("make", [statistics_fold, history_fold])
async def test_a_retried_event_counts_once_though_its_failed_write_landed(
        db: Database, make: object) -> None:
    """The retry sends the writes planned the first time: planning again would read the
    counters with the event already in them and count it twice (the cluster's Cassandra
    kill found ``sent`` 16 live, 15 rebuilt)."""
    log, projections = SqliteEventLog(db), LandingLate(db)
    await scripted(log)
    fold = make(HCM)  # type: ignore[operator]
    processor = FoldProcessor(fold, projections)
    for topic in fold.topics:
        async for recorded in log.read(topic):
            with pytest.raises(TimeoutError):
                await processor.handle(recorded)
            assert await processor.handle(recorded)
    report = await replay(log, projections, fold, Start())
    assert report.equal, report.as_json()["examples"]
    assert report.rows_live == report.rows_rebuilt > 0
