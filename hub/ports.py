"""The ports: the few things the domain needs from the outside world.

Each is a small ``Protocol``. ``infra/`` implements every port twice: once on SQLite (the
embedded default, one file) and once on the distributed engines (Kafka for the event log,
Cassandra for the rest). One contract test suite per port runs against both, so the
domain never knows which one it is talking to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hub.events import Event

JSONValue = Any
"""What a projection row may hold: JSON-serialisable values only (str, int, float, bool,
None, lists and dicts of those)."""


@dataclass(frozen=True, order=True)
class Position:
    """Where an event sits in the log: Kafka's (topic, partition, offset); SQLite uses
    one partition per topic."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Recorded:
    """An event as the log returns it, with its place and its partitioning key."""

    position: Position
    key: str
    event: Event


@dataclass(frozen=True, kw_only=True)
class Undecodable(Event):
    """Stands, in a ``Recorded``, for a log record whose bytes are not an event this hub
    can decode (unknown schema fingerprint, corrupt Avro, a date out of range…). The log
    yields it instead of failing the whole read, so that whoever reads decides: the
    processor drivers set it aside as a dead letter and go on; the others skip it. It is
    never appended and has no schema: it is not a fact, only a hole in the reading."""

    raw: bytes
    type_name: str | None
    """The event type the header names, if the fingerprint is known."""
    error: str
    """``ErrorClass: message`` of the decoding failure."""


class EventLog(Protocol):
    """Append-only, partitioned, replayable. Order is guaranteed per key (same key, same
    partition), which is why packages are keyed by package id and presence by agency.
    ``read`` and ``subscribe`` never stop on a record they cannot decode: it comes as a
    ``Recorded`` whose event is ``Undecodable``."""

    async def append(self, topic: str, key: str, event: Event) -> Position: ...

    async def append_batch(self, topic: str, key: str,
                           events: Sequence[Event]) -> list[Position]:
        """``events`` under one key (so one partition), atomically and in order: every
        one is appended, at consecutive offsets, or none is. What a command that records
        several facts at once needs (a small package sent in one call)."""
        ...

    async def append_each(self, topic: str,
                          keyed: Sequence[tuple[str, Event]]) -> list[Position]:
        """Many events, each under its own key, in the order given (so in that order
        within each partition), in as few round trips as the log allows; their positions
        in the same order. Every event is checked before any is sent. Atomic per
        partition: SQLite has one (one transaction: all or none); Kafka sends one record
        batch per partition, which may land apart. What a bulk import needs (a directory
        sync's registry events), rather than one ``append`` each."""
        ...

    def read(
        self, topic: str, start: Mapping[int, int] | None = None,
        types: Collection[str] | None = None, fields: Collection[str] | None = None,
    ) -> AsyncIterator[Recorded]:
        """Everything from ``start`` (partition -> first offset) up to the end as it was
        when the call began; then the iteration stops. For replays and audits.
        ``types`` (event class names) skips other events without decoding them: a replay
        of a projection that only reads a few types goes several times faster.
        ``fields`` (None: all): the events carry only these fields, the others are not
        decoded — for a fold that declares what it reads (``Fold.reads``)."""
        ...

    def subscribe(
        self, topics: Sequence[str], start: Mapping[tuple[str, int], int] | None = None
    ) -> AsyncIterator[Recorded]:
        """Like ``read`` but never stops: yields new events as they are appended.
        ``start`` maps (topic, partition) to the first offset; missing means 0."""
        ...

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """The offset the next event of each partition will get."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class RowRef:
    """A projection row's address: view, partition (what is read together) and key."""

    view: str
    partition: str
    key: str


@dataclass(frozen=True)
class Row:
    ref: RowRef
    body: Mapping[str, JSONValue] = field(default_factory=dict)


class Projections(Protocol):
    """Read models derived from events, written exactly once per event.

    ``apply`` writes the rows *and* a tracking record (the last position applied for that
    tracker and partition) together; applying a position at or before the tracked one
    changes nothing and returns False. That is what makes replays and redeliveries safe.
    A caller that is the partition's single writer and already knows the tracked offset
    passes it as ``last_applied``; an adapter whose check costs a round trip of its own
    (Cassandra) then trusts it instead of reading the record again.
    """

    async def apply(
        self,
        tracker: str,
        position: Position,
        upserts: Sequence[Row] = (),
        deletes: Sequence[RowRef] = (),
        *,
        last_applied: int | None = None,
    ) -> bool: ...

    async def tracked(self, tracker: str, topic: str) -> dict[int, int]:
        """Per partition, the offset of the last event the tracker applied."""
        ...

    async def get(self, ref: RowRef) -> Row | None: ...

    async def scan(self, view: str, partition: str, start: str | None = None,
                   stop: str | None = None) -> list[Row]:
        """The rows of one partition of a view, ordered by key; with ``start`` and
        ``stop``, only keys ``start <= key < stop`` (a date range, when keys begin with
        a date)."""
        ...

    async def write(self, upserts: Sequence[Row] = (), deletes: Sequence[RowRef] = ()) -> None:
        """Untracked bulk writes, for rebuilding a projection into a fresh namespace
        (``truc replay``); live projections always go through ``apply``."""
        ...

    async def close(self) -> None: ...


class ContentStore(Protocol):
    """Chunks of package content. Stores what it is given (the hub encrypts before);
    deleting a package's chunks is part of crypto-shredding."""

    async def put_chunk(self, package_id: str, index: int, data: bytes) -> None: ...

    async def get_chunk(self, package_id: str, index: int) -> bytes | None: ...

    async def chunk_indexes(self, package_id: str) -> list[int]:
        """The indexes stored, in order. Cheap whatever the package's size: it reads no
        chunk bytes (seal and GET space call it for 1 GiB packages)."""
        ...

    async def delete_chunks(self, package_id: str, indexes: Sequence[int]) -> int:
        """Removes those chunks of the package (absent ones are fine); returns how many
        were there. Shredding calls it batch by batch, so a large package never holds
        the store for long."""
        ...

    async def close(self) -> None: ...


class KeyStore(Protocol):
    """Wrapped key material by id: app secrets, per-package data keys. Deleting a data key
    is what makes a package's content unreadable for ever."""

    async def put(self, key_id: str, material: bytes) -> None: ...

    async def put_new(self, key_id: str, material: bytes) -> bool:
        """Stores ``material`` only if ``key_id`` holds nothing (one conditional write,
        on every node at once): True if stored, False if a key was there (it stays)."""
        ...

    async def get(self, key_id: str) -> bytes | None: ...

    async def delete(self, key_id: str) -> bool: ...

    async def close(self) -> None: ...


class ReplayGuard(Protocol):
    """Remembers request signatures until they could no longer pass the clock-skew check,
    so a captured non-idempotent request cannot be sent again — to any node."""

    async def first_seen(self, signature: str, until: datetime) -> bool:
        """True the first time a signature is offered; False for every repeat."""
        ...

    async def close(self) -> None: ...


class KeyWrapper(Protocol):
    """Encrypts key material under the hub's master key before it is stored. ``context``
    binds a blob to its id, so a wrapped key copied under another id does not unwrap."""

    def wrap(self, plaintext: bytes, context: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, context: bytes) -> bytes: ...


class Clock(Protocol):
    """Time as the hub sees it; tests move it instead of sleeping."""

    def now(self) -> datetime: ...
