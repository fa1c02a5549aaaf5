"""The fault suite on a cluster (``make cluster-test``): the six engines of
``infra/engines/cluster.sh`` (three Kafka brokers, three Cassandra nodes, replication 3),
two Faust workers and two API nodes. The nemesis kills one broker, one Cassandra node, one
worker, one API node — or one of each at once (``all``) — and the hub must go on serving
with no pause longer than a few seconds, losing, doubling and leaving nothing."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

from faults.config import REPO

SCRIPT = REPO / "infra" / "engines" / "cluster.sh"
VICTIM = 1
"""The node whose broker / Cassandra node the nemesis kills."""
COMPONENTS = ("kafka", "cassandra", "worker", "api", "all")


def cluster_env() -> dict[str, str]:
    """Where the suite's cluster lives: its own home, and loopback addresses that neither
    the shared engines (127.0.0.1) nor a `make cluster-up` for trying (127.0.10.x) use."""
    return {"TRUC_CLUSTER_HOME": os.environ.get("TRUC_FAULTS_CLUSTER_HOME",
                                                str(REPO / ".cluster-faults")),
            "TRUC_CLUSTER_NET": os.environ.get("TRUC_FAULTS_CLUSTER_NET", "127.0.20"),
            "TRUC_ENGINES_JARS": os.environ.get("TRUC_ENGINES_JARS",
                                                str(REPO / ".engines" / "jars"))}


@dataclass
class ClusterEngines:
    """The same face as ``faults.engines.Engines``, over three nodes of each engine."""

    env: dict[str, str] = field(default_factory=cluster_env)
    hub_settings: dict[str, str] = field(default_factory=lambda: {
        "TRUC_REPLICATION": "3", "TRUC_CASSANDRA_DATACENTER": "datacenter1"})
    workers: int = 2
    balanced: bool = True

    @property
    def net(self) -> str:
        return self.env["TRUC_CLUSTER_NET"]

    @property
    def kafka(self) -> str:
        return ",".join(f"{self.net}.{n}:9092" for n in (1, 2, 3))

    @property
    def cassandra(self) -> str:
        return ",".join(f"{self.net}.{n}" for n in (1, 2, 3)) + ":9042"

    def script(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), *args], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=timeout, check=False)

    def _must(self, *args: str) -> None:
        done = self.script(*args)
        if done.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(args)} failed:\n{done.stdout}\n"
                               f"{done.stderr}")

    def up(self, *names: str) -> None:
        """All six engines, or the victim's given engines again after a kill."""
        if not names:
            self._must("engines-up")
        for name in names:
            self._must("start", name, str(VICTIM))

    def down(self) -> None:
        self.script("engines-down", "--wipe")

    def kill(self, name: str) -> int:
        self._must("kill", name, str(VICTIM))
        return VICTIM
