"""The cluster in CI, short form (``make cluster-test`` is the long one; docs/reliability.md):
three Kafka brokers and three Cassandra nodes with replication 3, two workers, two API
nodes behind HAProxy; one of each killed with SIGKILL at once, mid-load. Nothing lost,
doubled, stuck or left unshredded, replays equal, and a key revoked through one API node
refused by every node within 1 s. Then docs/operating.md's *Trying it on one machine*,
command by command, on the same engines.

It runs after the main suite (``make test``, a pytest run of its own): six more JVMs on a
2-core machine would slow every other test. Its cluster has its own home and addresses
(``.cluster-test/``, 127.0.30.x), stopped and wiped at the end, even when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faults.cluster import REVOCATION_BOUND_S, SCRIPT, ClusterEngines
from faults.config import QUICK, REPO
from faults.run import run_one
from tests.conftest import free_port

pytestmark = pytest.mark.engines

NET = "127.0.30"


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterEngines]:
    env = {"TRUC_CLUSTER_HOME": str(REPO / ".cluster-test"), "TRUC_CLUSTER_NET": NET,
           "TRUC_CLUSTER_PORT": str(free_port()), "TRUC_ENGINES_TIMEOUT": "600",
           "TRUC_ENGINES_JARS": str(REPO / ".engines" / "jars")}
    engines = ClusterEngines(env=env)
    try:
        engines.up()
        yield engines
    finally:
        engines.script("down", "--wipe")


@pytest.mark.timeout(1500)
async def test_one_of_each_killed_at_once_loses_nothing(cluster: ClusterEngines,
                                                       tmp_path: Path) -> None:
    result = await run_one("all", 1, QUICK, cluster, tmp_path / "run")
    print(json.dumps(result))  # with the pause, as `make cluster-test` prints it
    report = json.dumps(result, ensure_ascii=False, indent=1)
    assert result["sealed"] == QUICK.packages, report
    assert result["problems"] == [], report
    reach = result["revocation_s"]
    assert set(reach) == {"api1", "api2"}, report
    assert all(s is not None and s <= REVOCATION_BOUND_S for s in reach.values()), report


def doc_commands() -> list[str]:
    text = (REPO / "docs" / "operating.md").read_text()
    start = text.index("\n### Trying it on one machine\n")
    block = re.search(r"```sh\n(.*?)```", text[start:], flags=re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.timeout(1500)
def test_the_operating_guide_runs_a_cluster(cluster: ClusterEngines) -> None:
    """Each command as the guide gives it, on this module's engines (the guide's defaults
    differ only by home, addresses and port, given in the environment)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRUC_")},
           **cluster.env}
    lines = doc_commands()
    assert lines[0] == "make cluster-up" and lines[-1] == "make cluster-down"
    printed = {}
    for line in lines:
        done = subprocess.run(shlex.split(line), cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        printed[line] = done.stdout
        if line == "make cluster-up":
            health = httpx.get(f"http://127.0.0.1:{env['TRUC_CLUSTER_PORT']}/healthz",
                               timeout=10).json()
            assert health["backend"] == "distributed" and health["down"] == []
    settings = dict(ln.split("=", 1) for ln in
                    printed["infra/engines/cluster.sh env"].splitlines() if "=" in ln)
    assert settings["TRUC_KAFKA"] == f"{NET}.1:9092,{NET}.2:9092,{NET}.3:9092"
    assert settings["TRUC_CASSANDRA_DATACENTER"] == "datacenter1"
    assert "haproxy: running" in printed["make cluster-status"]
    stopped = subprocess.run([str(SCRIPT), "status"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert stopped.returncode != 0 and "api1: stopped" in stopped.stdout
