"""The contract every Projections adapter passes (SQLite and Cassandra subclass it)."""

from __future__ import annotations

import uuid

from hub.ports import Position, Projections, Row, RowRef


def ref(view: str, partition: str = "p", key: str = "k") -> RowRef:
    return RowRef(view, partition, key)


class ProjectionsContract:
    """Subclasses provide the ``projections`` fixture; ``view`` is fresh per test."""

    view: str

    def setup_method(self) -> None:
        self.view = f"v{uuid.uuid4().hex[:12]}"

    async def test_applied_rows_can_be_read(self, projections: Projections) -> None:
        body = {"name": "Ủy ban nhân dân tỉnh", "n": 3, "tags": ["a", "b"], "x": None}
        assert await projections.apply(self.view, Position("s", 0, 0), [Row(ref(self.view), body)])
        row = await projections.get(ref(self.view))
        assert row is not None and row.body == body

    async def test_missing_row_is_none(self, projections: Projections) -> None:
        assert await projections.get(ref(self.view, key="nope")) is None

    async def test_scan_returns_one_partition_ordered_by_key(
        self, projections: Projections
    ) -> None:
        rows = [Row(ref(self.view, "a", k), {"k": k}) for k in ("c", "a", "b")]
        rows.append(Row(ref(self.view, "other", "z"), {"k": "z"}))
        await projections.apply(self.view, Position("s", 0, 0), rows)
        got = await projections.scan(self.view, "a")
        assert [r.ref.key for r in got] == ["a", "b", "c"]

    async def test_same_position_applies_once(self, projections: Projections) -> None:
        tracker = self.view
        pos = Position("s", 1, 7)
        assert await projections.apply(tracker, pos, [Row(ref(self.view), {"v": 1})])
        assert not await projections.apply(tracker, pos, [Row(ref(self.view), {"v": 2})])
        earlier = Position("s", 1, 6)
        assert not await projections.apply(tracker, earlier, [Row(ref(self.view), {"v": 3})])
        row = await projections.get(ref(self.view))
        assert row is not None and row.body == {"v": 1}

    async def test_a_writer_that_knows_the_tracked_offset_applies_once(
        self, projections: Projections
    ) -> None:
        tracker, row_ref = self.view, ref(self.view)
        assert await projections.apply(tracker, Position("s", 0, 0), [Row(row_ref, {"v": 1})],
                                       last_applied=-1)
        assert await projections.apply(tracker, Position("s", 0, 1), [Row(row_ref, {"v": 2})],
                                       last_applied=0)
        assert not await projections.apply(tracker, Position("s", 0, 1),
                                           [Row(row_ref, {"v": 3})], last_applied=1)
        assert await projections.tracked(tracker, "s") == {0: 1}
        row = await projections.get(ref(self.view))
        assert row is not None and row.body == {"v": 2}

    async def test_tracking_is_per_tracker_topic_and_partition(
        self, projections: Projections
    ) -> None:
        a, b = f"{self.view}-a", f"{self.view}-b"
        await projections.apply(a, Position("s", 0, 4))
        await projections.apply(a, Position("s", 2, 9))
        await projections.apply(a, Position("other", 0, 1))
        assert await projections.tracked(a, "s") == {0: 4, 2: 9}
        assert await projections.tracked(b, "s") == {}
        assert await projections.apply(b, Position("s", 0, 4))

    async def test_deletes_remove_rows(self, projections: Projections) -> None:
        await projections.apply(self.view, Position("s", 0, 0), [Row(ref(self.view), {"v": 1})])
        await projections.apply(self.view, Position("s", 0, 1), deletes=[ref(self.view)])
        assert await projections.get(ref(self.view)) is None

    async def test_upsert_replaces_body(self, projections: Projections) -> None:
        await projections.apply(self.view, Position("s", 0, 0), [Row(ref(self.view), {"v": 1})])
        await projections.apply(self.view, Position("s", 0, 1), [Row(ref(self.view), {"w": 2})])
        row = await projections.get(ref(self.view))
        assert row is not None and row.body == {"w": 2}
