"""The real engines started by ``infra/engines/engines.sh up`` answer: Kafka takes and gives
back a record, Cassandra answers CQL as 5.0.x. Never skipped: if an engine cannot start, the
``engines`` fixture (tests/conftest.py, which runs ``engines.sh up all``) fails."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cassandra.cluster import Cluster
from cassandra.io.asyncioreactor import AsyncioConnection

from tests.conftest import ENGINES, Engines

pytestmark = [pytest.mark.engines, pytest.mark.timeout(900)]


def test_up_is_idempotent_and_status_reports_ready(engines: Engines) -> None:
    again = subprocess.run([str(ENGINES), "up", "all"], capture_output=True, text=True,
                           check=False, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "kafka already running" in again.stdout
    assert "cassandra already running" in again.stdout
    status = subprocess.run([str(ENGINES), "status"], capture_output=True, text=True,
                            check=False, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "kafka: ready" in status.stdout
    assert "cassandra: ready" in status.stdout


async def test_kafka_produces_and_consumes_one_record(engines: Engines) -> None:
    topic = f"truc-engines-{uuid.uuid4().hex[:8]}"  # auto-created with the broker defaults
    value = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=engines.kafka, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=engines.kafka,
                                group_id=f"{topic}-group", auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        got = await asyncio.wait_for(consumer.getone(), timeout=60)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (got.topic, got.partition, got.offset) == (topic, sent.partition, sent.offset)
    assert (got.key, got.value) == (b"k", value)


@pytest.mark.filterwarnings("ignore:The asyncore module is deprecated:DeprecationWarning")
@pytest.mark.parametrize("reactor", ["asyncio", "asyncore"])
def test_cassandra_answers_cql_as_5_0(engines: Engines, reactor: str) -> None:
    if reactor == "asyncio":
        connection_class: type = AsyncioConnection
    else:
        from cassandra.io.asyncorereactor import AsyncoreConnection

        connection_class = AsyncoreConnection
    host, port = engines.cassandra.rsplit(":", 1)
    cluster = Cluster([host], port=int(port), connection_class=connection_class,
                      connect_timeout=10)
    try:
        row = cluster.connect().execute("SELECT release_version FROM system.local").one()
    finally:
        cluster.shutdown()
    assert row.release_version.startswith("5.0."), row.release_version
