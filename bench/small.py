"""Small packages end to end: request → upload → seal → notice → fetch → ack.

``peers`` sources send concurrently (each one package after the other) to ``peers``
destinations, each package to ``fanout`` of them chosen round robin. The rate is packages
from the first send to the last acknowledgement; latencies run from the moment the
source's seal call returned.
"""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.engines import engine_pids
from bench.exchange import Destination, Pacer, Timings, send_all, watching
from bench.hubproc import Hub, Key, client
from bench.raw import Load
from bench.rss import cpu_seconds, thread_cpu


@dataclass
class Outcome:
    load: Load
    elapsed: float
    timings: Timings
    cpu: dict[str, float]
    """CPU seconds per second of run: the bench client and each hub process."""

    @property
    def rate(self) -> float:
        return len({pid for pid, _ in self.timings.acked}) / self.elapsed

    @property
    def complete(self) -> bool:
        return len(self.timings.acked) == self.load.packages * self.load.fanout


def plan_recipients(codes: list[str], load: Load) -> list[list[list[str]]]:
    """For each source, its packages' recipient lists."""
    per_source: list[list[list[str]]] = [[] for _ in range(load.concurrency)]
    for k in range(load.packages):
        group = [codes[(k + j) % len(codes)] for j in range(load.fanout)]
        per_source[k % load.concurrency].append(group)
    return per_source


async def exchange(hub: Hub, sources: list[Key], dests: list[Key], load: Load, tmp: Path, *,
                   receivers: int, within: float = 600) -> Outcome:
    payload = tmp / "small.bin"
    payload.write_bytes(os.urandom(load.size))
    timings = Timings()
    plans = plan_recipients([d["code"] for d in dests], load)
    async with AsyncExitStack() as stack:
        src = [await stack.enter_async_context(client(hub, k)) for k in sources]
        dst = [await stack.enter_async_context(client(hub, k)) for k in dests]
        destinations = [Destination(c, k["code"], timings, tmp, fetch=True, workers=receivers)
                        for c, k in zip(dst, dests, strict=True)]
        for d in destinations:
            d.expected = sum(d.code in g for p in plans for g in p)
            if d.expected == 0:
                d.done.set()
        async with watching(destinations):
            cpu0 = _cpu(hub)
            began = time.perf_counter()
            pacer = Pacer(None)
            sends = [send_all(c, p, payload=payload, timings=timings, pacer=pacer)
                     for c, p in zip(src, plans, strict=True)]
            try:
                async with asyncio.timeout(within):
                    await asyncio.gather(*sends)
                    await asyncio.gather(*(d.done.wait() for d in destinations))
            except TimeoutError:
                timings.errors.append(f"timed out after {within} s")
            elapsed = time.perf_counter() - began
            cpu = {k: round((v - cpu0.get(k, 0.0)) / elapsed, 2) for k, v in _cpu(hub).items()}
    return Outcome(load, elapsed, timings, cpu)


def _cpu(hub: Hub) -> dict[str, float]:
    found = {"bench": time.process_time(), "api": cpu_seconds(hub.pid)}
    found.update({f"api/{name}": cpu for name, cpu in thread_cpu(hub.pid).items()})
    for i, proc in enumerate(p for p in hub.procs if p is not hub.api):
        found[f"worker{i}"] = cpu_seconds(proc.pid)
    if hub.backend == "distributed":
        found.update({name: cpu_seconds(pid) for name, pid in engine_pids().items()})
    found["machine_busy"] = _busy()
    return found


def _busy() -> float:
    """CPU seconds the whole machine spent busy (all processes: ours and others')."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def summary(outcome: Outcome) -> dict[str, Any]:
    from bench.stats import latency_ms

    t = outcome.timings
    return {
        "packages": outcome.load.packages, "destinations_per_package": outcome.load.fanout,
        "sources": outcome.load.concurrency, "bytes": outcome.load.size,
        "acknowledged": len(t.acked), "seconds": round(outcome.elapsed, 2),
        "seal_to_notification_ms": latency_ms(t.since_seal(t.notified)),
        "seal_to_ack_ms": latency_ms(t.since_seal(t.acked)),
        "cpu_per_s": outcome.cpu, "errors": len(t.errors), "first_errors": t.errors[:3],
        "api_cpu_ms_per_package": round(outcome.cpu["api"] / max(outcome.rate, 1e-9) * 1000, 1),
    }
