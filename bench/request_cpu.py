"""API CPU per signed request, measured apart from the processors and from concurrency.

``python -m bench.request_cpu [N]``: an embedded hub, one package sent, then ``N``
sequential signed ``GET /v1/packages/{id}`` from one client (the whole hot HTTP path:
uvicorn, routing, dependency solving, signature check, handler, JSON response). The API
process's CPU over the loop, minus its idle CPU (log subscribers' polls) measured for 3 s
just before, divided by ``N``. Steadier than the rates on a shared machine: the figure
for one request does not depend on how many others wait. Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.hubproc import Provisioner, client, running_hub
from bench.rss import cpu_seconds


async def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d, running_hub("embedded", Path(d) / "hub") as hub:
        keys = await Provisioner(hub).apps(2)
        content = Path(d) / "content.bin"
        content.write_bytes(b"x" * 10240)
        async with client(hub, keys[0]) as src:
            package_id = (await src.send([keys[1]["code"]], "cpu", content))["package_id"]
            for _ in range(200):  # warm-up
                await src.package(package_id)
            await asyncio.sleep(1)
            cpu, wall = cpu_seconds(hub.pid), time.monotonic()
            await asyncio.sleep(3)
            idle = (cpu_seconds(hub.pid) - cpu) / (time.monotonic() - wall)
            cpu, wall = cpu_seconds(hub.pid), time.monotonic()
            for _ in range(n):
                await src.package(package_id)
            wall = time.monotonic() - wall
            used = cpu_seconds(hub.pid) - cpu
    return {"api_cpu_us_per_get": round((used - idle * wall) * 1e6 / n),
            "raw_cpu_us_per_get": round(used * 1e6 / n), "idle_core": round(idle, 3),
            "wall_us_per_get": round(wall * 1e6 / n)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1500))))
