"""Notification fan-out: WebSockets held open on one API node (embedded backend), the
node's memory per connection, and seal → notice latency while packages flow.

The connections are held by ``bench.holders`` subprocesses (many connections per app);
the latency is measured on a few other destinations, each with one connection, while
sources send at a paced rate. Holders get heartbeats only, so the latency shows what the
held connections cost the node, not a broadcast to all of them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from asyncio.subprocess import Process
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import KiB, MiB
from bench.exchange import Destination, Pacer, Timings, send_all, watching
from bench.hubproc import Hub, Key, client
from bench.rss import rss_bytes
from bench.stats import latency_ms


@dataclass
class Holders:
    hub: Hub
    keys_file: Path
    procs: list[Process] = field(default_factory=list)
    connected: int = 0

    async def grow_to(self, total: int) -> dict[str, Any]:
        """One more holder process, with the connections missing to reach ``total``."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.holders", "--url", self.hub.url, "--keys",
            str(self.keys_file), "--count", str(total - self.connected),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self.procs.append(proc)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 900)
        if not line:
            raise RuntimeError(f"holder process exited with {await proc.wait()}")
        report: dict[str, Any] = json.loads(line)
        self.connected += int(report["connected"])
        return report

    async def close(self) -> dict[str, int]:
        """Closes the holders' stdin; they report how many connections were still open."""
        alive = ended = 0
        for proc in self.procs:
            out, _ = await asyncio.wait_for(proc.communicate(b""), 120)
            lines = out.decode().strip().splitlines()
            last = json.loads(lines[-1]) if lines else {}
            alive += int(last.get("alive", 0))
            ended += int(last.get("ended", 0))
        return {"alive": alive, "ended": ended}


async def traffic(hub: Hub, sources: list[Key], dests: list[Key], *, rate: float,
                  seconds: float, payload: Path) -> dict[str, Any]:
    """Sends paced packages for ``seconds``; seal → notice latency on ``dests``."""
    timings = Timings()
    async with AsyncExitStack() as stack:
        src = [await stack.enter_async_context(client(hub, k)) for k in sources]
        dst = [await stack.enter_async_context(client(hub, k)) for k in dests]
        watchers = [Destination(c, k["code"], timings, payload.parent, fetch=False, workers=0)
                    for c, k in zip(dst, dests, strict=True)]
        async with watching(watchers):
            codes = [k["code"] for k in dests]
            groups = [[codes[i % len(codes)]] for i in range(int(rate * seconds) + 1)]
            pacer = Pacer(rate)
            began = time.perf_counter()
            stop_at = began + seconds
            sent = await asyncio.gather(*(
                send_all(c, groups[i::len(src)], payload=payload, timings=timings,
                         pacer=pacer, stop_at=stop_at) for i, c in enumerate(src)))
            window = time.perf_counter() - began
            await timings.reach(sum(sent), within=10)
    return {"offered_per_s": rate, "achieved_per_s": round(sum(sent) / window, 1),
            "packages": sum(sent), "notified": timings.told(),
            "seal_to_notification_ms": latency_ms(timings.since_seal(timings.notified)),
            "errors": len(timings.errors), "first_errors": timings.errors[:3]}


def memory(hub: Hub, before: int, connections: int) -> dict[str, Any]:
    now = rss_bytes(hub.pid)
    growth = now - before
    return {"api_rss_mib": round(now / MiB, 1), "rss_growth_mib": round(growth / MiB, 1),
            "kib_per_connection": round(growth / KiB / max(connections, 1), 1)}
