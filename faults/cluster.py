"""The fault suite on a cluster (``make cluster-test``): the six engines of
``infra/engines/cluster.sh`` (three Kafka brokers, three Cassandra nodes, replication 3),
two Faust workers and two API nodes. The nemesis kills one broker, one Cassandra node, one
worker, one API node — or one of each at once (``all``) — and the hub must go on serving
with no pause longer than a few seconds, losing, doubling and leaving nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from api.client import TrucClient, TrucError
from faults.config import REPO
from faults.hub import SOURCE, Hub

SCRIPT = REPO / "infra" / "engines" / "cluster.sh"
VICTIM = 1
"""The node whose broker / Cassandra node the nemesis kills."""
COMPONENTS = ("kafka", "cassandra", "worker", "api", "all")
REVOCATION_BOUND_S = 1.0
"""A revoked key is refused on every API node within this (issue 17)."""


def cluster_env() -> dict[str, str]:
    """Where the suite's cluster lives: its own home, and loopback addresses that neither
    the shared engines (127.0.0.1) nor a `make cluster-up` for trying (127.0.10.x) use."""
    return {"TRUC_CLUSTER_HOME": os.environ.get("TRUC_FAULTS_CLUSTER_HOME",
                                                str(REPO / ".cluster-faults")),
            "TRUC_CLUSTER_NET": os.environ.get("TRUC_FAULTS_CLUSTER_NET", "127.0.20"),
            # a Cassandra node restarted on a loaded 2-core machine took 105-183 s here
            "TRUC_ENGINES_TIMEOUT": os.environ.get("TRUC_ENGINES_TIMEOUT", "600"),
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


async def revocation_reach(hub: Hub, wait_s: float = 30) -> dict[str, float | None]:
    """Revokes a fresh app through one API node and times, on every API node (each asked
    directly, not through the balancer), how long until its key is refused: the issue's
    bound is 1 s. None: still accepted after ``wait_s``."""
    ops_key = hub.keys["ops"]
    nodes = {name: p.url for name, p in hub.procs.items() if p.url and name != "lb"}
    first = next(iter(nodes.values()))
    async with TrucClient(first, ops_key["access_key"], ops_key["secret_key"]) as ops:
        made = await ops.call("POST", "/v1/ops/apps",
                              json_body={"agency_code": SOURCE, "name": "revoked"})
        key = (await ops.call("POST", f"/v1/ops/apps/{made['app_id']}/approve",
                              json_body={"operations": []}))["key"]
        async with AsyncExitStack() as stack:
            apps = [await stack.enter_async_context(
                TrucClient(u, key["access_key"], key["secret_key"])) for u in nodes.values()]
            for app in apps:
                await _accepted_within(app, wait_s)
            await ops.call("POST", f"/v1/ops/apps/{made['app_id']}/revoke",
                           json_body={"reason": "cluster test"})
            revoked = time.monotonic()
            reached = await asyncio.gather(*(_refused_after(a, revoked, wait_s)
                                             for a in apps))
    return dict(zip(nodes, reached, strict=True))


async def _accepted_within(app: TrucClient, wait_s: float) -> None:
    """A node learns a new app from the registry topic: wait until it knows it."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await app.whoami()
            return
        except TrucError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _refused_after(app: TrucClient, since: float, wait_s: float) -> float | None:
    while time.monotonic() - since < wait_s:
        try:
            await app.whoami()
        except TrucError as refused:
            if refused.code in ("key_revoked", "app_revoked", "app_not_approved"):
                return round(time.monotonic() - since, 3)
        await asyncio.sleep(0.02)
    return None
