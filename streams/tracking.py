"""The last offset each processor handled, per (topic, partition), kept in memory.

Every event used to cost two reads of the same tracking record: the processor's own check
("applied before?") and the one inside ``Projections.apply`` — on Cassandra, two more
statements per event and processor. A partition of a topic has one consumer at a time, so
once this process has read a tracking record, nobody else moves it: the processor can
answer from memory, and pass the offset to ``apply`` (``last_applied``) so the adapter
need not read it again.

Valid only while this process is the single writer of the partition. The embedded hub
has one consumer for ever; the Faust worker calls ``forget`` whenever partitions may move
(a rebalance), and the next event of each partition reads the record again. A write is
still verified where that is cheap: SQLite checks the record inside the transaction, and
an ``apply`` that answers False (someone else was ahead) makes ``forget_tracker`` drop the
stale offset, and so does a handling that fails (``handling``): its write may have landed.

For the same reason a processor may keep the state it last wrote for a key (``remember``
/ ``recall``, the package processor's packages): it is the only writer of those rows,
and whatever makes the offsets stale forgets them too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hub.ports import Position, Projections

Key = tuple[str, str]
"""(tracker, topic)"""
MEMO = 10_000
"""States remembered per tracker, the least recently written dropped first."""


class TrackingCache:
    def __init__(self, projections: Projections) -> None:
        self._projections = projections
        self._done: dict[Key, dict[int, int]] = {}
        self._memo: dict[str, dict[str, object]] = {}
        self._held: dict[tuple[str, str, int], tuple[int, object]] = {}

    async def done(self, tracker: str, position: Position) -> int:
        """The last offset ``tracker`` handled in the position's partition (-1: none)."""
        key = (tracker, position.topic)
        offsets = self._done.get(key)
        if offsets is None or position.partition not in offsets:
            stored = await self._projections.tracked(tracker, position.topic)
            offsets = self._done.setdefault(key, {})
            for partition, offset in stored.items():
                offsets.setdefault(partition, offset)
            offsets.setdefault(position.partition, -1)
        return offsets[position.partition]

    def note(self, tracker: str, position: Position) -> None:
        """``tracker`` has handled ``position``: later events start after it."""
        offsets = self._done.setdefault((tracker, position.topic), {})
        if offsets.get(position.partition, -1) < position.offset:
            offsets[position.partition] = position.offset

    def remember(self, tracker: str, key: str, state: object) -> None:
        """What ``tracker`` just wrote for ``key`` (None: nothing to remember)."""
        memo = self._memo.setdefault(tracker, {})
        memo.pop(key, None)
        if state is not None:
            memo[key] = state
            if len(memo) > MEMO:
                del memo[next(iter(memo))]

    def recall(self, tracker: str, key: str) -> object | None:
        return self._memo.get(tracker, {}).get(key)

    def hold(self, tracker: str, position: Position, plan: object) -> None:
        """The writes about to be sent for ``position``: if they fail, the retry sends the
        same (``runner.apply_once``); a failed handling does not drop them."""
        self._held[(tracker, position.topic, position.partition)] = (position.offset, plan)

    def held(self, tracker: str, position: Position) -> object | None:
        """What was held for this very position (None: nothing, or another offset's)."""
        found = self._held.get((tracker, position.topic, position.partition))
        return found[1] if found is not None and found[0] == position.offset else None

    def release(self, tracker: str, position: Position) -> None:
        self._held.pop((tracker, position.topic, position.partition), None)

    def forget_tracker(self, tracker: str, topic: str) -> None:
        """Drops what is known of one tracker: the store is read again next time."""
        self._done.pop((tracker, topic), None)
        self._memo.pop(tracker, None)

    @contextlib.contextmanager
    def handling(self, tracker: str, position: Position) -> Iterator[None]:
        """Around the handling of one event: if it fails (or is cancelled), the write may
        have landed anyway — a timed-out Cassandra batch still applies — so what is
        remembered of ``tracker`` is dropped and read again from the store."""
        try:
            yield
        except BaseException:
            self.forget_tracker(tracker, position.topic)
            raise

    def forget(self) -> None:
        """Drops everything: partitions may have moved to or from another consumer."""
        self._done.clear()
        self._memo.clear()
        self._held.clear()
