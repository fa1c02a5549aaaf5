"""What a run measures (quick or full) and where the benchmark's own engines listen.

The engines default to ports of their own (19092, 19042…) and ``.engines-bench/``, so
``make test`` starting and stopping the default engines never disturbs a benchmark.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

ENGINE_DEFAULTS = {
    "TRUC_ENGINES_HOME": str(REPO / ".engines-bench"),
    "TRUC_KAFKA_PORT": "19092",
    "TRUC_KAFKA_CONTROLLER_PORT": "19093",
    "TRUC_CASSANDRA_PORT": "19042",
    "TRUC_CASSANDRA_STORAGE_PORT": "17000",
}


def engine_env() -> dict[str, str]:
    """The benchmark's engine settings: the environment's, else the benchmark defaults."""
    return {k: os.environ.get(k, v) for k, v in ENGINE_DEFAULTS.items()}


@dataclass(frozen=True)
class Engines:
    kafka: str
    cassandra: str

    @classmethod
    def from_env(cls) -> Engines:
        env = engine_env()
        return cls(f"127.0.0.1:{env['TRUC_KAFKA_PORT']}",
                   f"127.0.0.1:{env['TRUC_CASSANDRA_PORT']}")


@dataclass(frozen=True)
class Plan:
    mode: str
    backends: tuple[str, ...]
    small_packages: int
    """Packages per small-package run with one destination (a fifth of it with five)."""
    small_packages_distributed: int
    peers: int
    """Concurrent sources, and as many destinations."""
    receivers_per_destination: int
    small_bytes: int
    large_bytes: int
    large_bytes_distributed: int
    """1 GiB since chunks are one Cassandra partition each (migration 003); before, a
    package was one partition and reading it back at seal ran the engines' Cassandra
    (1 GiB heap) out of heap with 1 GiB and 256 MiB packages; see docs/benchmarks.md."""
    large_backends: tuple[str, ...]
    fanout_levels: tuple[int, ...]
    fanout_rate: float
    """Packages per second offered while the connections are held."""
    fanout_seconds: float
    producer_perf_records: int
    presence_events: int
    """Connect/disconnect events through the presence processor (embedded)."""
    presence_events_distributed: int
    presence_connections: int
    """WebSockets held to measure presence's memory per connection."""
    replay_events: int = 1_000_000
    """Events in the log ``truc replay`` rebuilds the statistics projection from."""
    replay_events_distributed: int = 1_000_000
    directory_rows: int = 110_000
    """Agencies in the national list ``truc admin directory sync`` imports."""


QUICK = Plan(
    mode="quick", backends=("embedded",),
    small_packages=150, small_packages_distributed=50, peers=4, receivers_per_destination=2,
    small_bytes=10 * KiB,
    large_bytes=128 * MiB, large_bytes_distributed=32 * MiB, large_backends=("embedded",),
    fanout_levels=(200, 1000), fanout_rate=200, fanout_seconds=8,
    producer_perf_records=0, replay_events=100_000, replay_events_distributed=50_000,
    directory_rows=20_000,
    presence_events=10_000, presence_events_distributed=4_000, presence_connections=1000)

FULL = Plan(
    mode="full", backends=("embedded", "distributed"),
    small_packages=600, small_packages_distributed=200, peers=8, receivers_per_destination=2,
    small_bytes=10 * KiB,
    large_bytes=GiB, large_bytes_distributed=GiB,
    large_backends=("embedded", "distributed"),
    fanout_levels=(1000, 5000, 10000), fanout_rate=200, fanout_seconds=20,
    producer_perf_records=20000,
    presence_events=50_000, presence_events_distributed=20_000, presence_connections=5000)
