"""A hub on the benchmark's cluster: ``truc migrate`` (replication 3, quorum), some Faust
workers and some API nodes, with HAProxy in front (also before one API node, so every
topology pays the same hop) configured as ``make cluster-up`` does."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import REPO
from bench.hubproc import TRUC, Hub, free_port, stop, wait_healthy

SCRIPT = REPO / "infra" / "engines" / "cluster.sh"
DATACENTER = "datacenter1"
"""What the cluster's SimpleSnitch calls its one data centre."""


@dataclass(frozen=True)
class Topology:
    workers: int
    apis: int

    @property
    def name(self) -> str:
        return f"{self.workers}w{self.apis}a"


@dataclass
class ClusterHub:
    hub: Hub
    prefix: str
    keyspace: str
    pids: dict[str, int] = field(default_factory=dict)
    """Every process of the hub by name (worker1, api1, haproxy…), for its CPU."""
    nodes: dict[str, str] = field(default_factory=dict)
    """Each API node's own URL (not through HAProxy)."""


def hub_env(kafka: str, cassandra: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUC_")}
    tag = uuid.uuid4().hex[:8]
    env.update({"TRUC_KAFKA": kafka, "TRUC_CASSANDRA": cassandra,
                "TRUC_REPLICATION": "3", "TRUC_CASSANDRA_DATACENTER": DATACENTER,
                "TRUC_TOPIC_PREFIX": f"benchc{tag}.", "TRUC_KEYSPACE": f"benchc_{tag}",
                "TRUC_DATA_DIR": str(tmp / "data"), "TRUC_ACCESS_LOG": "false",
                "TRUC_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
    return env


@contextmanager
def cluster_hub(kafka: str, cassandra: str, topology: Topology, tmp: Path
                ) -> Iterator[ClusterHub]:
    tmp.mkdir(parents=True, exist_ok=True)
    env = hub_env(kafka, cassandra, tmp)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        subprocess.run([TRUC, "migrate"], env=env, cwd=tmp, check=True, capture_output=True,
                       timeout=600)
        for n in range(1, topology.workers + 1):
            procs[f"worker{n}"] = _start(f"worker{n}", [TRUC, "worker", "--loglevel", "warning"],
                                         {**env, "TRUC_WORKER_WEB_PORT": str(free_port()),
                                          "TRUC_WORKER_INSTANCE": f"worker{n}"}, tmp)
        urls = {}
        for n in range(1, topology.apis + 1):
            port = free_port()
            procs[f"api{n}"] = _start(f"api{n}", [TRUC, "serve"],
                                      {**env, "TRUC_PORT": str(port),
                                       "TRUC_NODE_ID": f"api{n}-{port}"}, tmp)
            urls[f"api{n}"] = f"127.0.0.1:{port}"
        for name, address in urls.items():
            wait_healthy(f"http://{address}", procs[name], timeout=300)
        port = free_port()
        config = tmp / "haproxy.cfg"
        config.write_text(subprocess.run(
            [str(SCRIPT), "haproxy-config", str(port), *(f"{k}={v}" for k, v in urls.items())],
            capture_output=True, text=True, timeout=30, check=True).stdout)
        procs["haproxy"] = _start("haproxy", ["haproxy", "-db", "-f", str(config)], env, tmp)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, procs["haproxy"], timeout=60)
        hub = Hub(url, env, tmp, "cluster", procs["api1"], list(procs.values()))
        yield ClusterHub(hub, env["TRUC_TOPIC_PREFIX"], env["TRUC_KEYSPACE"],
                         {k: p.pid for k, p in procs.items()},
                         {k: f"http://{v}" for k, v in urls.items()})
    finally:
        stop(list(procs.values()))


def _start(name: str, args: list[str], env: dict[str, str], tmp: Path
           ) -> subprocess.Popen[bytes]:
    with (tmp / f"{name}.log").open("ab") as out:
        return subprocess.Popen(args, env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
