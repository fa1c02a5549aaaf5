"""What a run does (packages, rate, when the kill comes) and where the suite's own engines
listen: ``.engines-faults/`` and ports 29092/29093/29042/27000, so that killing them never
touches the shared engines (9092/9042) nor the benchmark's (19092/19042)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ENGINE_DEFAULTS = {
    "TRUC_ENGINES_HOME": str(REPO / ".engines-faults"),
    "TRUC_KAFKA_PORT": "29092",
    "TRUC_KAFKA_CONTROLLER_PORT": "29093",
    "TRUC_CASSANDRA_PORT": "29042",
    "TRUC_CASSANDRA_STORAGE_PORT": "27000",
}
"""Read from ``TRUC_FAULTS_<NAME>`` (``TRUC_FAULTS_KAFKA_PORT``…), never from the
``TRUC_KAFKA_PORT`` that tests export for the shared engines: the nemesis kills these."""

SHARED = {"TRUC_KAFKA_PORT": "9092", "TRUC_CASSANDRA_PORT": "9042",
          "TRUC_ENGINES_HOME": str(REPO / ".engines")}
"""The shared development engines: never the suite's (it would kill them)."""

COMPONENTS = ("kafka", "cassandra", "worker", "api", "embedded")
"""What the nemesis kills: an engine, the Faust worker, API node 1 — or, on the embedded
hub, ``truc serve`` itself."""


def engine_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The suite's engine settings: ``TRUC_FAULTS_*`` from the environment, else the
    suite's defaults; refuses the shared engines' ports and home."""
    base = {k: os.environ.get(k.replace("TRUC_", "TRUC_FAULTS_", 1), v)
            for k, v in ENGINE_DEFAULTS.items()}
    env = {**base, **(overrides or {})}
    clash = [k for k, v in SHARED.items() if env[k] == v]
    if clash:
        raise ValueError(f"the fault suite kills its engines: {clash} must not be the "
                         "shared engines'")
    return env


@dataclass(frozen=True)
class Plan:
    packages: int = 300
    """Small packages A → B per run."""
    rate: float = 4.0
    """Packages started per second (a modest load: the machine is shared)."""
    size: int = 2048
    """Bytes per package (one chunk)."""
    senders: int = 3
    """Source workers: a send stalled by the fault does not stop the others."""
    receivers: int = 2
    """Destination workers fetching and acknowledging."""
    kill_at: float = 20.0
    """Seconds into the load when the nemesis kills the component."""
    down_for: float = 5.0
    """Seconds between the kill and the restart."""
    stuck_after: float = 120.0
    """A sealed package not final this long after recovery is stuck."""
    give_up_after: float = 300.0
    """A package the source still could not send this long after the restart is given up
    (and reported as not sent)."""

    def scaled(self, **changes: float | int) -> Plan:
        return replace(self, **changes)  # type: ignore[arg-type]


FULL = Plan()
QUICK = Plan(packages=40, rate=8.0, kill_at=3.0)
