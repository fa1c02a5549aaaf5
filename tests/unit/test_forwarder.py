"""The forwarder as a driver: a peer that does not answer stops nothing (the processor
goes on with the next events), the forwarded send is retried with one Idempotency-Key,
and the peer's outcome comes back as the source's events until the row is done."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.clock import SystemClock
from hub.packages import decisions as decide
from hub.packages.model import DeliveryState, Package
from hub.packages.processor import package_ref
from hub.registry.view import RegistryView
from hub.topics import record
from hub.zones import decisions as zones
from hub.zones import forwarding as rules
from hub.zones.model import Zone
from hub.zones.peers import peer_id
from infra.crypto import MasterKeyWrapper
from infra.sqlite.database import Database
from infra.sqlite.event_log import SqliteEventLog
from infra.sqlite.projections import SqliteProjections
from infra.sqlite.stores import SqliteContentStore, SqliteKeyStore
from infra.vault import Vault
from streams.applied import Applied
from streams.forwarder import OUTBOX, ForwardProcessor
from streams.packages import PackageProcessor
from streams.relay import Pace
from streams.runner import InProcessProcessors
from tests.unit.test_packages import CONTENT, CTX, DIGEST, LIMITS, SOURCE, send, world

REMOTE = "000.00.12.H29"


class Peer:
    """The other zone's hub, as the forwarder's client sees it."""

    def __init__(self) -> None:
        self.down = True
        self.attempts: list[dict[str, Any]] = []
        self.received: bytes | None = None
        self.view: dict[str, Any] = {"deliveries": [
            {"agency_code": REMOTE, "state": "planned", "statuses": []}]}

    async def __aenter__(self) -> Peer:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def send_from(self, recipients: list[str], title: str, size: int, sha256: str,
                        read: Callable[[int, int], Awaitable[bytes]], **kw: Any
                        ) -> dict[str, Any]:
        self.attempts.append({"recipients": recipients, **kw})
        if self.down:
            raise httpx.ConnectError("the peer hub is down")
        self.received = await read(0, 700_000) + await read(700_000, size - 700_000)
        return {"package_id": "peer-package"}

    async def package(self, package_id: str) -> dict[str, Any]:
        assert package_id == "peer-package"
        return self.view


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[SqliteEventLog, SqliteProjections,
                                                       Vault]]:
    db = await Database(tmp_path / "f.sqlite3").open()
    vault = Vault(SqliteContentStore(db), SqliteKeyStore(db), MasterKeyWrapper(os.urandom(32)))
    yield SqliteEventLog(db, poll_seconds=0.01), SqliteProjections(db), vault
    await db.close()


async def until(projections: SqliteProjections, package_id: str,
                ready: Callable[[Package], bool]) -> Package:
    async with asyncio.timeout(10):
        while True:
            row = await projections.get(package_ref(package_id))
            if row is not None and ready(pkg := Package.from_json(dict(row.body))):
                return pkg
            await asyncio.sleep(0.01)


async def test_a_peer_down_stops_nothing_and_the_outcome_comes_back_once(
        store: tuple[SqliteEventLog, SqliteProjections, Vault]) -> None:
    log, projections, vault = store
    reg, callers = world()
    reg.apply(zones.configure_zone(reg, CTX, "hcm", "https://hcm.example", "AK",
                                   provinces=["H29"], new_secret=True))
    view = RegistryView()
    view.registry = reg
    peer = Peer()

    async def secret_of(_: str) -> str:
        return "peer-secret"

    def client(zone: Zone, secret: str) -> Any:
        assert (zone.name, secret) == ("hcm", "peer-secret")
        return peer

    applied = Applied(projections, local=True)
    forwarder = ForwardProcessor(log, projections, view, vault, secret_of,
                                 clock=SystemClock(), hub_name="hub-a",
                                 pace=Pace(retry=0.01, poll=0.01, poll_max=0.05),
                                 applied=applied,
                                 client=client)
    loop = InProcessProcessors([PackageProcessor(log, projections), forwarder], log,
                               projections, applied)
    loop.start()
    try:
        requested = decide.request_package(reg, callers[SOURCE], CTX, send([REMOTE]), LIMITS)
        for e in requested:
            await record(log, e)
        pid = requested[0].package_id
        await vault.create_key(pid)
        await vault.put_chunk(pid, 0, CONTENT[:LIMITS.chunk_bytes])
        await vault.put_chunk(pid, 1, CONTENT[LIMITS.chunk_bytes:])
        pkg = await until(projections, pid, lambda p: p.chunk_count > 0)
        await record(log, decide.seal(CTX, pkg, [0, 1], DIGEST, deadline=None,
                                      offline_wait_seconds=None))
        async with asyncio.timeout(10):
            while len(peer.attempts) < 3:
                await asyncio.sleep(0.01)
        other = decide.request_package(reg, callers[SOURCE], CTX, send(), LIMITS)
        position = await record(log, other[0])
        await applied.wait(forwarder.name, position, seconds=5)  # it went on meanwhile
        peer.down = False
        await until(projections, pid, lambda p:
                    p.deliveries[peer_id(REMOTE)].state is DeliveryState.NOTIFIED)
        assert peer.received == CONTENT
        keys = {a["idempotency_key"] for a in peer.attempts}
        assert keys == {rules.idempotency_key(pid, REMOTE)}
        assert all(a["trace"] == ["hub-a"] for a in peer.attempts)
        peer.view = {"deliveries": [{"agency_code": REMOTE, "state": "acknowledged",
                                     "statuses": [{"code": "01"}, {"code": "03"}]}]}
        done = await until(projections, pid, lambda p: p.deliveries[peer_id(REMOTE)].state
                           is DeliveryState.ACKNOWLEDGED)
        await until(projections, pid, lambda p: len(p.deliveries[peer_id(REMOTE)].statuses)
                    == 2)
        assert done.all_closed  # the source's leg is done: its shredder may go
        assert await projections.scan(OUTBOX, "0") != []  # statuses may still come
        peer.view["deliveries"][0]["statuses"].append({"code": "06"})
        async with asyncio.timeout(10):
            while await projections.scan(OUTBOX, "0"):
                await asyncio.sleep(0.01)
        final = await until(projections, pid, lambda p: len(
            p.deliveries[peer_id(REMOTE)].statuses) == 3)
        assert [c for c, _ in final.deliveries[peer_id(REMOTE)].statuses] == \
            ["01", "03", "06"]
    finally:
        await forwarder.close()
        await loop.stop()
