"""Directory sync of a whole country's agency list: 110,000 rows (the national axis's
``getAgenciesList`` shape) imported into a running hub with ``truc admin directory sync
--apply``, timed, with the importing process's peak RSS (the list is streamed: memory
must not grow with the file). The hub's own processors run meanwhile, as in production.

Run alone: ``python -m bench.directory [ROWS] [--no-hub]`` (embedded, prints JSON lines:
the command's wall and CPU seconds and how long it waited for a CPU, the hub's CPU during
and after it, how long the hub kept folding after the command ended, the load average
before and after).
"""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.rss import RssSampler, cpu_seconds

ROWS = 110_000
TARGET_SECONDS = 60


def codes(count: int) -> Iterator[str]:
    """Valid QCVN 102 codes, parents before children: level-2 codes under provinces
    H01…H99, then level-3 codes under them."""
    made = 0
    for level3 in range(100):
        for province in range(1, 100):
            for level2 in range(1, 100):
                if made == count:
                    return
                yield f"000.{level3:02d}.{level2:02d}.H{province:02d}"
                made += 1


def write_list(path: Path, count: int) -> int:
    """A getAgenciesList answer with ``count`` rows, written as a stream; its size."""
    with path.open("w", encoding="utf-8") as out:
        out.write('{"status":"OK","ErrorCode":"0","ErrorDesc":"","data":[')
        for i, code in enumerate(codes(count)):
            row = {"id": str(100000 + i), "pid": "", "code": code, "code102": code,
                   "name": f"Sở Tư pháp đơn vị {i}", "mail": f"don-vi-{i}@example.gov.vn",
                   "oldCode": ""}
            out.write(("," if i else "") + json.dumps(row, ensure_ascii=False))
        out.write("]}")
    return path.stat().st_size


def timed_sync(truc: str, env: dict[str, str], cwd: Path, source: Path,
               apply: bool) -> dict[str, Any]:
    """One ``truc admin directory sync`` run: its answer, seconds and peak RSS."""
    args = [truc, "admin", "directory", "sync", str(source), "--json"]
    began, cpu = time.perf_counter(), _children_cpu()
    with subprocess.Popen([*args, *(["--apply"] if apply else [])], env=env, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc, \
            RssSampler(proc.pid, 0.1) as rss:
        out, err = proc.communicate(timeout=1800)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"directory sync failed: {err}")
    return {"answer": json.loads(out), "seconds": seconds, "peak_rss": rss.peak,
            "cpu_seconds": _children_cpu() - cpu, "cpu_wait_seconds": rss.cpu_wait}


def _children_cpu() -> float:
    """CPU seconds of this process's finished children: on a loaded machine the wall time
    says how long the import waited, the CPU time what it costs."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def hub_settled(pid: int, quiet: float = 0.05, window: float = 1.0,
                limit: float = 600) -> dict[str, float]:
    """After the command: how long the hub's own processors (registry view, directory
    projection, statistics…) kept folding what it appended, and the CPU seconds they
    took — until a ``window`` in which the hub used less than ``quiet`` of a core."""
    began, cpu = time.perf_counter(), cpu_seconds(pid)
    last = cpu
    while time.perf_counter() - began < limit:
        time.sleep(window)
        now = cpu_seconds(pid)
        if now - last < quiet * window:
            break
        last = now
    return {"hub_settle_seconds": time.perf_counter() - began - window,
            "hub_cpu_after": last - cpu}


def measured(hub_pid: int | None, truc: str, env: dict[str, str], cwd: Path, source: Path, *,
             apply: bool) -> dict[str, Any]:
    """One timed sync; with a running hub, also the hub's CPU during it and after."""
    hub_cpu, load = cpu_seconds(hub_pid) if hub_pid else 0.0, os.getloadavg()[0]
    found = timed_sync(truc, env, cwd, source, apply)
    extra: dict[str, Any] = {"load_average_1m": [round(load, 1),
                                                 round(os.getloadavg()[0], 1)]}
    if hub_pid:
        extra["hub_cpu_during"] = round(cpu_seconds(hub_pid) - hub_cpu, 1)
        extra.update({k: round(v, 1) for k, v in hub_settled(hub_pid).items()})
    return {**found, **extra}


def main() -> int:
    """On a fresh embedded hub running (``truc serve``, its processors folding what the
    command appends, as in production); ``--no-hub``: on its data alone."""
    from bench.hubproc import TRUC, running_hub

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else ROWS
    with tempfile.TemporaryDirectory(prefix="truc-dir-") as tmp:
        source = Path(tmp) / "agencies.json"
        size = write_list(source, count)
        with ExitStack() as stack:
            if "--no-hub" in sys.argv:
                env = {"PATH": "/usr/bin:/bin", "TRUC_DATA_DIR": f"{tmp}/data",
                       "TRUC_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
                subprocess.run([TRUC, "migrate"], env=env, cwd=tmp, check=True,
                               capture_output=True)
                cwd, pid = Path(tmp), None
            else:
                hub = stack.enter_context(running_hub("embedded", Path(tmp) / "hub"))
                env, cwd, pid = hub.env, hub.cwd, hub.pid
            for apply in (False, True):
                found = measured(pid, TRUC, env, cwd, source, apply=apply)
                print(json.dumps({
                    "apply": apply, "rows": count, "bytes": size,
                    "seconds": round(found["seconds"], 1),
                    "cpu_seconds": round(found["cpu_seconds"], 1),
                    "cpu_wait_seconds": round(found["cpu_wait_seconds"], 1),
                    "peak_rss_mib": round(found["peak_rss"] / 2**20, 1),
                    **{k: v for k, v in found.items() if k.startswith(("hub_", "load_"))},
                    "counts": found["answer"]["counts"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
