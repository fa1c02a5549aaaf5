"""The distributed adapters (Kafka, Cassandra) against the same contracts as SQLite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from infra.cassandra.projections import CassandraProjections
from infra.cassandra.session import CassandraSession
from infra.cassandra.stores import (
    CassandraContentStore,
    CassandraKeyStore,
    CassandraReplayGuard,
)
from infra.kafka.admin import ensure_topics
from infra.kafka.event_log import KafkaEventLog
from tests.conftest import Engines
from tests.contract.event_log import EventLogContract
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
    pass


class TestCassandraProjections(ProjectionsContract):
    @pytest.fixture
    def projections(self, cassandra_session: CassandraSession) -> CassandraProjections:
        return CassandraProjections(cassandra_session)


class TestCassandraContentStore(ContentStoreContract):
    @pytest.fixture
    def content(self, cassandra_session: CassandraSession) -> CassandraContentStore:
        return CassandraContentStore(cassandra_session)


class TestCassandraKeyStore(KeyStoreContract):
    @pytest.fixture
    def keys(self, cassandra_session: CassandraSession) -> CassandraKeyStore:
        return CassandraKeyStore(cassandra_session)


class TestCassandraReplayGuard(ReplayGuardContract):
    @pytest.fixture
    def replay(self, cassandra_session: CassandraSession) -> CassandraReplayGuard:
        return CassandraReplayGuard(cassandra_session)
