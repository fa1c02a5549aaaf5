"""Topic provisioning (`truc migrate`) and a liveness probe for /healthz."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


async def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, replication: int
) -> list[str]:
    """Creates the topics that are missing; returns the ones it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="truc-migrate")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in names if n not in existing]
        if wanted:
            configs = {"min.insync.replicas": str(min_in_sync(replication))}
            new = [NewTopic(n, num_partitions=partitions, replication_factor=replication,
                            topic_configs=configs) for n in wanted]
            with contextlib.suppress(TopicAlreadyExistsError):  # another node was quicker
                await admin.create_topics(new)
        return wanted
    finally:
        await admin.close()


def min_in_sync(replication: int) -> int:
    """With the producer's acks=all, an event is acknowledged once this many replicas hold
    it: a majority, so one broker of three may be lost without losing an acknowledged event
    and without stopping writes."""
    return replication // 2 + 1


async def kafka_answers(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="truc-health", request_timeout_ms=3000
    )
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:  # any failure means "does not answer"
        return False
    finally:
        await admin.close()
