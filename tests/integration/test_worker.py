"""The Faust path end to end on the real engines: events appended to Kafka are projected
into Cassandra by `truc worker`, exactly once, also across a worker killed mid-stream."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.registry.directory import agency_ref
from hub.topics import REGISTRY, record
from infra.bootstrap import Backend, migrate, open_backend
from infra.settings import Settings
from tests.conftest import Engines, free_port
from tests.factories import agency_registered

pytestmark = pytest.mark.engines
MASTER_KEY = base64.b64encode(os.urandom(32)).decode()


def start_worker(settings: Settings, log_file: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRUC_KAFKA": settings.kafka or "", "TRUC_CASSANDRA": settings.cassandra or "",
        "TRUC_TOPIC_PREFIX": settings.topic_prefix, "TRUC_KEYSPACE": settings.keyspace,
        "TRUC_WORKER_WEB_PORT": str(free_port()),
        "TRUC_MASTER_KEY": MASTER_KEY,
    }
    truc = Path(sys.executable).with_name("truc")
    with log_file.open("ab") as out:
        return subprocess.Popen([str(truc), "worker", "--loglevel", "warning"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, cwd=log_file.parent)


@pytest.fixture
async def backend(engines: Engines) -> AsyncIterator[tuple[Settings, Backend]]:
    settings = engines.settings()
    await migrate(settings)
    opened = await open_backend(settings)
    yield settings, opened
    await opened.close()


async def wait_projected(backend: Backend, agency_ids: list[str], seconds: float = 90) -> None:
    async with asyncio.timeout(seconds):
        while True:
            rows = [await backend.projections.get(agency_ref(a)) for a in agency_ids]
            if all(rows):
                return
            await asyncio.sleep(0.25)


async def test_worker_projects_registered_agencies_into_cassandra(
    backend: tuple[Settings, Backend], tmp_path: Path
) -> None:
    settings, hub = backend
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        event = agency_registered(name="Sở Tài chính")
        await record(hub.events, event)
        await wait_projected(hub, [event.agency_id])
        row = await hub.projections.get(agency_ref(event.agency_id))
        assert row is not None
        assert row.body["name"] == "Sở Tài chính"
        assert row.body["code"] == event.code
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


async def test_a_killed_worker_loses_and_doubles_nothing(
    backend: tuple[Settings, Backend], tmp_path: Path
) -> None:
    settings, hub = backend
    log_file = tmp_path / "worker.log"
    worker = start_worker(settings, log_file)
    events = [agency_registered(name=f"Đơn vị {i}") for i in range(40)]
    for e in events[:20]:
        await record(hub.events, e)
    await wait_projected(hub, [e.agency_id for e in events[:20]])
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    for e in events[20:]:
        await record(hub.events, e)
    worker = start_worker(settings, log_file)
    try:
        await wait_projected(hub, [e.agency_id for e in events])
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    ends = await hub.events.end_offsets(REGISTRY)
    tracked = await hub.projections.tracked("directory", REGISTRY)
    assert {p: o + 1 for p, o in tracked.items()} == {p: e for p, e in ends.items() if e}
    assert len(await hub.projections.scan("agencies", "all")) == len(events)
