"""The embedded event log: an append-only SQLite table, one partition per topic.

Events are stored in the same Avro single-object encoding as on Kafka, so a replay or an
export reads the same bytes whichever backend wrote them. A row that does not decode is
read as an ``Undecodable`` event (``infra/undecodable.py``), never an error that stops
the reader. Appends from concurrent calls share one transaction (group commit,
``SqliteEventLog._commit``). Subscribers in this process are
woken at once — only those of the topic appended to; other processes' appends are seen by
polling.

The latest events this process appended are also kept in memory (``TAIL`` per topic), as
decoded from their own stored bytes, so that the embedded hub's subscribers (processors,
notifier, registry follower) read them without a trip to the database thread and without
decoding the same bytes once each; so are the latest a subscriber read from the table
(another process's appends: a CLI's directory sync), for the next subscriber. An offset
found there is exactly the row committed at that offset; anything else (older events,
other processes' appends) is read from SQLite.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass

from hub.events import Event
from hub.ports import Position, Recorded
from infra.avro import EventCodec, default_codec
from infra.sqlite.database import Database
from infra.undecodable import lenient

PARTITION = 0
BATCH = 500
READ_BATCH = 5000
"""Rows per query when reading to the end (replays): fewer hops to the database thread."""
TAIL = 4096
"""Events per topic kept in memory after this process appended them."""


@dataclass(frozen=True)
class _Append:
    """One call's events, checked, waiting for the group commit; ``done`` gets the
    offset of the first."""

    topic: str
    keys: Sequence[str]
    """One per event."""
    events: list[tuple[bytes, Event]]
    done: asyncio.Future[int]


def _insert(conn: sqlite3.Connection, group: list[_Append]) -> list[int]:
    """Inside one transaction: each append's events at the next offsets of its topic;
    the first offset of each."""
    ends: dict[str, int] = {}
    firsts = []
    for append in group:
        if append.topic not in ends:
            row = conn.execute(
                "SELECT COALESCE(MAX(offset) + 1, 0) FROM events WHERE topic=? AND partition=?",
                (append.topic, PARTITION)).fetchone()
            ends[append.topic] = int(row[0])
        first = ends[append.topic]
        conn.executemany(
            "INSERT INTO events (topic, partition, offset, key, payload) VALUES (?,?,?,?,?)",
            [(append.topic, PARTITION, first + i, key, payload)
             for i, (key, (payload, _)) in enumerate(zip(append.keys, append.events,
                                                         strict=True))])
        ends[append.topic] = first + len(append.events)
        firsts.append(first)
    return firsts


class SqliteEventLog:
    def __init__(
        self, db: Database, codec: EventCodec | None = None, poll_seconds: float = 0.1
    ) -> None:
        self._db = db
        self._codec = codec or default_codec()
        self._poll = poll_seconds
        self._listeners: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._tail: dict[str, dict[int, Recorded]] = defaultdict(dict)
        self._end: dict[str, int] = {}
        """Per topic, the offset after the last one this process appended."""
        self._reading: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        """Per topic, held while a subscriber reads the table (``_next``)."""
        self._appending: dict[str, int] = defaultdict(int)
        """Per topic, appends of this process not committed yet (``_next``)."""
        self._pending: list[_Append] = []
        """Appends waiting for the next group commit (``_commit``)."""
        self._committing = False
        self._committer: asyncio.Task[None] | None = None

    async def append(self, topic: str, key: str, event: Event) -> Position:
        """Refuses (``UnrecordableEvent``, nothing stored) an event whose bytes could not
        be read back; the event read back is what the in-memory tail keeps."""
        return (await self.append_batch(topic, key, [event]))[0]

    async def append_batch(self, topic: str, key: str,
                           events: Sequence[Event]) -> list[Position]:
        """``events`` at consecutive offsets, in one transaction: all or none. Every
        event is checked (read back) before anything is written."""
        return await self.append_each(topic, [(key, e) for e in events])

    async def append_each(self, topic: str,
                          keyed: Sequence[tuple[str, Event]]) -> list[Position]:
        """As ``append_batch``, each event under its own key (one partition here)."""
        checked = [self._codec.checked(e) for _, e in keyed]
        if not checked:
            return []
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        self._pending.append(_Append(topic, [k for k, _ in keyed], checked, done))
        if not self._committing:
            self._committing = True
            self._committer = loop.create_task(self._commit())
        self._appending[topic] += 1
        try:
            first = await done
        finally:
            self._appending[topic] -= 1
        return [Position(topic, PARTITION, first + i) for i in range(len(checked))]

    async def _commit(self) -> None:
        """Group commit: every append waiting when a transaction begins goes in it, so
        appends from concurrent requests share one ``BEGIN … COMMIT`` (and one hop to the
        database thread) instead of one each. Appends that come while it runs wait for
        the next. A failure (the file locked, the disk full) fails every append of that
        transaction, none of which is stored."""
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    firsts = await self._db.run(self._db.transaction(
                        functools.partial(_insert, group=group)))
                except BaseException as exc:
                    for append in group:
                        if not append.done.done():
                            append.done.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for append, first in zip(group, firsts, strict=True):
                    for i, (key, (_, stored)) in enumerate(zip(append.keys, append.events,
                                                               strict=True)):
                        self._remember(Recorded(Position(append.topic, PARTITION, first + i),
                                                key, stored))
                    if not append.done.done():
                        append.done.set_result(first)
                for topic in {a.topic for a in group}:
                    for wake in self._listeners.get(topic, ()):
                        wake.set()
        finally:
            self._committing = False

    def _remember(self, recorded: Recorded) -> None:
        pos = recorded.position
        self._keep(recorded)
        self._end[pos.topic] = max(self._end.get(pos.topic, 0), pos.offset + 1)

    def _keep(self, recorded: Recorded) -> None:
        """Into the tail: an event committed at that offset (appended here, or read)."""
        pos = recorded.position
        tail = self._tail[pos.topic]
        tail[pos.offset] = recorded
        if len(tail) > TAIL:
            del tail[next(iter(tail))]  # the oldest kept

    async def end_offsets(self, topic: str) -> dict[int, int]:
        row = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT COALESCE(MAX(offset) + 1, 0) FROM events WHERE topic=? AND partition=?",
                (topic, PARTITION),
            ).fetchone()
        )
        return {PARTITION: int(row[0])}

    async def _batch(self, topic: str, start: int, stop: int | None,
                     types: Collection[str] | None = None,
                     limit: int = BATCH, *, fields: Collection[str] | None = None,
                     ) -> tuple[list[Recorded], int]:
        """The next events (of ``types`` only, filtered by SQLite on the schema fingerprint
        in each payload's header, so skipped events never reach Python), and the last
        offset returned (-1: none left)."""
        sql = ("SELECT offset, key, payload FROM events WHERE topic=? AND partition=? "
               "AND offset >= ? AND offset < ?")
        params: list[object] = [topic, PARTITION, start, stop if stop is not None else 2**62]
        if types is not None:
            prints = self._codec.fingerprints_of(types)
            sql += f" AND substr(payload, 3, 8) IN ({','.join('?' * len(prints))})"
            params += prints
        rows = await self._db.run(
            lambda: self._db.conn.execute(sql + " ORDER BY offset LIMIT ?",
                                          [*params, limit]).fetchall()
        )
        decode = lenient(self._codec, None if fields is None else self._codec.partial(fields))
        found = [
            Recorded(Position(topic, PARTITION, off), key, decode(payload))
            for off, key, payload in rows
        ]
        return found, int(rows[-1][0]) if rows else -1

    async def read(
        self, topic: str, start: Mapping[int, int] | None = None,
        types: Collection[str] | None = None, fields: Collection[str] | None = None,
    ) -> AsyncIterator[Recorded]:
        offset = (start or {}).get(PARTITION, 0)
        stop = (await self.end_offsets(topic))[PARTITION]
        while offset < stop:
            batch, last = await self._batch(
                topic, offset, stop, types, READ_BATCH,
                fields=None if fields is None else frozenset(fields))
            for recorded in batch:
                yield recorded
            if last < 0:
                return
            offset = last + 1

    async def subscribe(
        self, topics: Sequence[str], start: Mapping[tuple[str, int], int] | None = None
    ) -> AsyncIterator[Recorded]:
        offsets = {t: (start or {}).get((t, PARTITION), 0) for t in topics}
        wake = asyncio.Event()
        for topic in topics:
            self._listeners[topic].add(wake)
        polled = True  # the first round reads what is stored
        try:
            while True:
                wake.clear()  # before reading: an append from now on sets it again
                found = False
                for topic in topics:
                    async for recorded in self._next(topic, offsets[topic], polled):
                        offsets[topic] = recorded.position.offset + 1
                        found = True
                        yield recorded
                if not found:
                    try:
                        await asyncio.wait_for(wake.wait(), self._poll)
                        polled = False
                    except TimeoutError:  # then read the table: another process may append
                        polled = True
        finally:
            for topic in topics:
                self._listeners[topic].discard(wake)

    async def _next(self, topic: str, offset: int, polled: bool) -> AsyncIterator[Recorded]:
        """What follows ``offset``: from memory while it has it, else one batch read —
        unless past everything this process appended and either woken by its append (not
        ``polled``) or with appends of its own to the topic still committing (they wake it
        when done; a read now would decode rows the tail is about to hold): then other
        processes' appends wait for the next poll, as they always did (one that landed
        between this process's appends is a gap in the tail, read at once). What a read
        finds goes to the tail too: the hub's registry view and its directory projector
        follow the same topic, and the second reader takes what the first one decoded
        (waiting for it, when both come at once)."""
        tail = self._tail.get(topic, {})
        if offset in tail:
            while (recorded := tail.get(offset)) is not None:
                yield recorded
                offset += 1
            return
        if offset >= self._end.get(topic, 0) and (not polled or self._appending[topic]):
            return
        async with self._reading[topic]:  # one reader at a time: the next takes its rows
            read = None if offset in self._tail[topic] else \
                (await self._batch(topic, offset, None))[0]
            for recorded in read or ():
                self._keep(recorded)
        if read is not None:
            for recorded in read:
                yield recorded
            return
        tail = self._tail[topic]
        while (recorded := tail.get(offset)) is not None:
            yield recorded
            offset += 1

    async def close(self) -> None:
        """The database belongs to whoever opened it."""
