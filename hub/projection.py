"""Projectors: pure functions from one event to the rows it writes.

A projector never reads or writes storage itself. The drivers (the in-process loop of
the embedded hub, a Faust agent on Kafka) feed it events in log order and hand its
``Writes`` to the ``Projections`` port together with the event's position, which makes
every projection exactly-once under replay and redelivery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hub.events import Event
from hub.ports import JSONValue, Position, Recorded, Row, RowRef


@dataclass(frozen=True)
class Writes:
    upserts: Sequence[Row] = ()
    deletes: Sequence[RowRef] = field(default_factory=tuple)


NOTHING = Writes()


@dataclass(frozen=True)
class Projector:
    """``name`` is also the tracker name: renaming a projector rebuilds it from zero."""

    name: str
    topics: tuple[str, ...]
    project: Callable[[Event], Writes]


def combined(many: Sequence[Writes]) -> Writes:
    """The writes of several events, in log order, as one ``Writes`` with the same effect:
    each row ends as the last event left it (an event's upserts come before its deletes,
    as ``Projections.apply`` applies them). A driver applies the events that queued up
    together in one transaction this way, instead of one transaction each."""
    last: dict[RowRef, Row | None] = {}
    for writes in many:
        for row in writes.upserts:
            last[row.ref] = row
        for ref in writes.deletes:
            last[ref] = None
    return Writes(upserts=[r for r in last.values() if r is not None],
                  deletes=[ref for ref, r in last.items() if r is None])


# --- stateful folds -------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """Numbers to merge into a counter row: ``add`` is summed, ``low`` keeps the smallest
    value seen, ``high`` the largest. The driver suffixes the row key with the log partition
    the event came from, so each counter row has exactly one writer (the handler of that
    partition, in the same tracked batch) and readers sum the rows: no lost updates when
    several partitions, maybe on several workers, count for the same agency."""

    ref: RowRef
    add: Mapping[str, int] = field(default_factory=dict)
    low: Mapping[str, str] = field(default_factory=dict)
    high: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """What one event does to a stateful projection: the key's new state (None: unchanged),
    rows to upsert, counters to merge."""

    state: Mapping[str, JSONValue] | None = None
    upserts: Sequence[Row] = ()
    counts: Sequence[Count] = ()


UNCHANGED = Change()


@dataclass(frozen=True)
class Fold:
    """A projection that needs what came before: ``state_of`` says which row holds the
    state an event needs (one package's, say), ``step`` turns that state and the event into
    a ``Change``. ``views`` are the views it produces (compared by ``truc replay``)."""

    name: str
    topics: tuple[str, ...]
    views: tuple[str, ...]
    state_of: Callable[[Event], RowRef | None]
    step: Callable[[Mapping[str, JSONValue] | None, Event], Change]
    types: frozenset[str] | None = None
    """The event types ``step`` reacts to (None: all); a replay skips the others unread."""
    reads: frozenset[str] | None = None
    """The event fields ``state_of`` and ``step`` read (None: any); a replay decodes only
    these, the rest of each event's bytes is skipped (events then lack other fields)."""


def counter_ref(ref: RowRef, position: Position) -> RowRef:
    """The one row of ``ref`` that events of ``position``'s log partition write."""
    return RowRef(ref.view, ref.partition, f"{ref.key}|{position.topic}.{position.partition}")


def merge(body: Mapping[str, JSONValue], count: Count) -> dict[str, JSONValue]:
    """``body`` with ``count`` merged in (pure; ``body`` is not modified)."""
    added = dict(body.get("add", {}))
    for name, n in count.add.items():
        added[name] = added.get(name, 0) + n
    low = dict(body.get("low", {}))
    for name, value in count.low.items():
        low[name] = min(low.get(name, value), value)
    high = dict(body.get("high", {}))
    for name, value in count.high.items():
        high[name] = max(high.get(name, value), value)
    return {"add": added, "low": low, "high": high}


def partition_index(fold: Fold, ref: RowRef) -> Row:
    """Lists a partition a fold has written, so its partitions can be enumerated (by
    ``truc replay``, comparing a rebuild with the live rows) on any backend."""
    return Row(RowRef(f"{fold.name}.partitions", ref.view, ref.partition), {})


def writes_of(fold: Fold, recorded: Recorded, state_ref: RowRef | None,
              change: Change, counters: Mapping[RowRef, Mapping[str, JSONValue]]
              ) -> list[Row]:
    """Every row one event writes, given the current bodies of the counter rows it
    touches (``counters``, keyed by ``counter_ref``; missing means empty)."""
    rows: list[Row] = list(change.upserts)
    if change.state is not None and state_ref is not None:
        rows.append(Row(state_ref, change.state))
    merged: dict[RowRef, Mapping[str, JSONValue]] = {}
    for count in change.counts:
        ref = counter_ref(count.ref, recorded.position)
        merged[ref] = merge(merged.get(ref, counters.get(ref, {})), count)
    rows.extend(Row(ref, body) for ref, body in merged.items())
    outputs = [r.ref for r in rows if r.ref.view in fold.views]
    rows.extend(partition_index(fold, ref) for ref in dict.fromkeys(
        RowRef(r.view, r.partition, "") for r in outputs))
    return rows


def merge_into(body: dict[str, dict[str, JSONValue]], count: Count) -> None:
    """``merge`` in place, for rows only an in-memory rebuild holds (the hot path)."""
    added, low, high = body["add"], body["low"], body["high"]
    for name, n in count.add.items():
        added[name] = added.get(name, 0) + n
    for name, value in count.low.items():
        low[name] = min(low.get(name, value), value)
    for name, value in count.high.items():
        high[name] = max(high.get(name, value), value)


class Rebuild:
    """A fold applied in memory, for ``truc replay`` and for tests: the same rows the live
    driver writes (``writes_of``), without storage, exactly once per log position."""

    def __init__(self, fold: Fold) -> None:
        self.fold = fold
        self.rows: dict[RowRef, Mapping[str, JSONValue]] = {}
        self.applied: dict[tuple[str, int], int] = {}
        self.events = 0
        self._indexed: set[tuple[str, str]] = set()

    def feed(self, recorded: Recorded) -> bool:
        pos = recorded.position
        if self.applied.get((pos.topic, pos.partition), -1) >= pos.offset:
            return False
        self.applied[(pos.topic, pos.partition)] = pos.offset
        self.events += 1
        ref = self.fold.state_of(recorded.event)
        change = self.fold.step(None if ref is None else self.rows.get(ref), recorded.event)
        if change is UNCHANGED:
            return True
        rows = self.rows
        if change.state is not None and ref is not None:
            rows[ref] = change.state
        for row in change.upserts:
            rows[row.ref] = row.body
            self._index(row.ref)
        for count in change.counts:
            cref = counter_ref(count.ref, pos)
            body = rows.get(cref)
            if body is None:
                body = rows[cref] = {"add": {}, "low": {}, "high": {}}
                self._index(cref)
            merge_into(body, count)  # type: ignore[arg-type]
        return True

    def _index(self, ref: RowRef) -> None:
        if (ref.view, ref.partition) not in self._indexed and ref.view in self.fold.views:
            self._indexed.add((ref.view, ref.partition))
            index = partition_index(self.fold, ref)
            self.rows[index.ref] = index.body

    def output(self) -> dict[RowRef, Mapping[str, JSONValue]]:
        """The rows of the fold's views (state rows and the partition index left out)."""
        return {ref: body for ref, body in self.rows.items() if ref.view in self.fold.views}
