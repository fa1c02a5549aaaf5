"""The cluster benchmark's per-package engine cost (bench/engine_cost.py): differences of
the engines' counters, divided by the packages, and Kafka's bytes read from segment files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench.engine_cost import Snapshot, _log_bytes, per_package


def snap(records: dict[str, int], requests: dict[str, int]) -> Snapshot:
    return Snapshot(Counter(records), Counter({"packages": 100}), Counter(requests),
                    Counter({"prepared_statements_executed": 10}))


def test_cost_is_the_counters_difference_per_package() -> None:
    before = snap({"packages": 10, "__consumer_offsets": 5},
                  {"coordinator_write_latency/ks.packages": 4,
                   "local_write_latency/system.batches": 2})
    after = snap({"packages": 30, "__consumer_offsets": 25, "registry": 4},
                 {"coordinator_write_latency/ks.packages": 44,
                  "coordinator_write_latency/ks.history": 20,
                  "coordinator_read_latency/ks.packages": 10,
                  "local_write_latency/system.batches": 42})
    cost = per_package(before, after, packages=10)
    assert cost["kafka_records"] == {"__consumer_offsets": 2.0, "packages": 2.0,
                                     "registry": 0.4}
    assert cost["kafka_records_total"] == 4.4
    assert cost["cassandra_coordinator_writes_total"] == 6.0
    assert cost["cassandra_coordinator_reads_total"] == 1.0
    assert cost["cassandra_replica_writes_total"] == 4.0
    assert cost["kafka_bytes_one_replica"] == {}  # unchanged counters are left out
    assert cost["cassandra_statements"] == {}


def test_log_bytes_counts_the_prefix_topics_and_kafka_own(tmp_path: Path) -> None:
    for part, size in (("p.packages-0", 100), ("p.packages-1", 50), ("other.packages-0", 7),
                       ("__consumer_offsets-12", 30)):
        (tmp_path / part).mkdir()
        (tmp_path / part / "00000000000000000000.log").write_bytes(b"x" * size)
        (tmp_path / part / "00000000000000000000.index").write_bytes(b"x" * 999)
    assert _log_bytes(tmp_path, "p.") == {"packages": 150, "__consumer_offsets": 30}
