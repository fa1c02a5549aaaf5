"""The Faust worker on the real engines never skips an event and never dies on one: a
message that does not decode is dead-lettered in Cassandra and the events after it are
projected; an event whose handling meets Cassandra's ``Unavailable`` is retried in place
until it applies (Faust used to ack it when the agent crashed: lost for good)."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from hub.registry.directory import agency_ref
from hub.topics import REGISTRY, record
from infra.avro import default_codec
from infra.settings import Settings
from streams.app import worker_group
from streams.dead_letters import dead_letters
from tests.conftest import free_port
from tests.factories import agency_registered
from tests.integration.test_worker import MASTER_KEY, Backend, backend, wait_projected

__all__ = ["backend"]  # the fixture, shared with test_worker
ROOT = Path(__file__).resolve().parents[2]
FAILURES = 3


async def wait_renamed(hub: Backend, agency_id: str, name: str) -> None:
    """Until the directory shows the agency under ``name`` (the event after the poison)."""
    async with asyncio.timeout(90):
        while True:
            row = await hub.projections.get(agency_ref(agency_id))
            if row is not None and row.body["name"] == name:
                return
            await asyncio.sleep(0.25)


def start_faulty_worker(settings: Settings, tmp: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRUC_KAFKA": settings.kafka or "", "TRUC_CASSANDRA": settings.cassandra or "",
        "TRUC_TOPIC_PREFIX": settings.topic_prefix, "TRUC_KEYSPACE": settings.keyspace,
        "TRUC_WORKER_WEB_PORT": str(free_port()), "TRUC_MASTER_KEY": MASTER_KEY,
        "TRUC_TEST_FLAKY": "Hỏng", "TRUC_TEST_FAILURES": str(FAILURES),
        "TRUC_TEST_FAULT_LOG": str(tmp / "faults.log"),
        "PYTHONPATH": str(ROOT),
    }
    with (tmp / "worker.log").open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tests.integration.faulty_worker"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


async def test_the_worker_dead_letters_poison_and_retries_outages_in_place(
    backend: tuple[Settings, Backend], tmp_path: Path
) -> None:
    settings, hub = backend
    sealed = default_codec().fingerprints_of(["PackageSealed"])[0]
    poison = b"\xc3\x01" + sealed + b"\xff\xff\xff"
    agency = "1c0ffee0-0000-4000-8000-000000000001"  # one key: one partition, in order
    first = agency_registered(name="Sở Tài chính", agency_id=agency)
    flaky = agency_registered(name="Hỏng 1", code="000.00.12.H53")
    last = agency_registered(name="Sở Y tế", code="000.00.13.H53")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka, acks="all")
    await producer.start()
    worker = start_faulty_worker(settings, tmp_path)
    try:
        await record(hub.events, first)
        meta = await producer.send_and_wait(settings.topic_prefix + REGISTRY, poison,
                                            key=agency.encode())
        after = await record(hub.events, agency_registered(name="Sở Xây dựng",
                                                           code="000.00.14.H53",
                                                           agency_id=agency))
        assert (after.partition, after.offset) == (meta.partition, meta.offset + 1)
        await record(hub.events, flaky)
        await record(hub.events, last)
        await wait_projected(hub, [first.agency_id, flaky.agency_id, last.agency_id])
        await wait_renamed(hub, agency, "Sở Xây dựng")
    finally:
        await producer.stop()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    tried = (tmp_path / "faults.log").read_text().split()
    assert tried == [flaky.event_id] * FAILURES, "Cassandra's Unavailable met, then retried"
    letters = [d for d in await dead_letters(hub.projections) if d["processor"] == "directory"]
    assert [(d["partition"], d["offset"], d["event_type"]) for d in letters] == [
        (meta.partition, meta.offset, "PackageSealed")]
    assert base64.b64decode(letters[0]["raw_base64"]) == poison
    ends = await hub.events.end_offsets(REGISTRY)
    tracked = await hub.projections.tracked("directory", REGISTRY)
    assert {p: o + 1 for p, o in tracked.items()} == {p: e for p, e in ends.items() if e}
    assert await committed(settings, REGISTRY) == {p: e for p, e in ends.items() if e}, \
        "acked by hand, and committed, once applied or dead-lettered"


async def committed(settings: Settings, topic: str) -> dict[int, int]:
    """The worker group's committed offsets of ``topic`` (the next offset to read)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(worker_group(settings))
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()
            if tp.topic == settings.topic_prefix + topic and meta.offset > 0}
