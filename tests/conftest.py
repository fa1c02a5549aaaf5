"""Fixtures shared by every test layer.

Real-engine fixtures start Kafka and Cassandra through ``infra/engines/engines.sh up``
(idempotent: `make test` has usually started them already). If an engine cannot start,
the tests that need it fail: they are never skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.cassandra.session import CassandraSession
from infra.settings import Settings

REPO = Path(__file__).resolve().parents[1]
ENGINES = REPO / "infra" / "engines" / "engines.sh"


@dataclass(frozen=True)
class Engines:
    kafka: str
    cassandra: str

    def settings(self, **more: object) -> Settings:
        """Settings isolated from other tests: own topic prefix and keyspace."""
        tag = uuid.uuid4().hex[:8]
        base: dict[str, object] = {
            "kafka": self.kafka, "cassandra": self.cassandra, "partitions": 3,
            "topic_prefix": f"t{tag}.", "keyspace": f"truc_{tag}",
        }
        return Settings(**{**base, **more})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def engines() -> Engines:
    result = subprocess.run([str(ENGINES), "up", "all"], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        pytest.fail(f"engines did not start:\n{result.stdout}\n{result.stderr}")
    kafka_port = os.environ.get("TRUC_KAFKA_PORT", "9092")
    cassandra_port = os.environ.get("TRUC_CASSANDRA_PORT", "9042")
    return Engines(f"127.0.0.1:{kafka_port}", f"127.0.0.1:{cassandra_port}")


@pytest.fixture(scope="session")
async def cassandra_session(engines: Engines) -> AsyncIterator[CassandraSession]:
    """One migrated test keyspace for the whole session."""
    settings = engines.settings()
    hosts, port = settings.cassandra_hosts()
    session = await CassandraSession(hosts, port, settings.keyspace).connect()
    await session.migrate(replication=1)
    yield session
    await session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}")
    await session.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
