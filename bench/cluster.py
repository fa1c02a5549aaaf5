"""``python -m bench.cluster`` (``make bench-cluster``): small packages on a cluster of this
machine (``infra/engines/cluster.sh``: three Kafka brokers, three Cassandra nodes,
replication 3, quorum), with 1 or 2 Faust workers and 1 or 2 API nodes behind HAProxy.

Each topology is a fresh hub (its own topics and keyspace) on the same engines; it sends
``--rounds`` loads of ``--packages`` small packages and reports the median throughput,
its ratio to one worker and one API node, and what a package cost the engines (Kafka
records and bytes, Cassandra requests; ``bench/engine_cost.py``). One JSON line per
figure, as ``python -m bench`` prints. On a 2-core machine with six JVMs the hub is
CPU-bound: the ratios say what a second process buys *here*, not on three machines.

The cluster has its own home and addresses (``TRUC_BENCH_CLUSTER_HOME`` [.cluster-bench],
``TRUC_BENCH_CLUSTER_NET`` [127.0.50]); it is started, and wiped at the end, by this run.
The hubs' logs stay in ``bench/results/<run>-cluster/``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from api.client import TrucClient, TrucError
from bench.cluster_hub import ClusterHub, Topology, cluster_hub
from bench.config import REPO, KiB
from bench.engine_cost import Snapshot, per_package, snapshot
from bench.hubproc import Key, Provisioner
from bench.raw import Load
from bench.report import Recorder, Result
from bench.rss import cpu_seconds
from bench.small import exchange

SCRIPT = REPO / "infra" / "engines" / "cluster.sh"
TOPOLOGIES = (Topology(1, 1), Topology(2, 1), Topology(1, 2), Topology(2, 2))
PEERS = 4
"""Concurrent sources, and as many destinations."""


@dataclass(frozen=True)
class Cluster:
    home: Path
    net: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "TRUC_CLUSTER_HOME": str(self.home),
                "TRUC_CLUSTER_NET": self.net,
                "TRUC_ENGINES_TIMEOUT": os.environ.get("TRUC_ENGINES_TIMEOUT", "600"),
                "TRUC_ENGINES_JARS": os.environ.get("TRUC_ENGINES_JARS",
                                                    str(REPO / ".engines" / "jars"))}

    @property
    def hosts(self) -> list[str]:
        return [f"{self.net}.{n}" for n in (1, 2, 3)]

    @property
    def kafka(self) -> str:
        return ",".join(f"{h}:9092" for h in self.hosts)

    @property
    def cassandra(self) -> str:
        return ",".join(self.hosts) + ":9042"

    def script(self, *args: str) -> None:
        done = subprocess.run([str(SCRIPT), *args], env=self.env, capture_output=True,
                              text=True, timeout=1800, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(args)} failed:\n{done.stdout}\n"
                               f"{done.stderr}")

    def engine_pids(self) -> dict[str, int]:
        found = {}
        for n in (1, 2, 3):
            for name in ("kafka", "cassandra"):
                pid_file = self.home / f"node{n}" / "run" / name / f"{name}.pid"
                if pid_file.exists():
                    found[f"{name}{n}"] = int(pid_file.read_text().strip())
        return found


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--packages", type=int, default=60, help="packages per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per topology")
    parser.add_argument("--bytes", type=int, default=10 * KiB, help="bytes per package")
    parser.add_argument("--only", default=",".join(t.name for t in TOPOLOGIES),
                        help="topologies to run, e.g. 1w1a,2w2a (the first is the baseline)")
    parser.add_argument("--keep-engines", action="store_true",
                        help="leave the cluster's engines running (and reuse running ones)")
    parser.add_argument("--out", type=Path, default=None, help="results file (.jsonl)")
    return parser.parse_args()


async def measure(cluster: Cluster, topology: Topology, args: argparse.Namespace,
                  rec: Recorder, tmp: Path) -> float:
    """One topology: warm-up, then the rounds; returns the median rate."""
    with cluster_hub(cluster.kafka, cluster.cassandra, topology, tmp) as hub:
        keys = await provision(hub, 2 * PEERS)
        sources, dests = keys[:PEERS], keys[PEERS:]
        files = tmp / "files"
        files.mkdir(exist_ok=True)
        await exchange(hub.hub, sources, dests, Load(4 * PEERS, 1, args.bytes, PEERS), files,
                       receivers=2)  # warm-up: workers joined, statements prepared
        before = await _snapshot(cluster, hub)
        cpu0, busy0 = _cpu(cluster, hub), _busy()
        rates, acked, seconds, p50s = [], 0, 0.0, []
        for _ in range(args.rounds):
            load = Load(args.packages, 1, args.bytes, PEERS)
            outcome = await exchange(hub.hub, sources, dests, load, files, receivers=2)
            rates.append(outcome.rate)
            acked += len(outcome.timings.acked)
            seconds += outcome.elapsed
            p50s.append(statistics.median(outcome.timings.since_seal(outcome.timings.acked)
                                          or [float("nan")]))
        cpu = {k: round((v - cpu0.get(k, 0.0)) / seconds, 2)
               for k, v in _cpu(cluster, hub).items()}
        cpu["machine_busy"] = round((_busy() - busy0) / seconds, 2)
        cost = per_package(before, await _snapshot(cluster, hub), max(acked, 1))
    median = statistics.median(rates)
    rec.emit(Result(f"cluster.small.{topology.name}.throughput", "cluster", median,
                    "packages/s", None, {
                        "workers": topology.workers, "api_nodes": topology.apis,
                        "rounds": [round(r, 2) for r in rates], "packages": args.packages,
                        "bytes": args.bytes, "sources": PEERS,
                        "acknowledged": acked, "expected": args.rounds * args.packages,
                        "seal_to_ack_p50_ms": [round(p * 1000, 1) for p in p50s],
                        "cpu_per_s": cpu, "load_average": os.getloadavg()}))
    rec.emit(Result(f"cluster.small.{topology.name}.engine_cost", "cluster",
                    cost["kafka_records_total"], "kafka records/package", None, cost))
    return median


async def provision(hub: ClusterHub, count: int, wait_s: float = 60) -> list[Key]:
    """Agencies and apps made through one API node, then waited for on every node: a node
    learns them from the registry topic, so an app made through the balancer may be
    unknown a moment later on the other node (``404 unknown_agency``, seen here)."""
    first = next(iter(hub.nodes.values()))
    keys = await Provisioner(replace(hub.hub, url=first)).apps(count)
    for url in hub.nodes.values():
        for key in keys:
            async with TrucClient(url, key["access_key"], key["secret_key"]) as app:
                deadline = time.monotonic() + wait_s
                while True:
                    try:
                        await app.whoami()
                        break
                    except TrucError:
                        if time.monotonic() > deadline:
                            raise
                        await asyncio.sleep(0.1)
    return keys


async def _snapshot(cluster: Cluster, hub: ClusterHub) -> Snapshot:
    return await snapshot(cluster.kafka, cluster.home / "node1" / "run" / "kafka" / "data",
                          cluster.hosts, port=9042, prefix=hub.prefix, keyspace=hub.keyspace)


def _cpu(cluster: Cluster, hub: ClusterHub) -> dict[str, float]:
    found = {"bench": time.process_time()}
    for name, pid in {**hub.pids, **cluster.engine_pids()}.items():
        try:
            found[name] = cpu_seconds(pid)
        except OSError:
            continue
    return found


def _busy() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace, rec: Recorder, cluster: Cluster, tmp: Path) -> int:
    medians: dict[str, float] = {}
    failures = 0
    chosen = args.only.split(",")
    for topology in (t for t in TOPOLOGIES if t.name in chosen):
        print(f"# cluster {topology.name} …", file=sys.stderr, flush=True)
        try:
            medians[topology.name] = await measure(cluster, topology, args, rec,
                                                   tmp / topology.name)
        except Exception as exc:
            failures += 1
            rec.emit(Result(f"cluster.small.{topology.name}.failed", "cluster", 1, "failure",
                            None, {"error": f"{type(exc).__name__}: {exc}"[:2000]}))
    base = medians.get(chosen[0])
    for name, median in medians.items():
        if name != chosen[0]:
            rec.emit(Result(f"cluster.small.{name}.vs_{chosen[0]}", "cluster", median,
                            "packages/s", base, {"baseline_kind": chosen[0]}))
    return failures


def main() -> int:
    args = parse()
    home = Path(os.environ.get("TRUC_BENCH_CLUSTER_HOME", str(REPO / ".cluster-bench")))
    cluster = Cluster(home, os.environ.get("TRUC_BENCH_CLUSTER_NET", "127.0.50"))
    rec = Recorder("cluster", args.out)
    print(f"# results: {rec.path}", file=sys.stderr, flush=True)
    tmp = rec.path.with_name(f"{rec.context['run']}-cluster")  # hub logs, kept
    try:
        cluster.script("engines-up")
        return 1 if asyncio.run(run(args, rec, cluster, tmp)) else 0
    finally:
        if not args.keep_engines:
            cluster.script("engines-down", "--wipe")


if __name__ == "__main__":
    sys.exit(main())
