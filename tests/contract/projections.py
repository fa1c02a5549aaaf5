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

    async def test_scan_a_key_range(self, projections: Projections) -> None:
        keys = ["2026-11-26|x", "2026-11-27|a", "2026-11-27|b", "2026-11-28|a"]
        await projections.apply(self.view, Position("s", 0, 0),
                                [Row(ref(self.view, "a", k), {"k": k}) for k in keys])
        got = await projections.scan(self.view, "a", "2026-11-27", "2026-11-28")
        assert [r.ref.key for r in got] == ["2026-11-27|a", "2026-11-27|b"]
        assert [r.ref.key for r in await projections.scan(self.view, "a", "2026-11-27")] == \
            keys[1:]
        assert [r.ref.key for r in await projections.scan(self.view, "a", stop="2026-11-27")] \
            == keys[:1]

    async def test_bulk_write_without_tracking(self, projections: Projections) -> None:
        rows = [Row(ref(self.view, f"p{i % 3}", f"{i:05d}"), {"i": i}) for i in range(450)]
        await projections.write(rows)
        got = [r for p in ("p0", "p1", "p2") for r in await projections.scan(self.view, p)]
        assert sorted(r.body["i"] for r in got) == list(range(450))
        await projections.write(deletes=[r.ref for r in rows[:300]])
        left = [r for p in ("p0", "p1", "p2") for r in await projections.scan(self.view, p)]
        assert sorted(r.body["i"] for r in left) == list(range(300, 450))
        assert await projections.tracked(self.view, "s") == {}

    async def test_scan_reads_past_one_page(self, projections: Projections) -> None:
        rows = [Row(ref(self.view, "big", f"{i:06d}"), {"i": i}) for i in range(5200)]
        await projections.write(rows)
        got = await projections.scan(self.view, "big")
        assert len(got) == 5200 and got[-1].body == {"i": 5199}
