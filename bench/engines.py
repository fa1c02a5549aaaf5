"""The benchmark's own Kafka and Cassandra (``infra/engines/engines.sh`` with the
benchmark's ports and home) and Kafka's ``ProducerPerformance`` tool."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

from bench.config import REPO, Engines, engine_env

SCRIPT = REPO / "infra" / "engines" / "engines.sh"
SUMMARY = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")


def script(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], env={**os.environ, **engine_env()},
                          capture_output=True, text=True, timeout=timeout, check=False)


def engine_pids() -> dict[str, int]:
    """The benchmark's running engines, from their pid files."""
    home = Path(engine_env()["TRUC_ENGINES_HOME"])
    found = {}
    for name in ("kafka", "cassandra"):
        pid_file = home / "run" / name / f"{name}.pid"
        if pid_file.exists() and Path(f"/proc/{pid_file.read_text().strip()}").exists():
            found[name] = int(pid_file.read_text().strip())
    return found


def ensure_up() -> Engines:
    """Starts the benchmark's engines if needed (idempotent); `make bench` stops them."""
    done = script("up", "all")
    if done.returncode != 0:
        raise RuntimeError(f"engines did not start:\n{done.stdout}\n{done.stderr}")
    return Engines.from_env()


def producer_performance(engines: Engines, records: int, size: int) -> dict[str, Any]:
    """Kafka's own producer benchmark on a fresh topic, ``acks=all`` like the hub."""
    topic = f"bench-pp-{uuid.uuid4().hex[:8]}"
    created = script("kafka-tool", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                     engines.kafka, "--create", "--topic", topic, "--partitions", "6",
                     "--replication-factor", "1")
    if created.returncode != 0:
        raise RuntimeError(f"could not create {topic}: {created.stderr}")
    done = script("kafka-tool", "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                  "--num-records", str(records), "--record-size", str(size),
                  "--throughput", "-1", "--producer-props",
                  f"bootstrap.servers={engines.kafka}", "acks=all", "enable.idempotence=true",
                  "linger.ms=1")
    found = SUMMARY.findall(done.stdout)
    if not found:
        raise RuntimeError(f"no ProducerPerformance summary:\n{done.stdout}\n{done.stderr}")
    sent, rate, mb_s, avg, top, p50, p95, p99, p999 = found[-1]
    return {"records": int(sent), "records_per_s": float(rate), "mb_per_s": float(mb_s),
            "avg_ms": float(avg), "max_ms": float(top), "p50_ms": int(p50),
            "p95_ms": int(p95), "p99_ms": int(p99), "p999_ms": int(p999), "topic": topic}
