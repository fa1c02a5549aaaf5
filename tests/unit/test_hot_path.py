"""The cheaper hot path keeps its guarantees: the webhook processor's lazy tracking, the
embedded log's in-memory tail, the package processor's remembered packages and the
hand-written package serialisation."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from hub.events import Event
from hub.packages.model import Delivery, DeliveryState, Package, PackageState, Step
from hub.ports import Position, Recorded, Row
from hub.registry.model import App, AppState
from hub.registry.view import RegistryView
from hub.topics import PACKAGES, record
from infra.avro import EventCodec
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from streams.outbox import FLUSH_EVERY
from streams.webhooks import WebhookProcessor, outbox_ref
from tests.factories import chunk_stored


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "t.sqlite3").open()
    yield database
    await database.close()


async def no_secret(key_id: str) -> str | None:
    return None


def stored_at(offset: int) -> Recorded:
    return Recorded(Position(PACKAGES, 0, offset), "p1", chunk_stored("p1", offset))


async def test_webhooks_write_tracking_only_every_so_often_when_nobody_is_hooked(
        db: Database) -> None:
    projections = SqliteProjections(db)
    hooks = WebhookProcessor(projections, RegistryView(), no_secret)
    for offset in range(FLUSH_EVERY - 1):
        assert await hooks.handle(stored_at(offset))
    assert await projections.tracked(hooks.name, PACKAGES) == {}
    assert not await hooks.handle(stored_at(3))  # handled already, even though unwritten
    assert await hooks.handle(stored_at(FLUSH_EVERY - 1))
    assert await projections.tracked(hooks.name, PACKAGES) == {0: FLUSH_EVERY - 1}


async def test_webhooks_restarted_handle_again_only_what_was_never_written(
        db: Database) -> None:
    projections = SqliteProjections(db)
    first = WebhookProcessor(projections, RegistryView(), no_secret)
    for offset in range(FLUSH_EVERY + 5):
        await first.handle(stored_at(offset))
    restarted = WebhookProcessor(projections, RegistryView(), no_secret)
    assert not await restarted.handle(stored_at(FLUSH_EVERY - 1))
    assert await restarted.handle(stored_at(FLUSH_EVERY))


async def test_the_log_serves_its_own_appends_as_stored(db: Database) -> None:
    log = SqliteEventLog(db, poll_seconds=0.05)
    events = [chunk_stored("p1", i) for i in range(5)]
    for event in events:
        await record(log, event)
    from_memory = await _take(log.subscribe([PACKAGES], {(PACKAGES, 0): 2}), 3)
    from_disk = [r async for r in SqliteEventLog(db).read(PACKAGES, {0: 2})]
    assert from_memory == from_disk
    assert [r.event for r in from_memory] == events[2:]


async def test_a_subscriber_sees_another_process_s_appends_and_its_own(db: Database) -> None:
    log, other = SqliteEventLog(db, poll_seconds=0.02), SqliteEventLog(db)
    feed = log.subscribe([PACKAGES])
    await record(other, chunk_stored("p1", 0))
    await record(log, chunk_stored("p1", 1))
    await record(other, chunk_stored("p1", 2))
    got = await _take(feed, 3)
    assert [r.position.offset for r in got] == [0, 1, 2]
    assert [r.event.index for r in got] == [0, 1, 2]  # type: ignore[attr-defined]


class CountingCodec(EventCodec):
    """The codec, counting its decodes (a read of the table decodes each row it gets)."""

    def __init__(self) -> None:
        super().__init__()
        self.decodes = 0

    def decode(self, data: bytes) -> Event:
        self.decodes += 1
        return super().decode(data)


async def test_a_second_subscriber_takes_what_the_first_read_of_another_process(
        db: Database) -> None:
    """A CLI's directory sync appends 220,000 registry events the hub's registry view and
    its directory projector both follow: each decoded every row it read from the table."""
    codec = CountingCodec()
    log, other = SqliteEventLog(db, codec, poll_seconds=0.02), SqliteEventLog(db)
    for i in range(50):
        await record(other, chunk_stored("p1", i))
    first = await _take(log.subscribe([PACKAGES]), 50)
    second = await _take(log.subscribe([PACKAGES]), 50)
    assert second == first
    assert codec.decodes == 50
    for i in range(50, 100):
        await record(other, chunk_stored("p1", i))
    both = await asyncio.gather(*(_take(log.subscribe([PACKAGES], {(PACKAGES, 0): 50}), 50)
                                  for _ in range(2)))
    assert both[0] == both[1] and [r.position.offset for r in both[0]] == list(range(50, 100))
    assert codec.decodes == 100, "two subscribers at once: one reads, the other waits"


async def test_a_subscriber_does_not_read_back_its_own_appends_still_committing(
        db: Database) -> None:
    """With a short poll, a subscriber of the process that appends (the CLI's registry
    view during a sync) read the table while its own appends were committing: rows the
    tail was about to hold, decoded twice."""
    codec = CountingCodec()
    log = SqliteEventLog(db, codec, poll_seconds=0.001)
    feed = log.subscribe([PACKAGES])
    taken = asyncio.create_task(_take(feed, 600, seconds=20))
    for wave in range(6):
        await asyncio.gather(*(record(log, chunk_stored(f"p{wave}", i)) for i in range(100)))
        await asyncio.sleep(0.01)  # the subscriber's poll comes due meanwhile
    got = await taken
    assert [r.position.offset for r in got] == list(range(600))
    assert codec.decodes == 600, "one decode per append (its check), none for a read"


async def _take(feed: AsyncIterator[Recorded], n: int, seconds: float = 5) -> list[Recorded]:
    got: list[Recorded] = []
    async with asyncio.timeout(seconds):
        async for recorded in feed:
            got.append(recorded)
            if len(got) == n:
                break
    return got


def test_package_json_is_what_asdict_gave() -> None:
    pkg = Package(
        str(uuid.uuid4()), "a1", "000.00.11.H53", "app1", ("000.00.12.H53",), "t", "urgent",
        "json", "truc/1", 10, "ab" * 32, "2026-11-27T00:00:00+00:00",
        state=PackageState.SEALED, chunk_size=4, chunk_count=3, deadline=None,
        deliveries={"a2": Delivery("a2", "000.00.12.H53", DeliveryState.NOTIFIED, "now",
                                   (("01", "then"),))},
        timeline=(Step("e1", "now", "PackageRequested", "a1", None),
                  Step("e2", "later", "DeliveryNotified", "a2", "ws")),
        recipient_ids=("a2",))
    assert pkg.to_json() == dataclasses.asdict(pkg)
    assert Package.from_json(pkg.to_json()) == pkg


def hooked_view() -> RegistryView:
    view = RegistryView()
    view.registry.apps["a1"] = App(app_id="a1", agency_id="g1", name="văn thư",
                                   state=AppState.APPROVED, registered_at=datetime.now(UTC),
                                   webhook_url="https://hook.test/truc", webhook_key_id="k1")
    return view


async def a_secret(key_id: str) -> str | None:
    return "s3cret"


async def public(host: str, port: int) -> list[str]:
    """hook.test, resolved to a public address (the webhook target rule passes it)."""
    return ["93.184.216.34"]


async def test_a_webhook_retry_pending_at_a_crash_is_resumed_from_the_outbox(
        db: Database) -> None:
    projections = SqliteProjections(db)
    seen: list[tuple[str, int]] = []
    answer = {"status": 503}

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["x-truc-event-id"], answer["status"]))
        return httpx.Response(answer["status"])

    http = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    ref = outbox_ref(0, "e1", "a1")
    post = {"app_id": "a1", "message": {"event_id": "e1", "type": "package.available"},
            "attempt": 0, "next_at": 0.0}
    await projections.apply("webhooks", Position(PACKAGES, 0, 0), [Row(ref, post)])
    first = WebhookProcessor(projections, hooked_view(), a_secret, base_delay=0.05, http=http,
                             resolver=public)
    assert await first.resume([0, 1]) == 1
    assert await first.resume([0]) == 0, "a post in progress is not scheduled twice"
    async with asyncio.timeout(5):
        while (row := await projections.get(ref)) is None or row.body["attempt"] < 1:
            await asyncio.sleep(0.01)
    await first.close()  # the process dies with the retry pending
    answer["status"] = 204
    restarted = WebhookProcessor(projections, hooked_view(), a_secret, base_delay=0.05,
                                 http=http, resolver=public)
    assert await restarted.resume([0]) == 1
    async with asyncio.timeout(5):
        while await projections.get(ref) is not None:
            await asyncio.sleep(0.01)
    assert seen[-1] == ("e1", 204), "the notice reached the receiver after the restart"
    assert all(event_id == "e1" for event_id, _ in seen)
    assert await restarted.resume([0]) == 0, "delivered: nothing left to resume"


async def test_a_post_to_an_app_whose_webhook_is_gone_is_dropped(db: Database) -> None:
    projections = SqliteProjections(db)
    ref = outbox_ref(2, "e2", "gone")
    await projections.apply("webhooks", Position(PACKAGES, 2, 0), [Row(ref, {
        "app_id": "gone", "message": {"event_id": "e2"}, "attempt": 3, "next_at": 0.0})])
    hooks = WebhookProcessor(projections, hooked_view(), a_secret)
    assert await hooks.resume([2]) == 1
    async with asyncio.timeout(5):
        while await projections.get(ref) is not None:
            await asyncio.sleep(0.01)
