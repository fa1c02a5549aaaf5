"""What a package costs the engines, read from their own counters before and after a load:
Kafka's offsets (records) and log segment sizes (bytes on one replica) per topic, and
Cassandra's per-table request counts (``system_views``: coordinator writes and reads, and
local writes on each replica, which include the batch log) summed over every node."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

INTERNAL = ("__consumer_offsets", "__transaction_state")
"""Kafka's own topics the hub may write to (offset commits; transactions, if ever used)."""
CASSANDRA_TABLES = ("coordinator_write_latency", "coordinator_read_latency",
                    "coordinator_scan_latency", "local_write_latency")


@dataclass(frozen=True)
class Snapshot:
    records: Counter[str]
    """Kafka: the sum of end offsets per topic (control records included)."""
    log_bytes: Counter[str]
    """Kafka: bytes of ``*.log`` segments per topic on one broker (one replica)."""
    requests: Counter[str]
    """Cassandra: ``<view>/<keyspace>.<table>`` → count, over all nodes."""
    statements: Counter[str]
    """Cassandra: ``system_views.cql_metrics`` counters, over all nodes."""


async def snapshot(kafka: str, kafka_data: Path, cassandra_hosts: Sequence[str], *,
                   port: int, prefix: str, keyspace: str) -> Snapshot:
    records = await _kafka_offsets(kafka, prefix)
    log_bytes = await asyncio.to_thread(_log_bytes, kafka_data, prefix)
    requests, statements = await asyncio.to_thread(_cassandra, cassandra_hosts, port,
                                                   keyspace)
    return Snapshot(records, log_bytes, requests, statements)


def per_package(before: Snapshot, after: Snapshot, packages: int) -> dict[str, Any]:
    """The differences, divided by the packages acknowledged in between (background
    traffic such as node heartbeats is included: it is small next to a load)."""
    def each(a: Counter[str], b: Counter[str]) -> dict[str, float]:
        diff = {k: b[k] - a.get(k, 0) for k in b}
        return {k: round(v / packages, 2) for k, v in sorted(diff.items()) if v > 0}

    records, log_bytes = each(before.records, after.records), each(before.log_bytes,
                                                                   after.log_bytes)
    requests = each(before.requests, after.requests)
    statements = each(before.statements, after.statements)
    return {
        "packages": packages,
        "kafka_records": records, "kafka_records_total": round(sum(records.values()), 2),
        "kafka_bytes_one_replica": log_bytes,
        "kafka_bytes_one_replica_total": round(sum(log_bytes.values())),
        "cassandra_requests": requests,
        "cassandra_coordinator_writes_total": _total(requests, "coordinator_write_latency"),
        "cassandra_coordinator_reads_total": _total(requests, "coordinator_read_latency")
        + _total(requests, "coordinator_scan_latency"),
        "cassandra_replica_writes_total": _total(requests, "local_write_latency"),
        "cassandra_statements": statements,
    }


def _total(found: dict[str, float], view: str) -> float:
    return round(sum(v for k, v in found.items() if k.startswith(view + "/")), 2)


async def _kafka_offsets(kafka: str, prefix: str) -> Counter[str]:
    """A consumer knows the partitions of the topics it subscribes to (``topics()`` lists
    the others without them), so a first one lists, a second subscribes and asks."""
    probe = AIOKafkaConsumer(bootstrap_servers=kafka, exclude_internal_topics=False)
    await probe.start()
    try:
        topics = sorted({t for t in await probe.topics() if t.startswith(prefix)}
                        | {INTERNAL[0]})  # listed without Kafka's own topics
    finally:
        await probe.stop()
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=kafka, enable_auto_commit=False,
                                exclude_internal_topics=False)
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in topics
                 for p in consumer.partitions_for_topic(t) or ()]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    found: Counter[str] = Counter()
    for tp, end in ends.items():
        found[_short(tp.topic, prefix)] += end
    return found


def _log_bytes(data: Path, prefix: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for segment in data.glob("*/*.log"):
        topic = segment.parent.name.rsplit("-", 1)[0]
        if topic.startswith(prefix) or topic in INTERNAL:
            try:
                found[_short(topic, prefix)] += segment.stat().st_size
            except FileNotFoundError:  # a segment deleted while we looked
                continue
    return found


def _short(topic: str, prefix: str) -> str:
    return topic.removeprefix(prefix)


def _cassandra(hosts: Sequence[str], port: int, keyspace: str
               ) -> tuple[Counter[str], Counter[str]]:
    """Virtual tables answer for the node asked: each node is asked on its own."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    requests: Counter[str] = Counter()
    statements: Counter[str] = Counter()
    for host in hosts:
        profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([host]))
        cluster = Cluster([host], port=port, execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                          protocol_version=5)
        try:
            session = cluster.connect()
            for view in CASSANDRA_TABLES:
                for row in session.execute(
                        f"SELECT keyspace_name, table_name, count FROM system_views.{view}"):
                    if row.keyspace_name in (keyspace, "system") and row.count:
                        requests[f"{view}/{row.keyspace_name}.{row.table_name}"] += row.count
            for row in session.execute("SELECT name, value FROM system_views.cql_metrics"):
                if row.name.endswith("_executed"):
                    statements[row.name] += int(row.value)
        finally:
            cluster.shutdown()
    return requests, statements
