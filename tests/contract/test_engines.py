"""The distributed adapters (Kafka, Cassandra) against the same contracts as SQLite."""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from cassandra import InvalidRequest, OperationTimedOut

from hub.errors import Unavailable
from infra.cassandra.projections import CassandraProjections
from infra.cassandra.session import CassandraSession
from infra.cassandra.stores import (
    CassandraContentStore,
    CassandraKeyStore,
    CassandraReplayGuard,
)
from infra.kafka.admin import ensure_topics
from infra.kafka.event_log import KafkaEventLog
from tests.conftest import Engines, free_port
from tests.contract.event_log import EventLogContract, RawAppend
from tests.contract.projections import ProjectionsContract
from tests.contract.stores import ContentStoreContract, KeyStoreContract, ReplayGuardContract

pytestmark = pytest.mark.engines
PREFIX = f"contract{uuid.uuid4().hex[:6]}."


@pytest.fixture
async def log(engines: Engines) -> AsyncIterator[KafkaEventLog]:
    event_log = await KafkaEventLog(engines.kafka, PREFIX).start()
    yield event_log
    await event_log.close()


@pytest.fixture
async def topic(engines: Engines) -> str:
    """A fresh topic with three partitions (and its `-other` sibling)."""
    name = f"t{uuid.uuid4().hex[:10]}"
    await ensure_topics(engines.kafka, [PREFIX + name, f"{PREFIX}{name}-other"], 3, 1)
    return name


class TestKafkaEventLog(EventLogContract):
    @pytest.fixture
    async def raw_append(self, engines: Engines) -> AsyncIterator[RawAppend]:
        producer = AIOKafkaProducer(bootstrap_servers=engines.kafka, acks="all")
        await producer.start()

        async def append(topic: str, key: str, payload: bytes) -> None:
            await producer.send_and_wait(PREFIX + topic, value=payload, key=key.encode())

        yield append
        await producer.stop()


class TestCassandraProjections(ProjectionsContract):
    @pytest.fixture
    def projections(self, cassandra_session: CassandraSession) -> CassandraProjections:
        return CassandraProjections(cassandra_session)


class TestCassandraContentStore(ContentStoreContract):
    @pytest.fixture
    def content(self, cassandra_session: CassandraSession) -> CassandraContentStore:
        return CassandraContentStore(cassandra_session)

    async def test_each_chunk_is_its_own_partition_and_the_listing_holds_no_bytes(
        self, cassandra_session: CassandraSession
    ) -> None:
        """A package is never one partition a read would load whole (1 GiB killed a
        1 GiB-heap Cassandra): bytes are keyed by (package, index), the listing is small."""
        cluster = cassandra_session.session.cluster
        cluster.refresh_schema_metadata()  # the hub's sessions do not fetch it on connect
        meta = cluster.metadata.keyspaces[cassandra_session.keyspace]
        blocks, index = meta.tables["content_blocks"], meta.tables["content_index"]
        assert [c.name for c in blocks.partition_key] == ["package_id", "idx"]
        assert [c.name for c in index.partition_key] == ["package_id"]
        assert {c.cql_type for c in index.columns.values()} == {"text", "int"}

    async def test_chunks_stored_before_migration_003_are_read_listed_and_deleted(
        self, cassandra_session: CassandraSession
    ) -> None:
        store, package = CassandraContentStore(cassandra_session), str(uuid.uuid4())
        insert = await cassandra_session.prepare(
            "INSERT INTO content_chunks (package_id, idx, data) VALUES (?, ?, ?)")
        for i in range(3):
            await cassandra_session.execute(insert, (package, i, bytes([i]) * 5))
        assert await store.chunk_indexes(package) == [0, 1, 2]
        assert await store.get_chunk(package, 1) == b"\x01" * 5
        assert await store.delete_chunks(package, [0, 1, 2]) == 3
        assert await store.chunk_indexes(package) == []
        assert await store.get_chunk(package, 1) is None


class TestEnginesDown:
    """An engine that does not answer is the domain's retriable ``Unavailable``
    (served as 503 ``engine_unavailable``), never an unexpected driver error (500)."""

    async def test_racing_prepares_share_the_statement_the_driver_keeps(
        self, cassandra_session: CassandraSession
    ) -> None:
        """Processors starting together prepare the same statements at once. The driver
        re-prepares a batch's statements on a restarted node from its weak registry, which
        holds the last object prepared: it must be the one the session keeps using."""
        cql = "SELECT row_key FROM projection_rows WHERE view_name = ? AND part = ? LIMIT 2"
        found = await asyncio.gather(*(cassandra_session.prepare(cql) for _ in range(8)))
        assert all(f is found[0] for f in found)
        gc.collect()
        registry = cassandra_session.session.cluster._prepared_statements
        assert registry.get(found[0].query_id) is found[0]

    async def test_cassandra_on_a_closed_port(self) -> None:
        session = CassandraSession(["127.0.0.1"], free_port(), "truc", connect_timeout=1)
        with pytest.raises(Unavailable) as down:
            await session.connect()
        assert down.value.code == "engine_unavailable" and down.value.retriable
        assert down.value.extra == {"engine": "cassandra"}
        await session.close()

    async def test_cassandra_too_slow_to_answer(self, engines: Engines) -> None:
        hosts, port = engines.settings().cassandra_hosts()
        session = await CassandraSession(hosts, port, "system", request_timeout=0.0001).connect()
        try:
            with pytest.raises(Unavailable) as slow:
                await session.execute("SELECT * FROM system.local")
            assert isinstance(slow.value.__cause__, OperationTimedOut)
        finally:
            await session.close()

    async def test_a_bad_statement_is_still_a_bug(self, cassandra_session: CassandraSession
                                                  ) -> None:
        with pytest.raises(InvalidRequest):
            await cassandra_session.execute("SELECT nope FROM content_index")

    async def test_kafka_on_a_closed_port(self) -> None:
        log = KafkaEventLog(f"127.0.0.1:{free_port()}", "down.")
        with pytest.raises(Unavailable) as down:
            await log.start()
        assert down.value.code == "engine_unavailable"
        assert down.value.extra == {"engine": "kafka"}
        await log.close()


class TestCassandraKeyStore(KeyStoreContract):
    @pytest.fixture
    def keys(self, cassandra_session: CassandraSession) -> CassandraKeyStore:
        return CassandraKeyStore(cassandra_session)


class TestCassandraReplayGuard(ReplayGuardContract):
    @pytest.fixture
    def replay(self, cassandra_session: CassandraSession) -> CassandraReplayGuard:
        return CassandraReplayGuard(cassandra_session)
