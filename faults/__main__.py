"""``python -m faults [--quick] [--cluster] [--components kafka,cassandra,worker,api,embedded]
[--runs 5] [--packages 300] [--rate 4]``: one JSON line per run on stdout, a summary
table on stderr. ``--cluster`` runs on three brokers and three Cassandra nodes with two
workers and two API nodes (components kafka,cassandra,worker,api,all). Exit status 1
when any run found something lost, doubled, stuck, unshredded, unsent, or a replay that
differs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from faults.cluster import COMPONENTS as CLUSTER_COMPONENTS
from faults.cluster import ClusterEngines
from faults.config import COMPONENTS, FULL, QUICK, REPO
from faults.engines import Engines, EngineSet
from faults.report import summary, table
from faults.run import run_one


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="one run per component, 40 packages")
    parser.add_argument("--cluster", action="store_true",
                        help="on a cluster of three nodes per engine (faults/cluster.py)")
    parser.add_argument("--components", default=None)
    parser.add_argument("--runs", type=int, default=None, help="runs per component")
    parser.add_argument("--packages", type=int, default=None)
    parser.add_argument("--rate", type=float, default=None, help="packages per second")
    parser.add_argument("--kill-at", type=float, default=None, help="seconds into the load")
    parser.add_argument("--down-for", type=float, default=None,
                        help="seconds between the kill and the restart (5): longer keeps a "
                             "restarting engine's start-up off the pause measured")
    parser.add_argument("--out", type=Path, default=REPO / ".faults-runs",
                        help="where each run keeps its hub logs and history")
    parser.add_argument("--keep-engines", action="store_true",
                        help="leave the suite's engines running at the end")
    return parser.parse_args()


async def main() -> int:
    args = parse()
    plan = QUICK if args.quick else FULL
    changes = {k: v for k, v in (("packages", args.packages), ("rate", args.rate),
                                 ("kill_at", args.kill_at), ("down_for", args.down_for))
               if v is not None}
    plan = plan.scaled(**changes)
    runs = args.runs or (1 if args.quick else 5)
    default = CLUSTER_COMPONENTS if args.cluster else COMPONENTS
    components = [c for c in (args.components or ",".join(default)).split(",") if c]
    engines: EngineSet = ClusterEngines() if args.cluster else Engines()
    distributed = any(c != "embedded" for c in components)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    results = []
    try:
        if distributed:
            await asyncio.to_thread(engines.up)
        for run in range(1, runs + 1):
            for component in components:
                tmp = args.out / f"{stamp}-{component}-{run}"
                try:
                    result = await run_one(component, run, plan,
                                           engines if component != "embedded" else None, tmp)
                except Exception as exc:  # a run that broke is a failed run; go on
                    result = {"suite": "faults", "component": component, "run": run,
                              "ok": False, "problems": [f"run error: {exc!r}"[:500]],
                              "dir": str(tmp)}
                print(json.dumps(result, ensure_ascii=False), flush=True)
                results.append(result)
    finally:
        if distributed and not args.keep_engines:
            await asyncio.to_thread(engines.down)
    print(table(results), file=sys.stderr)
    print(summary(results), file=sys.stderr)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
