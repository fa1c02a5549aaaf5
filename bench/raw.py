"""Baselines: the same messages through the raw engines, same Python clients, no hub.

- embedded: each package's bytes inserted with the project's SQLite content store, then
  read back once per destination (the adapters the hub itself uses, on their own thread);
- distributed: each package's bytes written to Cassandra and produced as a record to Kafka
  (aiokafka, ``acks=all``, idempotent, as the hub's producer); one consumer per
  destination reads every record, reads the content back from Cassandra and writes an
  acknowledgement row.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.config import Engines
from infra.cassandra.session import CassandraSession
from infra.kafka.admin import ensure_topics
from infra.sqlite.database import Database
from infra.sqlite.stores import SqliteContentStore

PARTITIONS = 6


@dataclass(frozen=True)
class Load:
    packages: int
    fanout: int
    """Destinations per package."""
    size: int
    concurrency: int
    """Concurrent sources (each sends one package after the other)."""


@dataclass
class RawOutcome:
    packages: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)
    """Seconds from a write's return to a destination having read it."""

    @property
    def rate(self) -> float:
        return self.packages / self.elapsed


async def _pool(count: int, workers: int, one: Callable[[int], Awaitable[None]]) -> None:
    next_index = iter(range(count))

    async def worker() -> None:
        for i in next_index:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def sqlite_baseline(tmp: Path, load: Load) -> RawOutcome:
    db = await Database(tmp / "raw.sqlite3").open()
    store = SqliteContentStore(db)
    payload = os.urandom(load.size)
    latencies: list[float] = []

    async def one(i: int) -> None:
        await store.put_chunk(f"p{i}", 0, payload)
        written = time.perf_counter()
        for _ in range(load.fanout):
            if await store.get_chunk(f"p{i}", 0) != payload:
                raise RuntimeError("read back other bytes")
            latencies.append(time.perf_counter() - written)

    try:
        began = time.perf_counter()
        await _pool(load.packages, load.concurrency, one)
        return RawOutcome(load.packages, time.perf_counter() - began, latencies)
    finally:
        await db.close()


@dataclass
class _Raw:
    db: CassandraSession
    bootstrap: str
    topic: str
    load: Load
    produced: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


async def kafka_cassandra_baseline(engines: Engines, load: Load) -> RawOutcome:
    tag = uuid.uuid4().hex[:8]
    topic = f"bench-raw-{tag}"
    await ensure_topics(engines.kafka, [topic], PARTITIONS, 1)
    host, port = engines.cassandra.rsplit(":", 1)
    db = await CassandraSession([host], int(port), f"bench_raw_{tag}").connect()
    producer = AIOKafkaProducer(bootstrap_servers=engines.kafka, acks="all",
                                enable_idempotence=True, linger_ms=1)
    try:
        await _schema(db)
        await producer.start()
        return await _exchange(_Raw(db, engines.kafka, topic, load), producer)
    finally:
        await producer.stop()
        await db.execute(f"DROP KEYSPACE IF EXISTS {db.keyspace}")
        await db.close()


async def _schema(db: CassandraSession) -> None:
    await db.execute(f"CREATE KEYSPACE IF NOT EXISTS {db.keyspace} WITH replication = "
                     "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    await db.use_keyspace()
    await db.execute("CREATE TABLE content (package_id text, idx int, data blob, "
                     "PRIMARY KEY (package_id, idx))")
    await db.execute("CREATE TABLE acks (package_id text, dest int, at timestamp, "
                     "PRIMARY KEY (package_id, dest))")


async def _exchange(raw: _Raw, producer: AIOKafkaProducer) -> RawOutcome:
    put = await raw.db.prepare("INSERT INTO content (package_id, idx, data) VALUES (?, 0, ?)")
    payload = os.urandom(raw.load.size)
    consumers = [asyncio.create_task(_consume(raw, d)) for d in range(raw.load.fanout)]

    async def one(i: int) -> None:
        key = f"p{i}"
        await raw.db.execute(put, (key, payload))
        await producer.send_and_wait(raw.topic, value=payload, key=key.encode())
        raw.produced[key] = time.perf_counter()

    began = time.perf_counter()
    await _pool(raw.load.packages, raw.load.concurrency, one)
    await asyncio.wait_for(asyncio.gather(*consumers), 300)
    return RawOutcome(raw.load.packages, time.perf_counter() - began, raw.latencies)


async def _consume(raw: _Raw, dest: int) -> None:
    get = await raw.db.prepare("SELECT data FROM content WHERE package_id = ? AND idx = 0")
    ack = await raw.db.prepare("INSERT INTO acks (package_id, dest, at) "
                               "VALUES (?, ?, toTimestamp(now()))")
    consumer = AIOKafkaConsumer(bootstrap_servers=raw.bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()

    async def handle(key: str) -> None:
        if not await raw.db.execute(get, (key,)):
            raise RuntimeError(f"content of {key} missing")
        await raw.db.execute(ack, (key, dest))
        if key in raw.produced:
            raw.latencies.append(time.perf_counter() - raw.produced[key])

    try:
        consumer.assign([TopicPartition(raw.topic, p) for p in range(PARTITIONS)])
        seen = 0
        while seen < raw.load.packages:
            batches = await consumer.getmany(timeout_ms=200)
            keys = [m.key.decode() for msgs in batches.values() for m in msgs]
            await asyncio.gather(*(handle(k) for k in keys))
            seen += len(keys)
    finally:
        await consumer.stop()
