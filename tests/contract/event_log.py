"""The contract every EventLog adapter passes (SQLite and Kafka subclass it)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone

import pytest

from hub.errors import InvalidRequest
from hub.events import Event
from hub.ports import EventLog, Recorded, Undecodable
from infra.avro import default_codec
from tests.factories import agency_registered, chunk_stored

RawAppend = Callable[[str, str, bytes], Awaitable[None]]
"""(topic, key, bytes): puts bytes in the log as they are, without the codec."""

_LATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(minutes=-1)))
"""A valid Python datetime, encodable as timestamp-millis, past year 9999 in UTC: it
could not be decoded (issue 10, finding 1)."""
UNREADABLE: list[tuple[str, Event]] = [
    ("occurred_at", dataclasses.replace(chunk_stored("p", 0), occurred_at=_LATE)),
    ("name", agency_registered(name="C\udcf4ng")),
    ("size", dataclasses.replace(chunk_stored("p", 0), size=10**30)),
]


async def collect(it: AsyncIterator[Recorded], n: int) -> list[Recorded]:
    """The first ``n`` events of a subscription, or a failure after 20 s."""
    out: list[Recorded] = []
    async with asyncio.timeout(20):
        async for recorded in it:
            out.append(recorded)
            if len(out) == n:
                break
    return out


class EventLogContract:
    """Subclasses provide the ``log`` fixture, a ``topic`` fixture (a fresh topic) and a
    ``raw_append`` fixture (``RawAppend``)."""

    async def test_a_record_that_does_not_decode_comes_as_undecodable_and_reading_goes_on(
        self, log: EventLog, topic: str, raw_append: RawAppend
    ) -> None:
        """One bad record must not end a read or a subscription (it stopped every
        processor at its offset, for ever): it comes as ``Undecodable``, with its bytes."""
        key = str(uuid.uuid4())
        sealed = default_codec().fingerprints_of(["PackageSealed"])[0]
        broken = b"\xc3\x01" + sealed + b"\xff\xff"
        unknown = b"\xc3\x01" + b"\x00" * 8 + b"body"
        before, after = chunk_stored(key, 0), chunk_stored(key, 1)
        await log.append(topic, key, before)
        await raw_append(topic, key, broken)
        await raw_append(topic, key, unknown)
        await log.append(topic, key, after)
        read = [r async for r in log.read(topic)]
        subscribed = await collect(log.subscribe([topic]), 4)
        for got in (read, subscribed):
            assert [r.event for r in got[::3]] == [before, after]
            holes = [r.event for r in got[1:3]]
            assert all(isinstance(e, Undecodable) for e in holes)
            assert [(e.raw, e.type_name) for e in holes if isinstance(e, Undecodable)] == [
                (broken, "PackageSealed"), (unknown, None)]
            assert [r.key for r in got] == [key] * 4
        assert [r.event async for r in log.read(topic, types={"ChunkStored"})] == [
            before, after], "a type filter skips the record of an unknown type"

    async def test_appended_events_read_back_equal_and_in_order(
        self, log: EventLog, topic: str
    ) -> None:
        package = str(uuid.uuid4())
        sent = [chunk_stored(package, i) for i in range(5)]
        positions = [await log.append(topic, package, e) for e in sent]
        assert [p.offset for p in positions] == sorted(p.offset for p in positions)
        assert len({p.partition for p in positions}) == 1, "one key, one partition"
        got = [r async for r in log.read(topic)]
        assert [r.event for r in got] == sent
        assert [r.position for r in got] == positions
        assert all(r.key == package for r in got)

    async def test_a_batch_is_appended_whole_in_order_at_consecutive_offsets(
        self, log: EventLog, topic: str
    ) -> None:
        package = str(uuid.uuid4())
        single = await log.append(topic, package, chunk_stored(package, 0))
        sent = [chunk_stored(package, i) for i in range(1, 5)]
        positions = await log.append_batch(topic, package, sent)
        assert {p.partition for p in positions} == {single.partition}, "the key's partition"
        assert [p.offset for p in positions] == list(
            range(positions[0].offset, positions[0].offset + 4)), "consecutive"
        got = [r async for r in log.read(topic)]
        assert [r.event for r in got][1:] == sent
        assert [r.position for r in got][1:] == positions
        assert await log.append_batch(topic, package, []) == []

    async def test_each_event_under_its_own_key_in_the_order_given(
        self, log: EventLog, topic: str
    ) -> None:
        """``append_each`` (a directory sync's events): every event where its key sends
        it, in the order given within each partition, at the positions it answers."""
        keys = [str(uuid.uuid4()) for _ in range(6)]
        alone = {k: await log.append(topic, k, chunk_stored(k, 0)) for k in keys}
        sent = [(k, chunk_stored(k, i)) for i in range(1, 4) for k in keys]
        positions = await log.append_each(topic, sent)
        got = {r.position: r for r in [r async for r in log.read(topic)]}
        assert [(got[p].key, got[p].event) for p in positions] == sent
        for key in keys:
            mine = [p for p, (k, _) in zip(positions, sent, strict=True) if k == key]
            assert {p.partition for p in mine} == {alone[key].partition}, "the key's own"
            assert [p.offset for p in mine] == sorted(p.offset for p in mine), "in order"
        assert await log.append_each(topic, []) == []

    async def test_each_with_an_event_that_could_not_be_read_back_appends_none(
        self, log: EventLog, topic: str
    ) -> None:
        await log.append(topic, "k", agency_registered())
        before = await log.end_offsets(topic)
        with pytest.raises(InvalidRequest):
            await log.append_each(topic, [("a", agency_registered()),
                                          ("b", UNREADABLE[0][1])])
        assert await log.end_offsets(topic) == before

    @pytest.mark.parametrize(("field", "event"), UNREADABLE[:1], ids=["occurred_at"])
    async def test_a_batch_with_an_event_that_could_not_be_read_back_appends_none(
        self, log: EventLog, topic: str, field: str, event: Event
    ) -> None:
        await log.append(topic, "k", agency_registered())
        before = await log.end_offsets(topic)
        with pytest.raises(InvalidRequest) as refused:
            await log.append_batch(topic, "k", [agency_registered(), event])
        assert refused.value.extra.get("field") == field
        assert await log.end_offsets(topic) == before

    async def test_concurrent_appends_each_get_their_own_place(
        self, log: EventLog, topic: str
    ) -> None:
        """Appends racing (the SQLite log commits them in groups) are each recorded once,
        where the position they were given says, batches unbroken."""
        keys = [str(uuid.uuid4()) for _ in range(12)]
        ones = [chunk_stored(k, 0) for k in keys]
        pairs = [[chunk_stored(k, 1), chunk_stored(k, 2)] for k in keys]
        single = await asyncio.gather(*(log.append(topic, e.package_id, e) for e in ones))
        batch = await asyncio.gather(*(log.append_batch(topic, p[0].package_id, p)
                                       for p in pairs))
        both = await asyncio.gather(
            *(log.append(topic, k, chunk_stored(k, 3)) for k in keys[:6]),
            *(log.append_batch(topic, k, [chunk_stored(k, 4)]) for k in keys[6:]))
        got = {r.position: r.event for r in [r async for r in log.read(topic)]}
        assert len(got) == 48 and len(set(single) | {p for ps in batch for p in ps}) == 36
        assert [got[p] for p in single] == ones
        assert [[got[p] for p in ps] for ps in batch] == pairs
        assert len(both) == 12

    async def test_read_starts_at_the_given_offset(self, log: EventLog, topic: str) -> None:
        key = "000.00.11.H53"
        positions = [await log.append(topic, key, agency_registered()) for _ in range(4)]
        start = {positions[2].partition: positions[2].offset}
        got = [r async for r in log.read(topic, start)]
        assert [r.position for r in got] == positions[2:]

    async def test_read_of_an_empty_topic_ends_at_once(self, log: EventLog, topic: str) -> None:
        got = await asyncio.wait_for(self._drain(log, topic), 20)
        assert got == []

    @staticmethod
    async def _drain(log: EventLog, topic: str) -> list[Recorded]:
        return [r async for r in log.read(topic)]

    async def test_every_key_is_read_and_order_holds_per_key(
        self, log: EventLog, topic: str
    ) -> None:
        keys = [str(uuid.uuid4()) for _ in range(6)]
        sent = {k: [chunk_stored(k, i) for i in range(3)] for k in keys}
        for i in range(3):
            for k in keys:
                await log.append(topic, k, sent[k][i])
        got = [r async for r in log.read(topic)]
        assert len(got) == 18
        for k in keys:
            assert [r.event for r in got if r.key == k] == sent[k]

    async def test_end_offsets_count_appends(self, log: EventLog, topic: str) -> None:
        before = sum((await log.end_offsets(topic)).values())
        for _ in range(3):
            await log.append(topic, "k", agency_registered())
        assert sum((await log.end_offsets(topic)).values()) == before + 3

    async def test_subscribe_sees_events_appended_later(self, log: EventLog, topic: str) -> None:
        first = await log.append(topic, "k", agency_registered())
        later = [agency_registered(name=f"Đơn vị {i}") for i in range(3)]
        stream = log.subscribe([topic])
        reader = asyncio.create_task(collect(stream, 4))
        await asyncio.sleep(0.2)
        for e in later:
            await log.append(topic, "k", e)
        got = await reader
        assert got[0].position == first
        assert [r.event for r in got[1:]] == later

    async def test_subscribe_from_a_position_skips_what_came_before(
        self, log: EventLog, topic: str
    ) -> None:
        positions = [await log.append(topic, "k", agency_registered()) for _ in range(3)]
        start = {(topic, positions[1].partition): positions[1].offset + 1}
        got = await collect(log.subscribe([topic], start), 1)
        assert got[0].position == positions[2]

    async def test_topics_are_separate(self, log: EventLog, topic: str) -> None:
        other = f"{topic}-other"
        await log.append(topic, "k", agency_registered())
        assert [r async for r in log.read(other)] == []

    async def test_read_only_some_types(self, log: EventLog, topic: str) -> None:
        package = str(uuid.uuid4())
        mixed = [chunk_stored(package, 0), agency_registered(), chunk_stored(package, 1)]
        for event in mixed:
            await log.append(topic, package, event)
        got = [r.event async for r in log.read(topic, types={"ChunkStored"})]
        assert got == [mixed[0], mixed[2]]
        assert [r async for r in log.read(topic, types={"KeyIssued"})] == []

    async def test_read_only_some_fields(self, log: EventLog, topic: str) -> None:
        """What a replay's fold declares it reads arrives as written; nothing else is
        built (the partial decoders behind ``fields``)."""
        package = str(uuid.uuid4())
        written = [chunk_stored(package, 0), chunk_stored(package, 1)]
        for event in written:
            await log.append(topic, package, event)
        wanted = ("package_id", "index", "occurred_at")
        got = [r.event async for r in log.read(topic, types={"ChunkStored"}, fields=wanted)]
        assert [type(e) for e in got] == [type(e) for e in written]
        for partial, whole in zip(got, written, strict=True):
            assert {f: getattr(partial, f) for f in wanted} == \
                {f: getattr(whole, f) for f in wanted}
            assert not hasattr(partial, "sha256"), "fields not asked for are not decoded"

    @pytest.mark.parametrize(("field", "event"), UNREADABLE, ids=[f for f, _ in UNREADABLE])
    async def test_an_event_that_could_not_be_read_back_is_refused_and_not_appended(
        self, log: EventLog, topic: str, field: str, event: Event
    ) -> None:
        await log.append(topic, "k", agency_registered())
        before = await log.end_offsets(topic)
        with pytest.raises(InvalidRequest) as refused:
            await log.append(topic, "k", event)
        assert refused.value.status == 400
        assert refused.value.extra.get("field") == field
        assert await log.end_offsets(topic) == before
        assert [type(r.event).__name__ async for r in log.read(topic)] == ["AgencyRegistered"]
