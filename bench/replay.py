"""`truc replay` rebuilding the statistics projection from a large log (issue 6).

The log is filled straight through the engines (SQLite rows, or a Kafka producer with
the hub's codec and keys), not through the API: what is measured is the replay, which
then runs as the operator would run it, ``truc replay --projection statistics --json``.
The event mix is a package's full life (request, space, a chunk, seal, two deliveries
planned, notified, fetched and acknowledged, shredding) plus presence.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.config import Engines
from bench.hubproc import TRUC
from hub import events as ev
from hub.topics import ALL_TOPICS, route
from infra.avro import default_codec
from infra.kafka.admin import ensure_topics
from infra.sqlite.database import Database

AGENCIES = 60
PER_PACKAGE = 14


def traffic(count: int, start: datetime | None = None) -> Iterator[ev.Event]:
    """About ``count`` events: packages between agencies, a connect every ten packages."""
    at = start or datetime(2026, 11, 1, tzinfo=UTC)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"agency-{i}")) for i in range(AGENCIES)]
    made = 0
    for n in itertools.count():
        if made >= count:
            return
        at += timedelta(seconds=7)
        source, a, b = ids[n % AGENCIES], ids[(n + 1) % AGENCIES], ids[(n + 7) % AGENCIES]
        for event in _package(n, at, source, a, b):
            yield event
            made += 1
        if n % 10 == 0:
            yield ev.AgencyConnected(**_env(at), agency_id=a, agency_code=f"c{a}", app_id="x",
                                     node="n1", channel="ws")
            made += 1


def _env(at: datetime) -> ev.Envelope:
    return {"event_id": str(uuid.uuid4()), "occurred_at": at, "actor": "bench",
            "correlation_id": "bench"}


def _package(n: int, at: datetime, source: str, a: str, b: str) -> list[ev.Event]:
    pid = str(uuid.uuid4())
    size = 1000 + n % 5000
    later = at + timedelta(seconds=1 + n % 30)
    common = {"package_id": pid}
    found: list[ev.Event] = [
        ev.PackageRequested(**_env(at), **common, source_agency_id=source,
                            source_agency_code=f"c{source}", source_app_id="app",
                            recipients=[f"c{a}", f"c{b}"], title=f"Văn bản số {n}",
                            priority="normal", data_type="pdf", protocol="truc/1",
                            declared_size=size, declared_sha256="0" * 64,
                            recipient_agency_ids=[a, b]),
        ev.SpaceGranted(**_env(at), **common, space_id=pid, chunk_size=1 << 20, chunk_count=1,
                        expires_at=at + timedelta(days=1)),
        ev.ChunkStored(**_env(at), **common, index=0, size=size, sha256="0" * 64),
        ev.PackageSealed(**_env(at), **common, size=size, sha256="0" * 64),
    ]
    for dest in (a, b):
        found.append(ev.DeliveryPlanned(**_env(at), **common, destination_agency_id=dest,
                                        destination_code=f"c{dest}", priority="normal"))
    for dest in (a, b):
        found += [ev.DeliveryNotified(**_env(at), **common, destination_agency_id=dest,
                                      app_id="x", channel="ws"),
                  ev.DeliveryFetched(**_env(later), **common, destination_agency_id=dest,
                                     app_id="x"),
                  ev.DeliveryAcknowledged(**_env(later), **common, destination_agency_id=dest,
                                          app_id="x", sha256="0" * 64)]
    found.append(ev.ContentShredded(**_env(later), **common, chunk_count=1, size=size))
    return found


async def fill_sqlite(path: Path, count: int) -> int:
    await (await Database(path).open()).close()  # the schema
    codec = default_codec()
    offsets = {t: itertools.count() for t in ALL_TOPICS}
    rows = []
    for event in traffic(count):
        topic, key = route(event)
        rows.append((topic, 0, next(offsets[topic]), key, codec.encode(event)))
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO events (topic, partition, offset, key, payload) "
                       "VALUES (?,?,?,?,?)", rows)
    return len(rows)


async def fill_kafka(engines: Engines, prefix: str, count: int, partitions: int = 6) -> int:
    await ensure_topics(engines.kafka, [prefix + t for t in ALL_TOPICS], partitions, 1)
    codec = default_codec()
    producer = AIOKafkaProducer(bootstrap_servers=engines.kafka, acks="all",
                                enable_idempotence=True, linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    sent = 0
    try:
        pending = []
        for event in traffic(count):
            topic, key = route(event)
            pending.append(await producer.send(prefix + topic, codec.encode(event),
                                               key=key.encode()))
            sent += 1
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def run_replay(env: dict[str, str], cwd: Path) -> tuple[dict[str, Any], float]:
    """``truc replay`` as an operator runs it: its JSON report and the wall-clock time."""
    began = time.perf_counter()
    done = subprocess.run([TRUC, "replay", "--projection", "statistics", "--json"], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=3600, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise RuntimeError(f"truc replay failed:\n{done.stderr}")
    return json.loads(done.stdout), elapsed


def hub_env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    return {**env, **more}


def migrate(env: dict[str, str], cwd: Path) -> None:
    """The keyspace and tables the replay writes its namespace into."""
    subprocess.run([TRUC, "migrate"], env=env, cwd=cwd, capture_output=True, timeout=600,
                   check=True)


async def cleanup(engines: Engines, prefix: str, keyspace: str) -> None:
    """Drops what a distributed replay run made: its topics and its keyspace."""
    from aiokafka.admin import AIOKafkaAdminClient
    from cassandra.cluster import Cluster

    admin = AIOKafkaAdminClient(bootstrap_servers=engines.kafka)
    await admin.start()
    try:
        await admin.delete_topics([prefix + t for t in ALL_TOPICS])
    finally:
        await admin.close()
    host, port = engines.cassandra.split(":")

    def drop() -> None:
        cluster = Cluster([host], port=int(port))
        try:
            cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        finally:
            cluster.shutdown()

    await asyncio.to_thread(drop)


def calibration_seconds() -> float:
    """CPU seconds this process takes for 10 million trivial Python additions, measured
    next to the replay: ~0.5 s on an idle modern core, much more on a crowded machine,
    so a reader can tell a slow replay from a slow machine."""
    began, total = time.process_time(), 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - began
